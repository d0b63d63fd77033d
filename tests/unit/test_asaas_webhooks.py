"""Asaas webhooks: the token, the documented event list mapped onto the ledger's
commands, and what each does to an invoice through the webhook use case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from uuid import uuid4

import pytest

from adapters.asaas import AsaasGateway, read_event
from api.settings import Settings, SettingsError
from application.gateway import (
    PartnerEventKind,
    WebhookMalformedError,
    WebhookUnauthenticatedError,
)
from application.ledger import Ledger, NotificationResult
from application.passwords import Passwords
from application.webhooks import WebhookReceiver
from domain.invoices import SAO_PAULO, Charge, Invoice, InvoiceStatus
from tests.builders import a_billable_client, a_reseller, today
from tests.unit.test_webhook_receiver import ListLog

TOKEN = "asaas-webhook-token-" + "x" * 20
NOW = datetime.combine(today(), time(10, 0), tzinfo=SAO_PAULO)
"""The adapter's controlled clock: ten in the morning of the São Paulo today."""
TWO_DAYS_AGO = (NOW - timedelta(days=2)).date()

_K = PartnerEventKind
DOCUMENTED_EVENTS: list[tuple[str, PartnerEventKind]] = [
    ("PAYMENT_CREATED", _K.OTHER),
    ("PAYMENT_AWAITING_RISK_ANALYSIS", _K.OTHER),
    ("PAYMENT_APPROVED_BY_RISK_ANALYSIS", _K.OTHER),
    ("PAYMENT_REPROVED_BY_RISK_ANALYSIS", _K.OTHER),
    ("PAYMENT_AUTHORIZED", _K.OTHER),
    ("PAYMENT_UPDATED", _K.OTHER),
    ("PAYMENT_CONFIRMED", _K.PAYMENT),
    ("PAYMENT_RECEIVED", _K.PAYMENT),
    ("PAYMENT_CREDIT_CARD_CAPTURE_REFUSED", _K.OTHER),
    ("PAYMENT_ANTICIPATED", _K.OTHER),
    ("PAYMENT_OVERDUE", _K.OVERDUE),
    ("PAYMENT_DELETED", _K.CANCELLED),
    ("PAYMENT_RESTORED", _K.OTHER),
    ("PAYMENT_REFUNDED", _K.REFUND),
    ("PAYMENT_PARTIALLY_REFUNDED", _K.OTHER),
    ("PAYMENT_REFUND_IN_PROGRESS", _K.OTHER),
    ("PAYMENT_REFUND_DENIED", _K.OTHER),
    ("PAYMENT_RECEIVED_IN_CASH", _K.PAYMENT),
    ("PAYMENT_RECEIVED_IN_CASH_UNDONE", _K.PAYMENT_UNDONE),
    ("PAYMENT_CHARGEBACK_REQUESTED", _K.OTHER),
    ("PAYMENT_CHARGEBACK_DISPUTE", _K.OTHER),
    ("PAYMENT_AWAITING_CHARGEBACK_REVERSAL", _K.OTHER),
    ("PAYMENT_DUNNING_RECEIVED", _K.OTHER),
    ("PAYMENT_DUNNING_REQUESTED", _K.OTHER),
    ("PAYMENT_BANK_SLIP_CANCELLED", _K.OTHER),
    ("PAYMENT_BANK_SLIP_VIEWED", _K.OTHER),
    ("PAYMENT_CHECKOUT_VIEWED", _K.OTHER),
    ("PAYMENT_SPLIT_DIVERGENCE_BLOCK", _K.OTHER),
    ("PAYMENT_SPLIT_DIVERGENCE_BLOCK_FINISHED", _K.OTHER),
    ("SUBSCRIPTION_CREATED", _K.OTHER),
    ("SUBSCRIPTION_UPDATED", _K.OTHER),
    ("SUBSCRIPTION_INACTIVATED", _K.OTHER),
    ("SUBSCRIPTION_DELETED", _K.OTHER),
]
"""Asaas's documented webhook events (billing-domain notes, b.1) and their meaning."""


