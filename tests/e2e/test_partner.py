"""The payment partner loop over HTTP: registration, webhooks, settlement, overdue."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from adapters.sandbox import SandboxGateway, sign
from domain.boleto import Boleto, line_to_barcode
from domain.pix import PixCode
from tests.builders import days_from_today, today
from tests.e2e.conftest import DUE_IN_DAYS, SECRETS, Session, new_tenant
from tests.e2e.server import clock_env, free_port, running_server
from tests.integration.workers import run_cli

WEBHOOK_SECRET = SECRETS["LEDGER_WEBHOOK_SECRET"]
SIGNATURE_MARGIN = 400
"""Seconds outside the 300 s signature window: no load can bring it back inside
(the exact edge is a unit test with a controlled clock)."""


def deliver(
    api_url: str,
    payload: dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    at: float | None = None,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    stamp = int(at if at is not None else time.time())
    return httpx.post(
        f"{api_url}/v1/webhooks/sandbox",
        content=body,
        headers={
            "content-type": "application/json",
            "Ledger-Signature": sign(secret, stamp, body),
        },
    )


@contextmanager
def sandbox_on(database_url: str) -> Iterator[SandboxGateway]:
    """The server's sandbox partner, seen from the test through its own tables."""
    with ConnectionPool(database_url, min_size=1, max_size=1) as pool:
        yield SandboxGateway(pool, WEBHOOK_SECRET)


def event(kind: str, invoice: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid4().hex}",
        "type": kind,
        "created_at": datetime.now(UTC).isoformat(),
        "data": {"invoice_id": invoice["id"], **data},
    }


REFUSED_DUE_DATE = {
    "due_date": "2000-03-01",
    "issue_date": "2000-03-01",
    "reference_month": "03",
    "reference_year": "2000",
}
"""An invoice the sandbox refuses to register: due before the boleto factor's range."""


def registered_invoice(session: Session, **extra: Any) -> dict[str, Any]:
    client = session.billable_client()
    invoice = session.ok(session.invoice(client["id"], **extra), 201)
    return session.wait_registered(invoice["id"])


def history(session: Session, invoice_id: str) -> list[str]:
    events = session.ok(session.get(f"/v1/invoices/{invoice_id}/events"))["items"]
    return [e["type"] for e in events]


def test_issue_register_pay_and_every_view_shows_it_paid(tenant: Session) -> None:
    client = tenant.billable_client(name="Cliente Pagante")
    issued = tenant.ok(tenant.invoice(client["id"], amount="250.00"), 201)
    invoice = tenant.wait_registered(issued["id"])
    assert (invoice["status"], invoice["status_label"]) == (
        "awaiting_payment",
        "Aguardando Pagamento",
    )
    boleto = invoice["boleto"]
    decoded = Boleto.from_barcode(boleto["barcode"])
    assert decoded.amount_cents == 25000
    assert line_to_barcode(boleto["digitable_line"]) == boleto["barcode"]
    assert decoded.due_date(near=today()) == date.fromisoformat(invoice["due_date"])
    assert invoice["due_date"] == days_from_today(DUE_IN_DAYS)
    pix = PixCode.decode(invoice["pix"]["emv"])
    assert pix.amount_cents == 25000
    assert invoice["charge_id"]

    queued = tenant.post(
        f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"}
    )
    assert queued.status_code == 202, queued.text
    paid = tenant.wait_for(invoice["id"], "paid")
    assert (paid["status"], paid["amount_paid"], paid["payment_method"]) == (
        "paid",
        "250.00",
        "pix",
    )
    head = max(
        e["position"]
        for e in tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}/events"))["items"]
    )
    listed = tenant.ok(tenant.get("/v1/invoices", params={"after": head}))["items"]
    assert {i["id"]: i["status"] for i in listed}[invoice["id"]] == "paid"
    receivables = tenant.ok(tenant.get("/v1/erp/receivables", params={"after": head}))
    item = next(r for r in receivables["items"] if r["invoice_id"] == invoice["id"])
    assert (item["situation"], item["amount_paid"]) == ("settled", "250.00")
    boletos = tenant.ok(tenant.get("/v1/erp/boletos", params={"after": head}))["items"]
    assert (
        next(b for b in boletos if b["invoice_id"] == invoice["id"])["status"] == "paid"
    )
    customers = tenant.ok(tenant.get("/v1/erp/customers", params={"after": head}))
    customer = next(c for c in customers["items"] if c["id"] == client["id"])
    assert customer["open_amount"] == "0.00"


