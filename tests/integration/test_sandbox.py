"""The sandbox partner on real PostgreSQL, round trip through the webhook use case.

Its outbox is delivered through an in-process transport straight into the
``WebhookReceiver``, so the whole loop (charge, payment, signed webhook, ledger,
webhook log) runs without a server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from psycopg_pool import ConnectionPool

from adapters.sandbox import SIGNATURE_HEADER, SandboxGateway, WebhookDelivery, sign
from adapters.webhook_log import PostgresWebhookLog
from application.gateway import ChargeRequest, GatewayUnavailableError
from application.ledger import Ledger
from application.webhooks import WebhookReceiver
from domain.invoices import Invoice, InvoiceStatus
from tests.builders import a_billable_client, a_reseller, an_invoice

SECRET = "w" * 40
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
BUSINESS_NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
"""The ledger's business clock, three days behind the wall clock."""


@pytest.fixture(scope="module")
def pool(database_url: str) -> Iterator[ConnectionPool[Any]]:
    with ConnectionPool(database_url, min_size=1, max_size=4) as opened:
        yield opened


@pytest.fixture(scope="module")
def sandbox(pool: ConnectionPool[Any]) -> SandboxGateway:
    gateway = SandboxGateway(pool, SECRET, clock=lambda: BUSINESS_NOW)
    gateway.create_tables()
    return gateway


@pytest.fixture(scope="module")
def webhook_log(pool: ConnectionPool[Any]) -> PostgresWebhookLog:
    log = PostgresWebhookLog(pool)
    log.create_tables()
    return log


def a_registered_invoice(ledger: Ledger, sandbox: SandboxGateway) -> Invoice:
    reseller = a_reseller(ledger).reseller
    client = a_billable_client(ledger, reseller.id)
    invoice = an_invoice(ledger, reseller.id, client.id, amount_cents=15000)
    charge = sandbox.register(request_for(invoice, client.document))
    return ledger.record_registration(invoice.id, charge).aggregate


def request_for(invoice: Invoice, document: str) -> ChargeRequest:
    return ChargeRequest(
        invoice_id=invoice.id,
        reseller_id=invoice.reseller_id,
        code=invoice.code,
        amount_cents=invoice.amount_cents,
        due_date=invoice.due_date,
        description=invoice.description,
        payee_name="Revenda",
        payee_document="12345678000195",
        payer_name="Cliente",
        payer_document=document,
        payer_email="cliente@example.com.br",
    )


def deliver_into(
    delivery: WebhookDelivery, receiver: WebhookReceiver
) -> list[dict[str, Any]]:
    """Send the due outbox rows to ``receiver``; return the payloads it took."""
    taken: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        receipt = receiver.receive("sandbox", request.headers, request.content)
        taken.append(json.loads(request.content))
        return httpx.Response(200, json={"result": receipt.result.value})

    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        delivery.deliver_due(client)
    return taken


def test_a_simulated_payment_comes_back_signed_and_pays_at_business_time(
    ledger: Ledger,
    pool: ConnectionPool[Any],
    sandbox: SandboxGateway,
    webhook_log: PostgresWebhookLog,
) -> None:
    invoice = a_registered_invoice(ledger, sandbox)
    event_id = sandbox.simulate_payment(invoice.id, "pix")
    assert sandbox.status_of(invoice.id) == "paid"
    receiver = WebhookReceiver(ledger, {"sandbox": sandbox}, webhook_log)
    delivery = WebhookDelivery(pool, "http://ledger.test/v1/webhooks/sandbox", SECRET)
    taken = deliver_into(delivery, receiver)
    payload = next(p for p in taken if p["id"] == event_id)
    # The signature was stamped and checked on real time, three days after the
    # business time that the event and the payment carry.
    assert payload["created_at"] == BUSINESS_NOW.isoformat()
    assert payload["data"]["paid_at"] == BUSINESS_NOW.isoformat()
    paid = ledger.find_invoice(invoice.id)
    assert (paid.status, paid.paid_at, paid.amount_paid_cents) == (
        InvoiceStatus.PAID,
        BUSINESS_NOW,
        15000,
    )
    assert webhook_log.deliveries("sandbox", event_id) == ["applied"]


def test_a_redelivered_webhook_is_logged_as_a_duplicate(
    ledger: Ledger, sandbox: SandboxGateway, webhook_log: PostgresWebhookLog
) -> None:
    invoice = a_registered_invoice(ledger, sandbox)
    receiver = WebhookReceiver(ledger, {"sandbox": sandbox}, webhook_log)
    body = json.dumps(
        {
            "id": f"evt_overdue_{invoice.id.hex}",
            "type": "payment.overdue",
            "created_at": datetime.now(UTC).isoformat(),
            "data": {"charge_id": invoice.charge.charge_id if invoice.charge else ""},
        }
    ).encode()
    for _ in range(2):
        stamp = int(datetime.now(UTC).timestamp())
        receiver.receive("sandbox", {SIGNATURE_HEADER: sign(SECRET, stamp, body)}, body)
    assert webhook_log.deliveries("sandbox", f"evt_overdue_{invoice.id.hex}") == [
        "applied",
        "duplicate",
    ]
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.OVERDUE