def payload(
    event: str,
    *,
    invoice_id: object = None,
    payment_id: str = "pay_080225913252",
    **payment: Any,
) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid4().hex}&368604920",
        "event": event,
        "dateCreated": NOW.strftime("%Y-%m-%d %H:%M:%S"),
        "payment": {
            "object": "payment",
            "id": payment_id,
            "customer": "cus_G7Dvo4iphUNk",
            "value": 100,
            "netValue": 94.51,
            "originalValue": None,
            "interestValue": None,
            "billingType": "BOLETO",
            "status": "RECEIVED",
            "dueDate": (NOW - timedelta(days=10)).date().isoformat(),
            "paymentDate": NOW.date().isoformat(),
            "clientPaymentDate": NOW.date().isoformat(),
            "externalReference": str(invoice_id or uuid4()),
            "deleted": False,
            "fine": {"value": 2, "type": "PERCENTAGE"},
            "interest": {"value": 1, "type": "PERCENTAGE"},
            **payment,
        },
    }


def body_of(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture
def gateway() -> AsaasGateway:
    return AsaasGateway(api_key="k", webhook_token=TOKEN, clock=lambda: NOW)


@pytest.mark.parametrize(("name", "kind"), DOCUMENTED_EVENTS)
def test_every_documented_event_maps_onto_its_ledger_command(
    gateway: AsaasGateway, name: str, kind: PartnerEventKind
) -> None:
    data = payload(name)
    event = gateway.read_webhook(
        {"asaas-access-token": TOKEN}, body_of(data), NOW.timestamp()
    )
    assert (event.kind, event.type, event.event_id) == (kind, name, data["id"])
    if kind is not PartnerEventKind.OTHER:
        assert str(event.invoice_id) == data["payment"]["externalReference"]
        assert event.charge_id == "pay_080225913252"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"asaas-access-token": ""},
        {"asaas-access-token": TOKEN[:-1]},
        {"asaas-access-token": TOKEN + "x"},
        {"access_token": TOKEN},
    ],
)
def test_a_missing_or_wrong_token_is_refused(
    gateway: AsaasGateway, headers: dict[str, str]
) -> None:
    with pytest.raises(WebhookUnauthenticatedError):
        gateway.read_webhook(headers, body_of(payload("PAYMENT_RECEIVED")), 0.0)


def test_the_token_header_is_read_whatever_its_case(gateway: AsaasGateway) -> None:
    event = gateway.read_webhook(
        {"Asaas-Access-Token": TOKEN}, body_of(payload("PAYMENT_OVERDUE")), 0.0
    )
    assert event.kind is PartnerEventKind.OVERDUE


def test_confirmed_and_received_are_one_payment_a_cash_receipt_its_own() -> None:
    confirmed = read_event(body_of(payload("PAYMENT_CONFIRMED")), NOW)
    received = read_event(body_of(payload("PAYMENT_RECEIVED")), NOW)
    cash = read_event(body_of(payload("PAYMENT_RECEIVED_IN_CASH")), NOW)
    assert confirmed.event_id != received.event_id
    assert confirmed.key == received.key == "pay_080225913252:paid"
    assert cash.key == cash.event_id
    overdue = read_event(body_of(payload("PAYMENT_OVERDUE")), NOW)
    assert overdue.key == overdue.event_id


def test_the_amount_is_what_was_paid_interest_and_fine_included() -> None:
    data = payload(
        "PAYMENT_RECEIVED",
        value=105.26,
        originalValue=100,
        interestValue=5.26,
        billingType="PIX",
        paymentDate=TWO_DAYS_AGO.isoformat(),
        clientPaymentDate=TWO_DAYS_AGO.isoformat(),
    )
    event = read_event(body_of(data), NOW)
    assert (event.amount_cents, event.method) == (10526, "pix")
    assert event.occurred_at == NOW
    # Asaas gives only the payment's date: noon in São Paulo that day.
    assert event.paid_at == datetime.combine(TWO_DAYS_AGO, time(12), tzinfo=SAO_PAULO)
    today = read_event(body_of(payload("PAYMENT_RECEIVED")), NOW)
    assert today.paid_at == NOW


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        body_of({"event": "PAYMENT_RECEIVED"}),
        body_of(payload("PAYMENT_RECEIVED", value=None)),
        body_of(payload("PAYMENT_RECEIVED", value=-1)),
        body_of(payload("PAYMENT_RECEIVED", value=1.001)),
        body_of(payload("PAYMENT_RECEIVED", value=10**12)),
        body_of({**payload("PAYMENT_RECEIVED"), "id": "evt\x00"}),
        body_of({**payload("PAYMENT_RECEIVED"), "id": "e" * 256}),
        body_of({**payload("PAYMENT_RECEIVED"), "dateCreated": "9999-12-31 10:00:00"}),
        body_of({**payload("PAYMENT_RECEIVED"), "dateCreated": "yesterday"}),
        body_of(payload("PAYMENT_RECEIVED", paymentDate="0001-01-01")),
        body_of(payload("PAYMENT_RECEIVED", clientPaymentDate="2100-01-01")),
    ],
)
def test_malformed_bodies_are_refused(gateway: AsaasGateway, body: bytes) -> None:
    with pytest.raises(WebhookMalformedError):
        gateway.read_webhook({"asaas-access-token": TOKEN}, body, 0.0)


