"""Hostile input: generated requests never cause a 5xx, never break their own schema,
and a refused request never writes an event; oversized bodies are cut off early."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.e2e.conftest import SECRETS, Session, new_tenant
from tests.e2e.server import running_server
from tests.e2e.test_schema import CHECKS


@pytest.fixture(scope="module")
def quiet_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A server without background workers: only requests write to its log."""
    from api.database import create_database, drop_database, with_database  # noqa: PLC0415

    name = "ledger_hostile"
    drop_database(database_url, name)
    create_database(database_url, name)
    url = with_database(database_url, name)
    env = {"DATABASE_URL": url, **SECRETS, "LEDGER_RUN_PROJECTIONS": "false"}
    log = tmp_path_factory.mktemp("hostile") / "serve.log"
    try:
        with running_server(env, log) as base_url:
            yield base_url, url
    finally:
        drop_database(database_url, name)


def log_size(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
    return int(row[0]) if row else 0


NEEDS_THE_VIEWS = {"/v1/billing-runs"}
"""Writes that read their candidates from the views: this server runs none, so they
answer 503 (documented). Their refusals are checked over HTTP in
``tests/e2e/test_billing_runs.py``, and test_schema runs them against live views."""


def test_refused_generated_requests_write_nothing(
    quiet_server: tuple[str, str],
) -> None:
    base_url, url = quiet_server
    owner: Session = new_tenant(base_url)
    owner.billable_client()
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    bearer = {"Authorization": owner.http.headers["Authorization"]}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.method.upper() not in {"POST", "PATCH"}:
            continue
        if operation.path in NEEDS_THE_VIEWS:
            continue
        try:
            refuse_writes_nothing(operation, bearer, url)
        except Exception as error:  # noqa: BLE001 - reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)


def refuse_writes_nothing(operation: Any, headers: dict[str, str], url: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case[Any]) -> None:
        before = log_size(url)
        response = case.call(headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            assert log_size(url) == before, f"{response.status_code} wrote events"

    run()


def test_an_oversized_body_is_refused_before_it_is_read_whole(
    quiet_server: tuple[str, str],
) -> None:
    """A chunked body with no length: 413 arrives while the client is still sending."""
    base_url, _ = quiet_server
    host, port = base_url.removeprefix("http://").split(":")
    chunk = b" " * 65536
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/clients HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(20):  # 1.25 MiB of a body announced as endless
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer


def test_a_declared_oversized_body_is_refused_at_once(
    quiet_server: tuple[str, str],
) -> None:
    """The 413 comes from the headers alone: not one byte of the body is sent."""
    base_url, _ = quiet_server
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/clients HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (1024 * 1024 + 1)
        )
        # A server that waited for the body would leave this read to time out.
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