def test_injected_failures_fail_that_many_calls_then_the_charge_registers(
    ledger: Ledger, sandbox: SandboxGateway
) -> None:
    reseller = a_reseller(ledger).reseller
    client = a_billable_client(ledger, reseller.id)
    invoice = an_invoice(ledger, reseller.id, client.id)
    request = request_for(invoice, client.document)
    sandbox.inject_failures("register", 2)
    for _ in range(2):
        with pytest.raises(GatewayUnavailableError):
            sandbox.register(request)
    assert sandbox.status_of(invoice.id) is None
    charge = sandbox.register(request)
    assert sandbox.status_of(invoice.id) == "registered"
    assert sandbox.invoice_for_charge(charge.charge_id) == invoice.id
    assert sandbox.register(request) == charge


def test_a_charge_id_the_sandbox_never_issued_has_no_invoice(
    sandbox: SandboxGateway,
) -> None:
    assert sandbox.invoice_for_charge("sbx_never") is None
    assert sandbox.status_of(UUID(int=0)) is None


def test_a_simulated_payment_pays_by_default_what_is_owed_with_late_fees(
    ledger: Ledger,
    pool: ConnectionPool[Any],
    sandbox: SandboxGateway,
    webhook_log: PostgresWebhookLog,
) -> None:
    reseller = a_reseller(ledger).reseller
    client = a_billable_client(ledger, reseller.id)
    business_today = BUSINESS_NOW.astimezone(SAO_PAULO).date()
    invoice = ledger.issue_invoice(
        reseller.id,
        client_id=client.id,
        description="Mensalidade",
        amount_cents=10000,
        issue_date=business_today - timedelta(days=30),
        due_date=business_today - timedelta(days=20),
        reference_month="01",
        reference_year="2030",
        fine_percent="2.00",
        interest_monthly_percent="1.00",
    ).aggregate
    charge = sandbox.register(request_for(invoice, client.document))
    invoice = ledger.record_registration(invoice.id, charge).aggregate
    # 20 days late: fine 2 % of R$ 100,00 = 2,00; interest 1 % * 20/30 = 0,6667 -> 0,67.
    event_id = sandbox.simulate_payment(invoice.id, "pix", owed=invoice.owed_cents)
    receiver = WebhookReceiver(ledger, {"sandbox": sandbox}, webhook_log)
    delivery = WebhookDelivery(pool, "http://ledger.test/v1/webhooks/sandbox", SECRET)
    payload = next(p for p in deliver_into(delivery, receiver) if p["id"] == event_id)
    assert payload["data"]["amount"] == "102.67"
    paid = ledger.find_invoice(invoice.id)
    assert (paid.status, paid.amount_fees_cents, paid.amount_paid_cents) == (
        InvoiceStatus.PAID,
        267,
        10267,
    )
    assert paid.payments[-1].credit_cents == 0
    # Nothing is owed any more: a second simulated payment is of the charge's amount.
    again = sandbox.simulate_payment(invoice.id, "pix", owed=paid.owed_cents)
    payload = next(p for p in deliver_into(delivery, receiver) if p["id"] == again)
    assert payload["data"]["amount"] == "100.00"


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        (b'{"id": "evt_1", "n": 1.50, "s": "a\\u00e7\\u00e3o"}', True),
        (b"not json", False),
        (b'{"s": "nul \\u0000 inside"}', False),  # jsonb refuses it
        (b'{"s": "\xff\xfe"}', False),  # not UTF-8
        (b"", False),
    ],
)
def test_a_delivery_is_kept_raw_and_parsed_when_it_can_be_in_one_statement(
    webhook_log: PostgresWebhookLog,
    pool: ConnectionPool[Any],
    body: bytes,
    parsed: bool,
) -> None:
    entry = webhook_log.keep("sandbox", {"x-test": "1"}, body, "received")
    webhook_log.settle(entry, "processed")
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT body, payload, result, settled_at IS NOT NULL"
            " FROM webhook_log WHERE id = %s",
            (entry,),
        ).fetchone()
        # The connection went back to the pool as it came: in a transaction.
        assert not conn.autocommit
    assert row is not None
    assert bytes(row[0]) == body
    assert (row[1] is not None) is parsed
    if parsed:
        assert row[1] == json.loads(body)
    assert row[2:] == ("processed", True)
