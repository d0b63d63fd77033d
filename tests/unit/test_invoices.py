from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
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
from tests.builders import today

DUE = today() + timedelta(days=10)
"""The example invoice's due date: relative to today, like every test date."""
ISSUED = DUE - timedelta(days=9)
NOW = datetime.combine(DUE + timedelta(days=18), time(12), tzinfo=UTC)
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
        "issue_date": ISSUED,
        "due_date": DUE,
        "period": ReferencePeriod.parse("11", "2026"),
    }
    fields.update(overrides)
    return Invoice.issue(**fields)  # type: ignore[arg-type]


def _pay(amount_cents: int) -> Callable[[Invoice], None]:
    def pay(invoice: Invoice) -> None:
        invoice.pay(amount_cents, NOW, PaymentMethod.PIX)

    return pay


ACTIONS: dict[str, Callable[[Invoice], None]] = {
    "register": lambda i: i.register(CHARGE),
    "fail": lambda i: i.fail_registration("CPF do pagador inválido"),
    "retry": lambda i: i.retry_registration(NOW),
    "overdue": lambda i: i.mark_overdue(DUE + timedelta(days=1)),
    "pay": _pay(15000),
    "pay part": _pay(5000),
    "cancel": lambda i: i.cancel("cliente desistiu", NOW),
    "refund": lambda i: i.refund(15000, NOW),
}
PATHS: dict[InvoiceStatus, list[str]] = {
    S.PROCESSING: [],
    S.AWAITING_PAYMENT: ["register"],
    S.OVERDUE: ["register", "overdue"],
    S.PARTIALLY_PAID: ["register", "pay part"],
    S.PAID: ["register", "pay"],
    S.CANCELLED: ["cancel"],
    S.FAILED: ["fail"],
    S.REFUNDED: ["register", "pay", "refund"],
}
UNPAID = (S.PROCESSING, S.AWAITING_PAYMENT, S.OVERDUE, S.PARTIALLY_PAID)
ALLOWED: dict[str, dict[InvoiceStatus, InvoiceStatus]] = {
    "register": {S.PROCESSING: S.AWAITING_PAYMENT},
    "fail": {S.PROCESSING: S.FAILED},
    "retry": {S.FAILED: S.PROCESSING},
    "overdue": {S.AWAITING_PAYMENT: S.OVERDUE},
    # A payment is recorded in every status: the partner says money arrived.
    "pay": {status: S.REFUNDED if status is S.REFUNDED else S.PAID for status in S},
    "pay part": {
        **dict.fromkeys(UNPAID, S.PARTIALLY_PAID),
        **{status: status for status in (S.CANCELLED, S.FAILED, S.PAID, S.REFUNDED)},
    },
    "cancel": dict.fromkeys((*UNPAID, S.FAILED), S.CANCELLED),
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


def test_paying_a_cancelled_invoice_in_full_pays_it() -> None:
    invoice = an_invoice_in(S.CANCELLED)
    invoice.pay(14000, NOW, PaymentMethod.BOLETO)
    assert (invoice.status, invoice.balance_cents) == (S.CANCELLED, 0)
    invoice.pay(1000, NOW, PaymentMethod.PIX)
    assert invoice.status is S.PAID
    assert invoice.amount_paid_cents == 15000
    assert invoice.payment_method is PaymentMethod.PIX
    assert invoice.paid_at == NOW


def test_a_refund_cannot_exceed_what_was_paid() -> None:
    invoice = an_invoice_in(S.PAID)
    with pytest.raises(InvalidInputError, match="amount"):
        invoice.refund(15001, NOW)
    assert invoice.status is S.PAID


def test_only_an_invoice_awaiting_a_payment_due_before_today_is_past_due() -> None:
    awaiting = an_invoice_in(S.AWAITING_PAYMENT)
    assert not awaiting.is_past_due(DUE)
    assert awaiting.is_past_due(DUE + timedelta(days=1))
    assert not an_invoice_in(S.PAID).is_past_due(DUE + timedelta(days=52))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": ""}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 501}, "description"),
        ({"amount_cents": 0}, "amount"),
        ({"amount_cents": -100}, "amount"),
        ({"amount_cents": 10_000_000_000}, "amount"),
        ({"due_date": ISSUED - timedelta(days=1)}, "due_date"),
    ],
)
def test_invalid_invoices_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        an_invoice(**overrides)
    assert refusal.value.field == field


def test_500_characters_and_a_due_date_on_the_issue_date_are_accepted() -> None:
    invoice = an_invoice(description="x" * 500, due_date=ISSUED)
    assert len(invoice.description) == 500