def test_a_refused_charge_fails_the_invoice_with_the_reason(tenant: Session) -> None:
    invoice = registered_invoice(tenant, **REFUSED_DUE_DATE)
    assert (invoice["status"], invoice["status_label"]) == (
        "failed",
        "Falha no Registro",
    )
    assert "vencimento" in invoice["failure_reason"]


def test_a_partner_outage_is_retried_until_the_charge_registers(
    tenant: Session, api_database: str
) -> None:
    with sandbox_on(api_database) as sandbox:
        sandbox.inject_failures("register", 3)
    client = tenant.billable_client()
    issued = tenant.ok(tenant.invoice(client["id"]), 201)
    invoice = tenant.wait_registered(issued["id"], timeout=30)
    assert invoice["status"] == "awaiting_payment"
    with psycopg.connect(api_database) as conn:
        remaining = conn.execute(
            "SELECT remaining FROM sandbox_faults WHERE operation = 'register'"
        ).fetchone()
    assert remaining == (0,)


def test_an_invoice_already_past_due_becomes_overdue_once_registered(
    tenant: Session,
) -> None:
    two_days_ago = days_from_today(-2)
    client = tenant.billable_client()
    issued = tenant.invoice(
        client["id"], due_date=two_days_ago, issue_date=two_days_ago
    )
    invoice = tenant.ok(issued, 201)
    overdue = tenant.wait_for(invoice["id"], "overdue")
    assert (overdue["status"], overdue["status_label"]) == ("overdue", "Vencida")
    paid = deliver(
        str(tenant.http.base_url),
        event("payment.received", overdue, amount="150.00", method="boleto"),
    )
    assert paid.json() == {"result": "applied"}
    assert tenant.wait_for(invoice["id"], "paid")["status"] == "paid"


def test_cancelling_cancels_the_charge_and_a_late_payment_still_counts(
    tenant: Session, api_database: str, api_url: str
) -> None:
    invoice = registered_invoice(tenant)
    tenant.ok(tenant.post(f"/v1/invoices/{invoice['id']}/cancel", json={"reason": "x"}))
    deadline = time.monotonic() + 10
    status = None
    with sandbox_on(api_database) as sandbox:
        while time.monotonic() < deadline and status != "cancelled":
            status = sandbox.status_of(UUID(invoice["id"]))
            time.sleep(0.05)
    assert status == "cancelled"
    late = deliver(
        api_url, event("payment.received", invoice, amount="150.00", method="pix")
    )
    assert late.json() == {"result": "applied"}
    assert tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))["status"] == "paid"


def test_out_of_order_notices_never_unpay_and_a_refund_is_recorded(
    tenant: Session, api_url: str
) -> None:
    invoice = registered_invoice(tenant)
    paid = deliver(
        api_url, event("payment.received", invoice, amount="150.00", method="boleto")
    )
    assert paid.json() == {"result": "applied"}
    late = deliver(api_url, event("payment.overdue", invoice))
    assert (late.status_code, late.json()) == (200, {"result": "ignored"})
    assert tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))["status"] == "paid"
    refunded = deliver(api_url, event("payment.refunded", invoice))
    assert refunded.json() == {"result": "applied"}
    body = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))
    assert (body["status"], body["status_label"]) == ("refunded", "Estornada")
    again = deliver(api_url, event("payment.refunded", invoice))
    assert again.json() == {"result": "ignored"}
    assert history(tenant, invoice["id"]).count("Invoice.Refunded") == 1


def test_an_overdue_notice_for_an_invoice_awaiting_payment_marks_it(
    tenant: Session, api_url: str
) -> None:
    invoice = registered_invoice(tenant)
    notice = deliver(api_url, event("payment.overdue", invoice))
    assert notice.json() == {"result": "applied"}
    assert tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))["status"] == "overdue"


def test_ten_concurrent_deliveries_of_one_event_pay_once(
    tenant: Session, api_url: str
) -> None:
    invoice = registered_invoice(tenant)
    payload = event("payment.received", invoice, amount="150.00", method="pix")
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: deliver(api_url, payload), range(10)))
    assert {r.status_code for r in responses} == {200}
    results = sorted(r.json()["result"] for r in responses)
    assert results == ["applied"] + ["duplicate"] * 9
    assert history(tenant, invoice["id"]).count("Invoice.PaymentReceived") == 1


