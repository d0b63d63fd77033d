from collections.abc import Callable
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from domain.errors import InvalidInputError, InvalidTransitionError
from domain.invoices import (
    Charge,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
)
from domain.periods import ReferencePeriod

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHARGE = Charge("ch_1", "001", "00000000001", "0" * 44, "0" * 47, "000201")
S = InvoiceStatus


def an_invoice(**overrides: object) -> Invoice:
    fields: dict[str, object] = {
        "invoice_id": uuid4(),
        "reseller_id": uuid4(),
        "client_id": uuid4(),
        "contract_id": uuid4(),
        "code": 7,
        "description": "Mensalidade",
        "amount_cents": 15000,
        "issue_date": date(2026, 11, 1),
        "due_date": date(2026, 11, 10),
        "period": ReferencePeriod.parse("11", "2026"),
    }
    fields.update(overrides)
    return Invoice.issue(**fields)  # type: ignore[arg-type]


ACTIONS: dict[str, Callable[[Invoice], None]] = {
    "register": lambda i: i.register(CHARGE),
    "fail": lambda i: i.fail_registration("CPF do pagador inválido"),
    "overdue": lambda i: i.mark_overdue(date(2026, 11, 11)),
    "pay": lambda i: i.pay(15000, NOW, PaymentMethod.PIX),
    "cancel": lambda i: i.cancel("cliente desistiu", NOW),
    "refund": lambda i: i.refund(15000, NOW),
}
PATHS: dict[InvoiceStatus, list[str]] = {
    S.PROCESSING: [],
    S.AWAITING_PAYMENT: ["register"],
    S.OVERDUE: ["register", "overdue"],
    S.PAID: ["register", "pay"],
    S.CANCELLED: ["cancel"],
    S.FAILED: ["fail"],
    S.REFUNDED: ["register", "pay", "refund"],
}
ALLOWED: dict[str, dict[InvoiceStatus, InvoiceStatus]] = {
    "register": {S.PROCESSING: S.AWAITING_PAYMENT},
    "fail": {S.PROCESSING: S.FAILED},
    "overdue": {S.AWAITING_PAYMENT: S.OVERDUE},
    "pay": {S.AWAITING_PAYMENT: S.PAID, S.OVERDUE: S.PAID, S.CANCELLED: S.PAID},
    "cancel": {
        S.PROCESSING: S.CANCELLED,
        S.AWAITING_PAYMENT: S.CANCELLED,
        S.OVERDUE: S.CANCELLED,
    },
    "refund": {S.PAID: S.REFUNDED},
}


def an_invoice_in(status: InvoiceStatus) -> Invoice:
    invoice = an_invoice()
    for step in PATHS[status]:
        ACTIONS[step](invoice)
    assert invoice.status is status
    return invoice


@pytest.mark.parametrize("status", list(InvoiceStatus))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_lifecycle_transition_is_allowed_and_every_other_refused(
    status: InvoiceStatus, action: str
) -> None:
    invoice = an_invoice_in(status)
    version = invoice.version
    target = ALLOWED[action].get(status)
    if target is None:
        with pytest.raises(InvalidTransitionError):
            ACTIONS[action](invoice)
        assert (invoice.status, invoice.version) == (status, version)
        assert not invoice.collect_events()[version:]
    else:
        ACTIONS[action](invoice)
        assert (invoice.status, invoice.version) == (target, version + 1)


def test_a_new_invoice_is_processing_with_its_code_and_fields() -> None:
    invoice = an_invoice()
    assert invoice.status is S.PROCESSING
    assert invoice.status.label == "Em Processamento"
    assert (invoice.code, invoice.amount_cents) == (7, 15000)
    assert (invoice.reference_month, invoice.reference_year) == ("11", "2026")
    assert invoice.charge is None


def test_registration_keeps_the_charge_and_a_failure_its_reason() -> None:
    registered = an_invoice_in(S.AWAITING_PAYMENT)
    assert registered.charge == CHARGE
    failed = an_invoice_in(S.FAILED)
    assert failed.failure_reason == "CPF do pagador inválido"


def test_paying_a_cancelled_invoice_records_the_late_payment() -> None:
    invoice = an_invoice_in(S.CANCELLED)
    invoice.pay(14000, NOW, PaymentMethod.BOLETO)
    assert invoice.status is S.PAID
    assert invoice.amount_paid_cents == 14000
    assert invoice.payment_method is PaymentMethod.BOLETO
    assert invoice.paid_at == NOW


def test_a_refund_cannot_exceed_what_was_paid() -> None:
    invoice = an_invoice_in(S.PAID)
    with pytest.raises(InvalidInputError, match="amount"):
        invoice.refund(15001, NOW)
    assert invoice.status is S.PAID


def test_only_an_invoice_awaiting_a_payment_due_before_today_is_past_due() -> None:
    awaiting = an_invoice_in(S.AWAITING_PAYMENT)
    assert not awaiting.is_past_due(date(2026, 11, 10))
    assert awaiting.is_past_due(date(2026, 11, 11))
    assert not an_invoice_in(S.PAID).is_past_due(date(2027, 1, 1))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": ""}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 501}, "description"),
        ({"amount_cents": 0}, "amount"),
        ({"amount_cents": -100}, "amount"),
        ({"amount_cents": 10_000_000_000}, "amount"),
        ({"due_date": date(2026, 10, 31)}, "due_date"),
    ],
)
def test_invalid_invoices_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        an_invoice(**overrides)
    assert refusal.value.field == field


def test_500_characters_and_a_due_date_on_the_issue_date_are_accepted() -> None:
    invoice = an_invoice(description="x" * 500, due_date=date(2026, 11, 1))
    assert len(invoice.description) == 500


def test_status_labels_are_the_documented_portuguese_words() -> None:
    assert {s.value: s.label for s in InvoiceStatus} == {
        "processing": "Em Processamento",
        "awaiting_payment": "Aguardando Pagamento",
        "overdue": "Vencida",
        "paid": "Pago",
        "cancelled": "Cancelada",
        "failed": "Falha no Registro",
        "refunded": "Estornada",
    }


def test_every_event_carries_the_tenant() -> None:
    invoice = an_invoice_in(S.REFUNDED)
    events = invoice.collect_events()
    assert len(events) == 4
    assert {e.reseller_id for e in events} == {invoice.reseller_id}  # type: ignore[attr-defined]