def test_status_labels_are_the_documented_portuguese_words() -> None:
    assert {s.value: s.label for s in InvoiceStatus} == {
        "processing": "Em Processamento",
        "awaiting_payment": "Aguardando Pagamento",
        "overdue": "Vencida",
        "partially_paid": "Pago Parcialmente",
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


LATE = datetime.combine(DUE + timedelta(days=18), time(12), tzinfo=UTC)
"""18 days after the due date (09:00 in São Paulo that day)."""
ON_TIME = datetime.combine(DUE, time(23), tzinfo=UTC)
"""The due date's evening in São Paulo (20:00), still on time."""


def a_registered_invoice_with_fees() -> Invoice:
    invoice = an_invoice(
        amount_cents=10000, fine_percent="2.00", interest_monthly_percent="1.00"
    )
    invoice.register(CHARGE)
    return invoice


@pytest.mark.parametrize(
    ("payments", "split", "status", "balance"),
    [
        # R$ 0,01 on R$ 100,00: all principal, 99,99 still owed.
        ([(1, ON_TIME)], [(1, 0, 0)], S.PARTIALLY_PAID, 9999),
        # Two parts that add up: paid, nothing is credit.
        ([(5000, ON_TIME), (5000, ON_TIME)], [(5000, 0, 0), (5000, 0, 0)], S.PAID, 0),
        # On time, R$ 1,00 over: no fees before the due date, 1,00 is credit.
        ([(10100, ON_TIME)], [(10000, 0, 100)], S.PAID, 0),
        # 18 days late, fees allowed 2,60: exactly owed.
        ([(10260, LATE)], [(10000, 260, 0)], S.PAID, 0),
        # Late but short of the fees: principal first, the rest is fees.
        ([(10100, LATE)], [(10000, 100, 0)], S.PAID, 0),
        # Late and beyond the fees: the rest is credit.
        ([(10500, LATE)], [(10000, 260, 240)], S.PAID, 0),
        # Late partial payment: no fees until the principal is paid.
        ([(4000, LATE)], [(4000, 0, 0)], S.PARTIALLY_PAID, 6000),
        # A second payment of a paid invoice is all credit.
        (
            [(10000, ON_TIME), (10000, ON_TIME)],
            [(10000, 0, 0), (0, 0, 10000)],
            S.PAID,
            0,
        ),
    ],
)
def test_a_payment_is_split_into_principal_fees_and_credit(
    payments: list[tuple[int, datetime]],
    split: list[tuple[int, int, int]],
    status: InvoiceStatus,
    balance: int,
) -> None:
    invoice = a_registered_invoice_with_fees()
    for amount, paid_at in payments:
        invoice.pay(amount, paid_at, PaymentMethod.PIX)
    assert [
        (p.principal_cents, p.fees_cents, p.credit_cents) for p in invoice.payments
    ] == split
    assert (invoice.status, invoice.balance_cents) == (status, balance)
    assert invoice.amount_paid_cents == sum(p + f for p, f, _ in split)
    assert sum(p.amount_cents for p in invoice.payments) == sum(map(sum, split))


def test_credit_is_overpayment_unless_the_invoice_was_paid_or_refunded() -> None:
    over = a_registered_invoice_with_fees()
    assert over.pay(10100, ON_TIME, PaymentMethod.PIX).credit_origin == "overpayment"
    assert (
        over.pay(500, ON_TIME, PaymentMethod.PIX).credit_origin == "duplicate_payment"
    )
    refunded = an_invoice_in(S.REFUNDED)
    assert refunded.pay(100, ON_TIME, PaymentMethod.PIX).credit_origin == (
        "duplicate_payment"
    )
    assert refunded.status is S.REFUNDED
    exact = a_registered_invoice_with_fees()
    assert exact.pay(10000, ON_TIME, PaymentMethod.PIX).credit_origin is None


def test_a_failed_or_cancelled_invoice_owes_nothing_until_paid_in_full() -> None:
    for status in (S.FAILED, S.CANCELLED):
        invoice = an_invoice_in(status)
        assert invoice.balance_cents == 0
        assert invoice.owed_cents(ON_TIME) == 0
        payment = invoice.pay(6000, ON_TIME, PaymentMethod.BOLETO)
        assert (payment.principal_cents, invoice.status) == (6000, status)


def test_what_is_owed_is_the_balance_plus_the_late_fees_allowed() -> None:
    invoice = a_registered_invoice_with_fees()
    assert invoice.owed_cents(ON_TIME) == 10000
    assert invoice.owed_cents(LATE) == 10260
    invoice.pay(4000, ON_TIME, PaymentMethod.PIX)
    assert invoice.owed_cents(LATE) == 6260


def test_a_retried_invoice_is_processing_again_without_its_failure() -> None:
    invoice = an_invoice_in(S.FAILED)
    invoice.retry_registration(ON_TIME)
    assert (invoice.status, invoice.failure_reason) == (S.PROCESSING, None)
    invoice.register(CHARGE)
    assert invoice.status is S.AWAITING_PAYMENT


@pytest.mark.parametrize("field", ["fine_percent", "interest_monthly_percent"])
def test_late_fee_terms_outside_0_to_100_are_refused(field: str) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        an_invoice(**{field: "100.01"})
    assert refusal.value.field == field