def test_charge_id_identifies_the_invoice_too(tenant: Session, api_url: str) -> None:
    invoice = registered_invoice(tenant)
    payload = {
        "id": f"evt_{uuid4().hex}",
        "type": "payment.received",
        "created_at": datetime.now(UTC).isoformat(),
        "data": {
            "charge_id": invoice["charge_id"],
            "amount": "150.00",
            "method": "boleto",
        },
    }
    assert deliver(api_url, payload).json() == {"result": "applied"}


@pytest.mark.parametrize("case", ["forged", "stale", "future", "unsigned"])
def test_bad_signatures_are_401_and_record_nothing(
    tenant: Session, api_url: str, case: str
) -> None:
    invoice = registered_invoice(tenant)
    payload = event("payment.received", invoice, amount="150.00", method="pix")
    if case == "forged":
        response = deliver(api_url, payload, secret="x" * 40)
    elif case == "stale":
        response = deliver(api_url, payload, at=time.time() - SIGNATURE_MARGIN)
    elif case == "future":
        response = deliver(api_url, payload, at=time.time() + SIGNATURE_MARGIN)
    else:
        response = httpx.post(f"{api_url}/v1/webhooks/sandbox", json=payload)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "Invoice.PaymentReceived" not in history(tenant, invoice["id"])


def log_size(database_url: str) -> int:
    """Events caused by requests and partners, not by the service's own processes.

    The shared server's processes (the mailer's notices, the sweeps) keep working
    on other tests' invoices while a test runs; what a refused request must not
    write is an event of its own, whose actor is a user, a partner or nobody.
    """
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ledger_events WHERE"
            " convert_from(state, 'UTF8')::jsonb #>> '{actor,type}'"
            " IS DISTINCT FROM 'system'"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "payment.received"},
        {
            "id": "evt",
            "type": "payment.teleported",
            "created_at": f"{days_from_today(-2)}T00:00:00Z",
            "data": {},
        },
        {
            "id": "evt",
            "type": "payment.received",
            "created_at": "yesterday",
            "data": {},
        },
        {
            "id": "evt",
            "type": "payment.received",
            "created_at": f"{days_from_today(-2)}T00:00:00Z",
            "data": {"amount": "1.234"},
        },
    ],
)
def test_malformed_webhooks_are_422_and_record_nothing(
    tenant: Session, api_url: str, api_database: str, payload: dict[str, Any]
) -> None:
    invoice = registered_invoice(tenant)
    payload = payload | {
        "data": {**payload.get("data", {}), "invoice_id": invoice["id"]}
    }
    before = log_size(api_database)
    response = deliver(api_url, payload)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert log_size(api_database) == before
    # The mailer may record the invoice's e-mail meanwhile; nothing else happened.
    changes = [
        t for t in history(tenant, invoice["id"]) if not t.startswith("Invoice.Notice")
    ]
    assert changes == ["Invoice.Issued", "Invoice.Registered"]


def test_a_received_payment_without_amount_is_422_and_records_nothing(
    tenant: Session, api_url: str
) -> None:
    invoice = registered_invoice(tenant)
    response = deliver(api_url, event("payment.received", invoice, method="pix"))
    assert response.status_code == 422
    assert "Invoice.PaymentReceived" not in history(tenant, invoice["id"])


def test_an_unknown_invoice_or_provider_is_404_and_records_nothing(
    api_url: str, api_database: str
) -> None:
    before = log_size(api_database)
    unknown = {"id": str(uuid4())}
    assert (
        deliver(
            api_url, event("payment.received", unknown, amount="1.00", method="pix")
        ).status_code
        == 404
    )
    by_charge = {
        "id": f"evt_{uuid4().hex}",
        "type": "payment.received",
        "created_at": datetime.now(UTC).isoformat(),
        "data": {"charge_id": "sbx_nothing", "amount": "1.00", "method": "pix"},
    }
    assert deliver(api_url, by_charge).status_code == 404
    assert httpx.post(f"{api_url}/v1/webhooks/asaas", json={}).status_code == 404
    assert log_size(api_database) == before