@pytest.mark.parametrize("reference", ["056984", None, ""])
def test_an_event_for_a_charge_made_outside_the_ledger_is_acknowledged(
    reference: str | None,
) -> None:
    data = payload("PAYMENT_RECEIVED", externalReference=reference)
    event = read_event(body_of(data), NOW)
    assert (event.kind, event.invoice_id) == (PartnerEventKind.OTHER, None)


# -- through the webhook use case ---------------------------------------------------


@pytest.fixture(scope="module")
def ledger() -> Iterator[Ledger]:
    app = Ledger(passwords=Passwords.fast_for_tests())
    yield app
    app.close()


@pytest.fixture
def receiver(ledger: Ledger) -> WebhookReceiver:
    gateway = AsaasGateway(api_key="k", webhook_token=TOKEN, clock=ledger.clock)
    return WebhookReceiver(ledger, {"asaas": gateway}, ListLog())


def registered(
    ledger: Ledger,
    *,
    due_in_days: int = 10,
    fine_percent: str = "0.00",
    interest_monthly_percent: str = "0.00",
) -> Invoice:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    today = ledger.today()
    invoice = ledger.issue_invoice(
        reseller_id,
        client_id=client.id,
        description="Mensalidade",
        amount_cents=10000,
        issue_date=today - timedelta(days=40),
        due_date=today + timedelta(days=due_in_days),
        reference_month=f"{today.month:02d}",
        reference_year=str(today.year),
        fine_percent=fine_percent,
        interest_monthly_percent=interest_monthly_percent,
    ).aggregate
    charge = Charge(f"pay_{invoice.id.hex[:12]}", "461", "1", "0" * 44, "0" * 47, "")
    return ledger.record_registration(invoice.id, charge).aggregate


def deliver(
    receiver: WebhookReceiver, invoice: Invoice, event: str, **payment: Any
) -> NotificationResult:
    assert invoice.charge is not None
    now = receiver.ledger.clock().astimezone(SAO_PAULO)
    today = now.date().isoformat()
    data = payload(
        event,
        invoice_id=invoice.id,
        payment_id=invoice.charge.charge_id,
        **({"paymentDate": today, "clientPaymentDate": today} | payment),
    )
    data["dateCreated"] = now.strftime("%Y-%m-%d %H:%M:%S")
    receipt = receiver.receive("asaas", {"asaas-access-token": TOKEN}, body_of(data))
    return receipt.result


def test_confirmed_then_received_pays_once(
    ledger: Ledger, receiver: WebhookReceiver
) -> None:
    invoice = registered(ledger)
    assert deliver(receiver, invoice, "PAYMENT_CONFIRMED") is NotificationResult.APPLIED
    assert (
        deliver(receiver, invoice, "PAYMENT_RECEIVED") is NotificationResult.DUPLICATE
    )
    paid = ledger.find_invoice(invoice.id)
    assert (paid.status, paid.amount_paid_cents, len(paid.payments)) == (
        InvoiceStatus.PAID,
        10000,
        1,
    )


def test_a_late_payment_is_split_into_principal_and_fees(
    ledger: Ledger, receiver: WebhookReceiver
) -> None:
    invoice = registered(
        ledger, due_in_days=-30, fine_percent="2.00", interest_monthly_percent="1.00"
    )
    # 100.00 + 2 % fine + 1 % for the 30 days late = 103.00 (Asaas's value).
    deliver(receiver, invoice, "PAYMENT_RECEIVED", value=103, originalValue=100)
    paid = ledger.find_invoice(invoice.id)
    payment = paid.payments[-1]
    assert (payment.principal_cents, payment.fees_cents, payment.credit_cents) == (
        10000,
        300,
        0,
    )
    assert paid.status is InvoiceStatus.PAID


