"""The webhook use case: any partner's translated event becomes ledger commands."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from application.gateway import (
    ChargeRequest,
    PartnerEvent,
    PartnerEventKind,
    WebhookMalformedError,
    WebhookUnauthenticatedError,
)
from application.ledger import Ledger, NotificationResult
from application.passwords import Passwords
from application.webhooks import (
    NoInvoiceForEventError,
    UnknownProviderError,
    WebhookReceiver,
)
from domain.invoices import Charge, Invoice, InvoiceStatus
from tests.builders import a_billable_client, a_reseller, an_invoice

WALL_CLOCK = 1_900_000_000.0


@dataclass
class FakePartner:
    """A second partner, as a new adapter would be: it reads its own webhooks."""

    name: str = "other"
    minimum_amount_cents: int = 1
    events: dict[bytes, PartnerEvent] = field(default_factory=dict)
    charges: dict[str, UUID] = field(default_factory=dict)
    read_at: list[float] = field(default_factory=list)

    def register(self, request: ChargeRequest) -> Charge:
        raise NotImplementedError

    def cancel(self, invoice_id: UUID) -> None:
        raise NotImplementedError

    def invoice_for_charge(self, charge_id: str) -> UUID | None:
        return self.charges.get(charge_id)

    def read_webhook(
        self, headers: Mapping[str, str], body: bytes, now: float
    ) -> PartnerEvent:
        self.read_at.append(now)
        if headers.get("token") != "right":
            raise WebhookUnauthenticatedError
        return self.events[body]

    def translate_webhook(self, body: bytes) -> PartnerEvent:
        return self.events[body]


@dataclass
class ListLog:
    """Entries as ``(provider, event id, type, body, result)``, settled in place."""

    kept: list[tuple[str, str | None, str | None, bytes, str]] = field(
        default_factory=list
    )
    errors: dict[int, str | None] = field(default_factory=dict)
    broken: bool = False

    def keep(  # noqa: PLR0913 - the parts of one delivery
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        result: str,
        *,
        event_id: str | None = None,
        kind: str | None = None,
    ) -> int:
        assert "token" not in headers  # only the headers of interest are kept
        self.kept.append((provider, event_id, kind, body, result))
        return len(self.kept) - 1

    def settle(self, entry: int, result: str, error: str | None = None) -> None:
        if self.broken:
            raise ConnectionError("the log's database went away")
        provider, event_id, kind, body, _ = self.kept[entry]
        self.kept[entry] = (provider, event_id, kind, body, result)
        self.errors[entry] = error


@pytest.fixture(scope="module")
def ledger() -> Iterator[Ledger]:
    app = Ledger(passwords=Passwords.fast_for_tests())
    yield app
    app.close()


@pytest.fixture
def partner() -> FakePartner:
    return FakePartner()


@pytest.fixture
def log() -> ListLog:
    return ListLog()


@pytest.fixture
def receiver(ledger: Ledger, partner: FakePartner, log: ListLog) -> WebhookReceiver:
    return WebhookReceiver(
        ledger, {partner.name: partner}, log, wall_clock=lambda: WALL_CLOCK
    )


def awaiting_payment(ledger: Ledger) -> Invoice:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    invoice = an_invoice(ledger, reseller_id, client.id, amount_cents=15000)
    charge = Charge(f"ch_{invoice.id.hex}", "001", "1", "0" * 44, "0" * 47, "x")
    return ledger.record_registration(invoice.id, charge).aggregate


def an_event(
    partner: FakePartner, kind: PartnerEventKind, **fields: object
) -> tuple[bytes, PartnerEvent]:
    event_id = f"evt_{uuid4().hex}"
    values: dict[str, object] = {
        "event_id": event_id,
        "kind": kind,
        "type": f"partner.{kind.value}",
        "occurred_at": datetime.now(UTC) - timedelta(hours=1),
    } | fields
    event = PartnerEvent(**values)  # type: ignore[arg-type]
    body = event_id.encode()
    partner.events[body] = event
    return body, event


def receive(receiver: WebhookReceiver, body: bytes, provider: str = "other") -> object:
    return receiver.receive(provider, {"token": "right"}, body)


def test_a_payment_is_recorded_once_and_every_delivery_is_logged(
    ledger: Ledger, receiver: WebhookReceiver, partner: FakePartner, log: ListLog
) -> None:
    invoice = awaiting_payment(ledger)
    paid_at = datetime.now(UTC) - timedelta(days=1)
    body, event = an_event(
        partner,
        PartnerEventKind.PAYMENT,
        invoice_id=invoice.id,
        amount_cents=15000,
        method="pix",
        paid_at=paid_at,
    )
    first = receiver.receive("other", {"token": "right"}, body)
    again = receiver.receive("other", {"token": "right"}, body)
    assert (first.result, again.result) == (
        NotificationResult.APPLIED,
        NotificationResult.DUPLICATE,
    )
    assert first.position is not None
    assert again.position is None
    paid = ledger.find_invoice(invoice.id)
    assert (paid.status, paid.amount_paid_cents, paid.paid_at) == (
        InvoiceStatus.PAID,
        15000,
        paid_at,
    )
    assert log.kept == [
        ("other", event.event_id, event.type, body, "applied"),
        ("other", event.event_id, event.type, body, "duplicate"),
    ]
    assert partner.read_at == [WALL_CLOCK, WALL_CLOCK]


def test_a_payment_without_its_own_date_is_paid_when_the_event_occurred(
    ledger: Ledger, receiver: WebhookReceiver, partner: FakePartner
) -> None:
    invoice = awaiting_payment(ledger)
    body, event = an_event(
        partner,
        PartnerEventKind.PAYMENT,
        invoice_id=invoice.id,
        amount_cents=15000,
        method="boleto",
    )
    receive(receiver, body)
    assert ledger.find_invoice(invoice.id).paid_at == event.occurred_at


def test_the_charge_id_finds_the_invoice_through_the_partner(
    ledger: Ledger, receiver: WebhookReceiver, partner: FakePartner
) -> None:
    invoice = awaiting_payment(ledger)
    partner.charges["ch_42"] = invoice.id
    body, _ = an_event(partner, PartnerEventKind.OVERDUE, charge_id="ch_42")
    receipt = receiver.receive("other", {"token": "right"}, body)
    assert receipt.result is NotificationResult.APPLIED
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.OVERDUE


def test_a_refund_after_a_payment_is_recorded(
    ledger: Ledger, receiver: WebhookReceiver, partner: FakePartner
) -> None:
    invoice = awaiting_payment(ledger)
    paid, _ = an_event(
        partner,
        PartnerEventKind.PAYMENT,
        invoice_id=invoice.id,
        amount_cents=15000,
        method="pix",
    )
    refund, _ = an_event(partner, PartnerEventKind.REFUND, invoice_id=invoice.id)
    receive(receiver, paid)
    receive(receiver, refund)
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.REFUNDED


def test_an_event_the_ledger_has_no_use_for_is_logged_as_ignored(
    ledger: Ledger, receiver: WebhookReceiver, partner: FakePartner, log: ListLog
) -> None:
    invoice = awaiting_payment(ledger)
    before = len(ledger.history(invoice.id))
    body, event = an_event(partner, PartnerEventKind.OTHER, invoice_id=invoice.id)
    receipt = receiver.receive("other", {"token": "right"}, body)
    assert (receipt.result, receipt.position) == (NotificationResult.IGNORED, None)
    assert len(ledger.history(invoice.id)) == before
    assert log.kept == [("other", event.event_id, event.type, body, "ignored")]


def test_refusals_record_nothing_and_authentic_ones_are_logged(
    ledger: Ledger, receiver: WebhookReceiver, partner: FakePartner, log: ListLog
) -> None:
    invoice = awaiting_payment(ledger)
    body, _ = an_event(
        partner,
        PartnerEventKind.PAYMENT,
        invoice_id=invoice.id,
        amount_cents=15000,
        method="pix",
    )
    with pytest.raises(UnknownProviderError, match="unknown payment provider 'asaas'"):
        receiver.receive("asaas", {"token": "right"}, body)
    with pytest.raises(WebhookUnauthenticatedError):
        receiver.receive("other", {"token": "wrong"}, body)
    assert log.kept == []  # not authenticated: not the partner's, not kept
    nowhere, unknown = an_event(
        partner, PartnerEventKind.PAYMENT, charge_id="ch_unknown"
    )
    with pytest.raises(NoInvoiceForEventError):
        receive(receiver, nowhere)
    no_amount, malformed = an_event(
        partner, PartnerEventKind.PAYMENT, invoice_id=invoice.id, method="pix"
    )
    with pytest.raises(WebhookMalformedError):
        receive(receiver, no_amount)
    assert log.kept == [
        ("other", unknown.event_id, unknown.type, nowhere, "unknown_invoice"),
        ("other", malformed.event_id, malformed.type, no_amount, "malformed"),
    ]
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.AWAITING_PAYMENT


def test_a_body_the_partner_cannot_read_is_kept_as_malformed(
    receiver: WebhookReceiver, partner: FakePartner, log: ListLog
) -> None:
    def unreadable(headers: Mapping[str, str], body: bytes, now: float) -> object:
        raise WebhookMalformedError("bad", [])

    partner.read_webhook = unreadable  # type: ignore[method-assign,assignment]
    with pytest.raises(WebhookMalformedError):
        receive(receiver, b"\x00{")
    assert log.kept == [("other", None, None, b"\x00{", "malformed")]


def test_a_recorded_payment_is_answered_even_if_its_log_entry_cannot_be_settled(
    ledger: Ledger, receiver: WebhookReceiver, partner: FakePartner, log: ListLog
) -> None:
    invoice = awaiting_payment(ledger)
    body, event = an_event(
        partner,
        PartnerEventKind.PAYMENT,
        invoice_id=invoice.id,
        amount_cents=15000,
        method="pix",
    )
    log.broken = True
    receipt = receive(receiver, body)
    assert receipt.result is NotificationResult.APPLIED  # type: ignore[attr-defined]
    assert ledger.find_invoice(invoice.id).status is InvoiceStatus.PAID
    # Kept before it was applied: the raw delivery is there, as received.
    assert log.kept == [("other", event.event_id, event.type, body, "received")]