def test_paying_an_unregistered_invoice_in_the_sandbox_is_409(tenant: Session) -> None:
    client = tenant.billable_client()
    failed = tenant.ok(tenant.invoice(client["id"], **REFUSED_DUE_DATE), 201)
    tenant.wait_registered(failed["id"])
    response = tenant.post(
        f"/v1/sandbox/invoices/{failed['id']}/pay", json={"method": "pix"}
    )
    assert response.status_code == 409
    assert (
        tenant.post(
            f"/v1/sandbox/invoices/{uuid4()}/pay", json={"method": "pix"}
        ).status_code
        == 404
    )
    assert (
        tenant.post(
            f"/v1/sandbox/invoices/{failed['id']}/pay", json={"method": "cash"}
        ).status_code
        == 422
    )


class FlakyReceiver:
    """Answers 500 to the first ``failures`` deliveries, then forwards them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.target = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.attempts += 1
                if receiver.attempts <= receiver.failures:
                    self.send_response(500)
                    self.end_headers()
                    return
                forwarded = httpx.post(
                    f"{receiver.target}{self.path}",
                    content=body,
                    headers={
                        k: v for k, v in self.headers.items() if k.lower() != "host"
                    },
                )
                self.send_response(forwarded.status_code)
                self.end_headers()
                self.wfile.write(forwarded.content)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


def test_a_receiver_that_fails_three_times_is_retried_until_it_succeeds(
    fresh_database: str, tmp_path: Path
) -> None:
    with FlakyReceiver(failures=3) as receiver:
        env = {
            "DATABASE_URL": fresh_database,
            **SECRETS,
            "LEDGER_PUBLIC_URL": f"http://127.0.0.1:{receiver.port}",
            "LEDGER_OUTBOX_BACKOFF_SECONDS": "0.2",
        }
        with running_server(env, tmp_path / "serve.log") as base_url:
            receiver.target = base_url
            session = new_tenant(base_url)
            invoice = registered_invoice(session)
            queued = session.post(
                f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "boleto"}
            )
            assert queued.status_code == 202
            paid = session.wait_for(invoice["id"], "paid", timeout=30)
    assert paid["status"] == "paid"
    assert receiver.attempts == 4


def test_queued_webhooks_survive_a_restart(fresh_database: str, tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    env = {"DATABASE_URL": fresh_database, **SECRETS, "LEDGER_PUBLIC_URL": unreachable}
    with running_server(env, tmp_path / "first.log") as base_url:
        session = new_tenant(base_url)
        invoice = registered_invoice(session)
        queued = session.post(
            f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"}
        )
        assert queued.status_code == 202
        assert (
            session.ok(session.get(f"/v1/invoices/{invoice['id']}"))["status"] != "paid"
        )
    port = free_port()
    env["LEDGER_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    with (
        running_server(env, tmp_path / "second.log", port=port),
        psycopg.connect(fresh_database) as conn,
    ):
        deadline = time.monotonic() + 30
        delivered = None
        while time.monotonic() < deadline and not delivered:
            row = conn.execute(
                "SELECT delivered_at FROM sandbox_outbox WHERE event_id = %s",
                (queued.json()["event_id"],),
            ).fetchone()
            delivered = row[0] if row else None
            conn.commit()
            time.sleep(0.1)
    assert delivered is not None


def test_ledger_tick_marks_unpaid_invoices_past_due_overdue(
    fresh_database: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": fresh_database, **SECRETS}
    with running_server(env, tmp_path / "serve.log") as base_url:
        session = new_tenant(base_url)
        due = registered_invoice(session)
        later = registered_invoice(session, due_date=days_from_today(DUE_IN_DAYS + 31))
        cli_env = SECRETS | clock_env()
        on_time = run_cli(fresh_database, "tick", env=cli_env)
        assert "0 invoice(s) marked overdue" in on_time.stdout, on_time.stdout
        on_due = days_from_today(DUE_IN_DAYS)
        before = run_cli(fresh_database, "tick", "--today", on_due, env=cli_env)
        assert "0 invoice(s) marked overdue" in before.stdout, before.stdout
        day_after = days_from_today(DUE_IN_DAYS + 1)
        result = run_cli(fresh_database, "tick", "--today", day_after, env=cli_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 invoice(s) marked overdue" in result.stdout
        marked = session.ok(session.get(f"/v1/invoices/{due['id']}"))
        untouched = session.ok(session.get(f"/v1/invoices/{later['id']}"))
        late = deliver(
            base_url,
            event("payment.received", marked, amount="150.00", method="boleto"),
        )
        paid = session.wait_for(due["id"], "paid")
    assert marked["status"] == "overdue"
    assert untouched["status"] == "awaiting_payment"
    assert late.json() == {"result": "applied"}
    assert paid["status"] == "paid"
