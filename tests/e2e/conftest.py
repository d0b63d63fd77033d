"""A real ``ledger serve`` process for the HTTP tests, and a small client for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from api.database import create_database, drop_database, with_database
from tests.builders import (
    PASSWORD,
    a_cnpj,
    a_cpf,
    an_email,
    days_from_today,
    reference_of,
)
from tests.e2e.server import running_server

ADMIN_TOKEN = "admin-" + "t" * 40
SECRETS = {
    "LEDGER_SECRET_KEY": "k" * 40,
    "LEDGER_WEBHOOK_SECRET": "w" * 40,
    "LEDGER_ADMIN_TOKEN": ADMIN_TOKEN,
    # The server runs outside development (DATABASE_URL): the tests pay through
    # the sandbox's pay endpoint, which is then off unless enabled.
    "LEDGER_SANDBOX_PAY": "true",
    # The tests' webhook receivers listen on 127.0.0.1.
    "LEDGER_OUTBOUND_ALLOW_LOCAL": "true",
}
DUE_IN_DAYS = 10
"""A default invoice falls due this many days after the São Paulo today ..."""
ISSUED_DAYS_AGO = 2
"""... and was issued this many days before it."""


@pytest.fixture(scope="session")
def api_database(database_url: str) -> Iterator[str]:
    """The HTTP tests' own database: its server's processes act on every invoice."""
    dbname = f"ledger_api_{uuid4().hex[:10]}"
    create_database(database_url, dbname)
    try:
        yield with_database(database_url, dbname)
    finally:
        drop_database(database_url, dbname)


@pytest.fixture(scope="session")
def api_url(
    api_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {"DATABASE_URL": api_database, **SECRETS}
    with running_server(env, log) as base_url:
        yield base_url


class Session:
    """An authenticated HTTP session of one user of one tenant."""

    def __init__(self, http: httpx.Client, reseller_id: str, email: str) -> None:
        self.http = http
        self.reseller_id = reseller_id
        self.email = email

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.patch(path, **kwargs)

    def ok(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    def client(
        self, document: str | None = None, name: str = "Cliente"
    ) -> dict[str, Any]:
        body = {"name": name, "document": document or a_cpf(), "email": an_email("c")}
        return self.ok(self.post("/v1/clients", json=body), 201)

    def contract(self, client_id: str, *, active: bool = True) -> dict[str, Any]:
        contract = self.ok(
            self.post("/v1/contracts", json={"client_id": client_id}), 201
        )
        if active:
            path = f"/v1/contracts/{contract['id']}/activate"
            contract = self.ok(self.post(path))
        return contract

    def billable_client(self, name: str = "Cliente") -> dict[str, Any]:
        client = self.client(name=name)
        self.contract(client["id"])
        return client

    def invoice(
        self, client_id: str, amount: object = "150.00", **extra: Any
    ) -> httpx.Response:
        due = days_from_today(DUE_IN_DAYS)
        body = {
            "client_id": client_id,
            "description": "Mensalidade",
            "amount": amount,
            "due_date": due,
            "issue_date": days_from_today(-ISSUED_DAYS_AGO),
            **reference_of(due),
        } | extra
        return self.post("/v1/invoices", json=body)

    def wait_registered(self, invoice_id: str, timeout: float = 15) -> dict[str, Any]:
        """The invoice once the partner process has dealt with it."""
        deadline = time.monotonic() + timeout
        while True:
            invoice = self.ok(self.get(f"/v1/invoices/{invoice_id}"))
            if invoice["status"] != "processing" or time.monotonic() > deadline:
                return invoice
            time.sleep(0.05)

    def wait_for(
        self, invoice_id: str, status: str, timeout: float = 15
    ) -> dict[str, Any]:
        """The invoice once it reached ``status`` (or as it is at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            invoice = self.ok(self.get(f"/v1/invoices/{invoice_id}"))
            if invoice["status"] == status or time.monotonic() > deadline:
                return invoice
            time.sleep(0.05)

    def login_as(self, role: str) -> Session:
        """Another user of this tenant with ``role``, logged in."""
        email = an_email(role)
        created = self.post(
            "/v1/users", json={"email": email, "password": PASSWORD, "role": role}
        )
        self.ok(created, 201)
        return login(str(self.http.base_url), email, self.reseller_id)


def login(base_url: str, email: str, reseller_id: str) -> Session:
    token = httpx.post(
        f"{base_url}/v1/auth/token", data={"username": email, "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    http = httpx.Client(base_url=base_url, headers=headers, timeout=30)
    return Session(http, reseller_id, email)


def new_tenant(base_url: str) -> Session:
    email = an_email("owner")
    response = httpx.post(
        f"{base_url}/v1/resellers",
        json={
            "name": f"Revenda {uuid4().hex[:6]}",
            "document": a_cnpj(),
            "email": email,
            "password": PASSWORD,
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    return login(base_url, email, response.json()["id"])


@pytest.fixture
def tenant(api_url: str) -> Session:
    return new_tenant(api_url)


@pytest.fixture
def other_tenant(api_url: str) -> Session:
    return new_tenant(api_url)