def test_deleted_at_asaas_cancels_an_unpaid_invoice_but_never_a_paid_one(
    ledger: Ledger, receiver: WebhookReceiver
) -> None:
    unpaid = registered(ledger)
    assert deliver(receiver, unpaid, "PAYMENT_DELETED") is NotificationResult.APPLIED
    cancelled = ledger.find_invoice(unpaid.id)
    assert cancelled.status is InvoiceStatus.CANCELLED
    assert cancelled.cancellation_reason == "Cancelada pelo parceiro (asaas)"

    paid = registered(ledger)
    deliver(receiver, paid, "PAYMENT_RECEIVED")
    assert deliver(receiver, paid, "PAYMENT_DELETED") is NotificationResult.IGNORED
    assert ledger.find_invoice(paid.id).status is InvoiceStatus.PAID


def test_a_cash_receipt_undone_makes_the_invoice_owe_again(
    ledger: Ledger, receiver: WebhookReceiver
) -> None:
    invoice = registered(ledger)
    deliver(receiver, invoice, "PAYMENT_RECEIVED_IN_CASH")
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.PAID
    undone = deliver(receiver, invoice, "PAYMENT_RECEIVED_IN_CASH_UNDONE")
    assert undone is NotificationResult.APPLIED
    owing = ledger.find_invoice(invoice.id)
    assert (owing.status, owing.amount_paid_cents, owing.paid_at) == (
        InvoiceStatus.AWAITING_PAYMENT,
        0,
        None,
    )
    # Nothing more to undo: a second undo notice is ignored.
    again = deliver(receiver, invoice, "PAYMENT_RECEIVED_IN_CASH_UNDONE")
    assert again is NotificationResult.IGNORED
    # Then paid by boleto: paid again.
    deliver(receiver, invoice, "PAYMENT_RECEIVED")
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.PAID


def test_overdue_refund_and_other_events(
    ledger: Ledger, receiver: WebhookReceiver
) -> None:
    invoice = registered(ledger, due_in_days=-1)
    assert deliver(receiver, invoice, "PAYMENT_OVERDUE") is NotificationResult.APPLIED
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.OVERDUE
    assert deliver(receiver, invoice, "PAYMENT_CREATED") is NotificationResult.IGNORED
    deliver(receiver, invoice, "PAYMENT_RECEIVED")
    assert deliver(receiver, invoice, "PAYMENT_REFUNDED") is NotificationResult.APPLIED
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.REFUNDED


def test_a_replayed_delivery_is_applied_once_and_logged_as_a_replay(
    ledger: Ledger,
) -> None:
    log = ListLog()
    gateway = AsaasGateway(api_key="k", webhook_token=TOKEN, clock=ledger.clock)
    receiver = WebhookReceiver(ledger, {"asaas": gateway}, log)
    invoice = registered(ledger)
    assert invoice.charge is not None
    body = body_of(
        payload(
            "PAYMENT_RECEIVED",
            invoice_id=invoice.id,
            payment_id=invoice.charge.charge_id,
        )
    )
    # Replayed without a token: it was authenticated when it was kept.
    first = receiver.replay("asaas", body, of=41)
    again = receiver.replay("asaas", body, of=41)
    assert (first.result, again.result) == (
        NotificationResult.APPLIED,
        NotificationResult.DUPLICATE,
    )
    assert [entry[4] for entry in log.kept] == ["applied", "duplicate"]
    assert ledger.find_invoice(invoice.id).amount_paid_cents == 10000
    with pytest.raises(WebhookMalformedError):
        receiver.replay("asaas", b"{", of=42)
    assert log.kept[-1][4] == "malformed"


@pytest.mark.parametrize("missing", ["asaas_api_key", "asaas_webhook_token"])
def test_the_asaas_gateway_refuses_to_start_without_its_key_and_token(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name in (
        "LEDGER_GATEWAY",
        "LEDGER_ASAAS_API_KEY",
        "LEDGER_ASAAS_WEBHOOK_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    given: dict[str, Any] = {
        "gateway": "asaas",
        "asaas_api_key": "key",
        "asaas_webhook_token": TOKEN,
        missing: "  ",
    }
    with pytest.raises(SettingsError, match=f"LEDGER_{missing.upper()}"):
        Settings.model_validate(given)
    settings = Settings.model_validate(
        {"gateway": "asaas", "asaas_api_key": "k", "asaas_webhook_token": TOKEN}
    )
    assert settings.asaas_base_url == "https://api-sandbox.asaas.com/v3"
    assert Settings().gateway == "sandbox"
