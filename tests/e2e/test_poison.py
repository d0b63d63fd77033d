"""One tenant's poison stops no one: a real server, poison events, other tenants.

Each poison of issue 10 is met end to end: a NUL in a client's e-mail and a payment
dated 0001-01-01 (written straight to the log, as the edges would refuse them), a
reseller name that Pix cannot encode, a client e-mail too long for a file name, and
an SMTP server refusing a recipient for good.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller

from api.database import eventsourcing_env
from application.ledger import Ledger
from tests import poison
from tests.builders import PASSWORD, a_cnpj, a_cpf, an_email
from tests.e2e.conftest import ADMIN_TOKEN, SECRETS, Session, login, new_tenant
from tests.e2e.server import free_port, running_server
from tests.e2e.test_mail_and_documents import Inbox, noticed, registered
from tests.integration.workers import run_cli

READ_YOUR_WRITES_SECONDS = 1.0
VIEW_PATHS = (
    "/v1/clients",
    "/v1/contracts",
    "/v1/invoices",
    "/v1/erp/customers",
    "/v1/erp/receivables",
    "/v1/erp/boletos",
    "/v1/audit/events",
)
"""A read of each view (the audit feed waits for the head on its own)."""


@pytest.fixture
def ledger(api_database: str) -> Iterator[Ledger]:
    """The server's ledger, for writing poison straight to its log."""
    app = Ledger(eventsourcing_env(api_database, pool_size=1, max_overflow=2))
    try:
        yield app
    finally:
        app.close()


def position_of(response: httpx.Response) -> int:
    return int(response.headers["Ledger-Position"])


def seen_in_every_view(session: Session, position: int) -> float:
    """Read every view after ``position``; the slowest read's seconds."""
    slowest = 0.0
    for path in VIEW_PATHS:
        started = time.monotonic()
        session.ok(session.get(path, params={"after": position}))
        slowest = max(slowest, time.monotonic() - started)
    return slowest


def tenant_works(session: Session) -> list[float]:
    """A client, a contract and an invoice, each read back from every view."""
    client = session.post(
        "/v1/clients",
        json={"name": "Cliente B", "document": a_cpf(), "email": an_email("b")},
    )
    session.ok(client, 201)
    contract = session.post("/v1/contracts", json={"client_id": client.json()["id"]})
    session.ok(contract, 201)
    activated = session.post(f"/v1/contracts/{contract.json()['id']}/activate")
    invoice = session.invoice(client.json()["id"])
    session.ok(invoice, 201)
    return [
        seen_in_every_view(session, position_of(response))
        for response in (client, activated, invoice)
    ]


def set_aside_positions(database_url: str) -> set[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT position FROM projection_set_aside").fetchall()
    return {row[0] for row in rows}


def test_poison_events_of_one_tenant_stop_no_other(
    api_url: str, api_database: str, ledger: Ledger
) -> None:
    poisoned, other = new_tenant(api_url), new_tenant(api_url)
    client = poisoned.billable_client()
    invoice = poisoned.ok(poisoned.invoice(client["id"]), 201)
    poisoned.wait_registered(invoice["id"])  # no process writes to it meanwhile
    bad = {
        poison.nul_email(ledger, UUID(client["id"])),
        poison.paid_in_year_one(ledger, UUID(invoice["id"]), 15000),
    }
    assert max(tenant_works(other)) < READ_YOUR_WRITES_SECONDS
    assert bad <= set_aside_positions(api_database)
    ready = httpx.get(f"{api_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["set_aside"] >= len(bad) + 1  # the NUL: several views
    metrics = httpx.get(f"{api_url}/metrics").text
    assert 'ledger_set_aside_events{follower="erp_receivables"}' in metrics
    status = run_cli(api_database, "projections", "status")
    assert status.returncode == 0, status.stderr
    for position in bad:
        assert f" {position} " in status.stdout
    assert poisoned.reseller_id in status.stdout
    retried = run_cli(api_database, "projections", "retry")
    assert retried.returncode == 1, retried.stdout + retried.stderr  # still failing
    assert "erp_receivables: 0 applied" in retried.stdout
    assert bad <= set_aside_positions(api_database)
    verify = run_cli(api_database, "projections", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def sign_up(base_url: str, name: str) -> Session:
    email = an_email("owner")
    response = httpx.post(
        f"{base_url}/v1/resellers",
        json={"name": name, "document": a_cnpj(), "email": email, "password": PASSWORD},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    return login(base_url, email, response.json()["id"])


def test_a_reseller_name_pix_cannot_encode_fails_registration_and_stops_no_one(
    api_url: str,
) -> None:
    unencodable = sign_up(api_url, "東京商事株式会社")
    failed = registered(unencodable)
    assert failed["status"] == "failed"
    assert "cannot be encoded" in failed["failure_reason"]
    other = new_tenant(api_url)
    assert registered(other)["status"] == "awaiting_payment"


def test_a_client_email_too_long_for_a_file_name_is_mailed(
    api_url: str, api_database: str
) -> None:
    session = new_tenant(api_url)
    email = "a" * 200 + "@" + "b" * 40 + ".com.br"
    client = session.post(
        "/v1/clients", json={"name": "Longo", "document": a_cpf(), "email": email}
    )
    session.ok(client, 201)
    session.contract(client.json()["id"])
    invoice = session.ok(session.invoice(client.json()["id"]), 201)
    assert session.wait_registered(invoice["id"])["status"] == "awaiting_payment"
    (notice,) = noticed(session, invoice["id"])
    assert notice["kind"] == "invoice"
    assert notice["sent_at"] is not None


class RefusingInbox(Inbox):
    """Refuses for good every recipient whose address starts with ``refuse-``."""

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook
        self,
        _server: Any,
        _session: Any,
        envelope: Any,
        address: str,
        _options: list[str],
    ) -> str:
        if address.startswith("refuse-"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_mail_refused_for_good_is_recorded_and_the_next_one_goes(
    fresh_database: str, tmp_path: Path
) -> None:
    port = free_port()
    inbox = RefusingInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        "DATABASE_URL": fresh_database,
        **SECRETS,
        "LEDGER_SMTP_URL": f"smtp://127.0.0.1:{port}",
    }
    try:
        with running_server(env, tmp_path / "serve.log") as base_url:
            session = new_tenant(base_url)
            refused = session.post(
                "/v1/clients",
                json={
                    "name": "Recusado",
                    "document": a_cpf(),
                    "email": f"refuse-{uuid4().hex[:8]}@example.com.br",
                },
            )
            session.ok(refused, 201)
            session.contract(refused.json()["id"])
            first = session.ok(session.invoice(refused.json()["id"]), 201)
            later = registered(session)
            (message,) = inbox.wait_for(1)
            (failed,) = noticed(session, first["id"])
    finally:
        controller.stop()
    assert str(later["code"]) in str(message["Subject"])
    assert failed["kind"] == "invoice"
    assert failed["reason"] == "550 5.1.1 no such mailbox"
    assert failed["failed_at"] is not None
    assert failed["sent_at"] is None
