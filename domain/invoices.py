"""Invoice (fatura): a charge to a client, registered with the payment partner.

Lifecycle::

    processing ──registered──▶ awaiting_payment ──became overdue──▶ overdue
      │  ▲  └──registration failed──▶ failed      │                   │
      │  └──────────retried──────────────┘        ├─paid in part─▶ partially_paid
      │                                           ▼                   │
      │                                          paid ◀───────────────┘
      └──cancelled──▶ cancelled ◀──(from any unpaid state)   paid ──refunded──▶ refunded

A payment is the partner's word that money arrived, so it is recorded whatever the
invoice's state (``PaymentReceived``) and split: principal up to the balance, late
fees up to what is allowed on the payment date (``domain.fees``), and the rest is a
credit of the customer (``domain.credits``). A payment of a paid or refunded
invoice is all credit. A cancelled or failed invoice owes nothing, but a payment
that arrives for it still pays its amount: it becomes ``paid`` once nothing of its
amount is left unpaid. Any other event that does not apply to the current state
(an overdue notice for a paid invoice, say) is refused by the invoice and recorded
by the application only as an ignored notification.

``Paid`` is the payment event of version 0.1 (no split: it settled the invoice);
it still replays as it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.credits import CreditOrigin
from domain.errors import InvalidInputError, InvalidTransitionError
from domain.fees import late_fees_cents, parse_percent
from domain.money import check_amount_cents
from domain.periods import ReferencePeriod
from domain.text import required_text

MAX_DESCRIPTION_LENGTH = 500
MAX_REASON_LENGTH = 500
NO_PERCENT = "0.00"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


class InvoiceStatus(StrEnum):
    """The states of an invoice."""

    PROCESSING = "processing"
    AWAITING_PAYMENT = "awaiting_payment"
    OVERDUE = "overdue"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        """The Portuguese label shown to people."""
        return _LABELS[self]


_LABELS = {
    InvoiceStatus.PROCESSING: "Em Processamento",
    InvoiceStatus.AWAITING_PAYMENT: "Aguardando Pagamento",
    InvoiceStatus.OVERDUE: "Vencida",
    InvoiceStatus.PARTIALLY_PAID: "Pago Parcialmente",
    InvoiceStatus.PAID: "Pago",
    InvoiceStatus.CANCELLED: "Cancelada",
    InvoiceStatus.FAILED: "Falha no Registro",
    InvoiceStatus.REFUNDED: "Estornada",
}

_S = InvoiceStatus
TRANSITIONS: dict[str, frozenset[InvoiceStatus]] = {
    "register": frozenset({_S.PROCESSING}),
    "fail registration of": frozenset({_S.PROCESSING}),
    "retry registration of": frozenset({_S.FAILED}),
    "mark overdue": frozenset({_S.AWAITING_PAYMENT}),
    "cancel": frozenset(
        {_S.PROCESSING, _S.AWAITING_PAYMENT, _S.OVERDUE, _S.PARTIALLY_PAID, _S.FAILED}
    ),
    "refund": frozenset({_S.PAID}),
}
"""The statuses each action is allowed from (a payment is taken in any status)."""
SETTLED_BEFORE = frozenset({_S.PAID, _S.REFUNDED})
"""A payment in these statuses is a duplicate: all of it is credit."""
OWES_NOTHING = frozenset({_S.CANCELLED, _S.FAILED, _S.REFUNDED})
"""Statuses whose balance is 0: nothing is owed through the partner."""


class PaymentMethod(StrEnum):
    """How the client paid."""

    BOLETO = "boleto"
    PIX = "pix"

    @classmethod
    def parse(cls, value: str) -> PaymentMethod:
        """The method named ``value``, or ``InvalidInputError``."""
        try:
            return cls(value)
        except ValueError:
            raise InvalidInputError("method", "must be boleto or pix") from None


def balance_of(status: InvoiceStatus, amount_cents: int, principal_cents: int) -> int:
    """What is still owed of an invoice's amount: nothing once paid or owing nothing."""
    if status in OWES_NOTHING or status is InvoiceStatus.PAID:
        return 0
    return amount_cents - principal_cents


def status_after_payment(
    status: InvoiceStatus, principal_paid_cents: int, amount_cents: int
) -> InvoiceStatus:
    """The status a payment leaves, given the principal paid so far in all.

    Paid once nothing of the amount is unpaid; partly paid while some is, unless
    the invoice owes nothing (cancelled, failed); a duplicate changes nothing.
    The views follow payments with this too.
    """
    if status in SETTLED_BEFORE:
        return status
    if principal_paid_cents == amount_cents:
        return InvoiceStatus.PAID
    if principal_paid_cents and status not in OWES_NOTHING:
        return InvoiceStatus.PARTIALLY_PAID
    return status


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment the partner notified, and how it was split."""

    id: UUID
    amount_cents: int
    principal_cents: int
    fees_cents: int
    credit_cents: int
    credit_origin: CreditOrigin | None
    method: PaymentMethod
    paid_at: datetime
    provider_event_id: str


@dataclass(frozen=True, slots=True)
class Charge:
    """What the payment partner returned when it registered the invoice."""

    charge_id: str
    bank_code: str
    our_number: str
    barcode: str
    digitable_line: str
    pix_emv: str


class Invoice(LedgerAggregate):
    """An invoice issued by a reseller to a client with an active contract."""

    TOPIC = "revenda.Invoice"

    class Issued(LedgerAggregate.Event, AggregateCreated):
        """The invoice was issued with the next code of its reseller."""

        TOPIC = "revenda.Invoice.Issued"
        client_id: UUID
        contract_id: UUID
        code: int
        description: str
        amount_cents: int
        issue_date: date
        due_date: date
        reference_month: str
        reference_year: str
        fine_percent: str
        interest_monthly_percent: str
        billing_reference: str | None

        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Invoices of version 0.1 charged no late fees."""
            state["fine_percent"] = NO_PERCENT
            state["interest_monthly_percent"] = NO_PERCENT

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Invoices before billing runs were all typed by hand."""
            state["billing_reference"] = None

    class Registered(LedgerAggregate.Event):
        """The payment partner registered the charge: boleto and Pix."""

        TOPIC = "revenda.Invoice.Registered"
        charge_id: str
        bank_code: str
        our_number: str
        barcode: str
        digitable_line: str
        pix_emv: str

    class RegistrationFailed(LedgerAggregate.Event):
        """The payment partner refused the charge."""

        TOPIC = "revenda.Invoice.RegistrationFailed"
        reason: str

    class RegistrationRetried(LedgerAggregate.Event):
        """The reseller asked to register a failed invoice again."""

        TOPIC = "revenda.Invoice.RegistrationRetried"
        retried_at: datetime

    class BecameOverdue(LedgerAggregate.Event):
        """The due date passed without payment."""

        TOPIC = "revenda.Invoice.BecameOverdue"
        as_of: date

    class Paid(LedgerAggregate.Event):
        """The partner notified that the client paid."""

        TOPIC = "revenda.Invoice.Paid"
        amount_cents: int
        paid_at: datetime
        method: str

    class PaymentReceived(LedgerAggregate.Event):
        """The partner notified a payment: its amount, and how it was split."""

        TOPIC = "revenda.Invoice.PaymentReceived"
        payment_id: UUID
        amount_cents: int
        principal_cents: int
        fees_cents: int
        credit_cents: int
        credit_origin: str | None
        paid_at: datetime
        method: str
        provider_event_id: str

    class Cancelled(LedgerAggregate.Event):
        """The reseller cancelled the invoice."""

        TOPIC = "revenda.Invoice.Cancelled"
        reason: str
        cancelled_at: datetime

    class Refunded(LedgerAggregate.Event):
        """The partner notified that the payment was returned to the client."""

        TOPIC = "revenda.Invoice.Refunded"
        amount_cents: int
        refunded_at: datetime

    @event(Issued)
    def __init__(  # noqa: PLR0913 - the fields of the created event
        self,
        *,
        reseller_id: UUID,
        client_id: UUID,
        contract_id: UUID,
        code: int,
        description: str,
        amount_cents: int,
        issue_date: date,
        due_date: date,
        reference_month: str,
        reference_year: str,
        fine_percent: str,
        interest_monthly_percent: str,
        billing_reference: str | None,
    ) -> None:
        self.reseller_id = reseller_id
        self.billing_reference = billing_reference
        self.client_id = client_id
        self.contract_id = contract_id
        self.code = code
        self.description = description
        self.amount_cents = amount_cents
        self.issue_date = issue_date
        self.due_date = due_date
        self.reference_month = reference_month
        self.reference_year = reference_year
        self.status = InvoiceStatus.PROCESSING
        self.charge: Charge | None = None
        self.failure_reason: str | None = None
        self.fine_percent = Decimal(fine_percent)
        self.interest_monthly_percent = Decimal(interest_monthly_percent)
        self.principal_paid_cents = 0
        self.amount_fees_cents = 0
        self.payments: tuple[Payment, ...] = ()
        self.paid_at: datetime | None = None
        self.payment_method: PaymentMethod | None = None
        self.cancellation_reason: str | None = None
        self.refunded_at: datetime | None = None

    @classmethod
    def issue(  # noqa: PLR0913 - one argument per field of the invoice
        cls,
        *,
        invoice_id: UUID,
        reseller_id: UUID,
        client_id: UUID,
        contract_id: UUID,
        code: int,
        description: str,
        amount_cents: int,
        issue_date: date,
        due_date: date,
        period: ReferencePeriod,
        fine_percent: Decimal | str = NO_PERCENT,
        interest_monthly_percent: Decimal | str = NO_PERCENT,
        billing_reference: str | None = None,
    ) -> Self:
        """Validate and issue an invoice with an already assigned ``code``."""
        check_amount_cents(amount_cents)
        fine = parse_percent(fine_percent, "fine_percent")
        interest = parse_percent(interest_monthly_percent, "interest_monthly_percent")
        if due_date < issue_date:
            raise InvalidInputError("due_date", "must not be before issue_date")
        return cls._create(
            cls.Issued,
            id=invoice_id,
            reseller_id=reseller_id,
            client_id=client_id,
            contract_id=contract_id,
            code=code,
            description=required_text(
                description, "description", MAX_DESCRIPTION_LENGTH, line_breaks=True
            ),
            amount_cents=amount_cents,
            issue_date=issue_date,
            due_date=due_date,
            reference_month=period.month,
            reference_year=period.year,
            fine_percent=str(fine),
            interest_monthly_percent=str(interest),
            billing_reference=billing_reference,
        )

    @property
    def amount_paid_cents(self) -> int:
        """What was paid towards the invoice: principal plus late fees."""
        return self.principal_paid_cents + self.amount_fees_cents

    @property
    def balance_cents(self) -> int:
        """What is still owed of the amount (0 once it owes nothing)."""
        return balance_of(self.status, self.amount_cents, self.principal_paid_cents)

    def late_fees_cents(self, paid_at: datetime) -> int:
        """The late fees allowed for a payment at ``paid_at`` (São Paulo date)."""
        return late_fees_cents(
            amount_cents=self.amount_cents,
            fine_percent=self.fine_percent,
            interest_monthly_percent=self.interest_monthly_percent,
            due_date=self.due_date,
            paid_on=paid_at.astimezone(SAO_PAULO).date(),
        )

    def owed_cents(self, paid_at: datetime) -> int:
        """What the client owes if paying at ``paid_at``: balance plus late fees."""
        balance = self.balance_cents
        return balance + self.late_fees_cents(paid_at) if balance else 0

    def _check(self, action: str) -> None:
        if self.status not in TRANSITIONS[action]:
            raise InvalidTransitionError("invoice", self.status.value, action)

    def register(self, charge: Charge) -> None:
        """Record the partner's charge; the invoice now awaits payment."""
        self._check("register")
        self._registered(
            charge_id=charge.charge_id,
            bank_code=charge.bank_code,
            our_number=charge.our_number,
            barcode=charge.barcode,
            digitable_line=charge.digitable_line,
            pix_emv=charge.pix_emv,
        )

    @event(Registered)
    def _registered(  # noqa: PLR0913 - the fields of the event
        self,
        *,
        charge_id: str,
        bank_code: str,
        our_number: str,
        barcode: str,
        digitable_line: str,
        pix_emv: str,
    ) -> None:
        self.status = InvoiceStatus.AWAITING_PAYMENT
        self.charge = Charge(
            charge_id, bank_code, our_number, barcode, digitable_line, pix_emv
        )

    def fail_registration(self, reason: str) -> None:
        """Record the partner's refusal."""
        self._check("fail registration of")
        self._registration_failed(
            reason=required_text(reason, "reason", MAX_REASON_LENGTH)
        )

    @event(RegistrationFailed)
    def _registration_failed(self, reason: str) -> None:
        self.status = InvoiceStatus.FAILED
        self.failure_reason = reason

    def retry_registration(self, at: datetime) -> None:
        """Send a failed invoice to the partner again: it is processing once more."""
        self._check("retry registration of")
        self._registration_retried(retried_at=at)

    @event(RegistrationRetried)
    def _registration_retried(self, retried_at: datetime) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = InvoiceStatus.PROCESSING
        self.failure_reason = None

    def is_past_due(self, today: date) -> bool:
        """Whether the invoice awaits a payment that was due before ``today``."""
        return self.status is InvoiceStatus.AWAITING_PAYMENT and self.due_date < today

    def mark_overdue(self, as_of: date) -> None:
        """Mark an invoice awaiting payment as overdue."""
        self._check("mark overdue")
        self._became_overdue(as_of=as_of)

    @event(BecameOverdue)
    def _became_overdue(self, as_of: date) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = InvoiceStatus.OVERDUE

    def pay(
        self,
        amount_cents: int,
        paid_at: datetime,
        method: PaymentMethod,
        *,
        payment_id: UUID | None = None,
        provider_event_id: str = "",
    ) -> Payment:
        """Record a payment, in any status, split into principal, fees and credit."""
        check_amount_cents(amount_cents)
        if self.status in SETTLED_BEFORE:
            principal, fees = 0, 0
            origin: CreditOrigin | None = CreditOrigin.DUPLICATE_PAYMENT
        else:
            unpaid = self.amount_cents - self.principal_paid_cents
            principal = min(amount_cents, unpaid)
            fees = 0
            if principal == unpaid:  # fees come after the whole principal
                fees = min(amount_cents - principal, self.late_fees_cents(paid_at))
            origin = CreditOrigin.OVERPAYMENT
        credit = amount_cents - principal - fees
        self._payment_received(
            payment_id=payment_id
            or derived_id("invoice-payment", self.id, self.version),
            amount_cents=amount_cents,
            principal_cents=principal,
            fees_cents=fees,
            credit_cents=credit,
            credit_origin=origin.value if credit and origin else None,
            paid_at=paid_at,
            method=method.value,
            provider_event_id=provider_event_id,
        )
        return self.payments[-1]

    @event(PaymentReceived)
    def _payment_received(  # noqa: PLR0913 - the fields of the event
        self,
        *,
        payment_id: UUID,
        amount_cents: int,
        principal_cents: int,
        fees_cents: int,
        credit_cents: int,
        credit_origin: str | None,
        paid_at: datetime,
        method: str,
        provider_event_id: str,
    ) -> None:
        payment = Payment(
            id=payment_id,
            amount_cents=amount_cents,
            principal_cents=principal_cents,
            fees_cents=fees_cents,
            credit_cents=credit_cents,
            credit_origin=CreditOrigin(credit_origin) if credit_origin else None,
            method=PaymentMethod(method),
            paid_at=paid_at,
            provider_event_id=provider_event_id,
        )
        self.payments = (*self.payments, payment)
        self.principal_paid_cents += principal_cents
        self.amount_fees_cents += fees_cents
        if principal_cents or fees_cents:
            self.paid_at = paid_at
            self.payment_method = payment.method
        self.status = status_after_payment(
            self.status, self.principal_paid_cents, self.amount_cents
        )

    @event(Paid)
    def _paid(self, amount_cents: int, paid_at: datetime, method: str) -> None:
        # Version 0.1's payment settled the invoice whatever the amount.
        self.status = InvoiceStatus.PAID
        self.principal_paid_cents = amount_cents
        self.paid_at = paid_at
        self.payment_method = PaymentMethod(method)

    def cancel(self, reason: str, at: datetime) -> None:
        """Cancel an invoice not paid nor cancelled yet (a failed one too)."""
        self._check("cancel")
        self._cancelled(
            reason=required_text(reason, "reason", MAX_REASON_LENGTH), cancelled_at=at
        )

    @event(Cancelled)
    def _cancelled(self, reason: str, cancelled_at: datetime) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = InvoiceStatus.CANCELLED
        self.cancellation_reason = reason

    def refund(self, amount_cents: int, refunded_at: datetime) -> None:
        """Record that a paid invoice's payment was returned."""
        self._check("refund")
        check_amount_cents(amount_cents)
        if amount_cents > self.amount_paid_cents:
            raise InvalidInputError("amount", "must not exceed the amount paid")
        self._refunded(amount_cents=amount_cents, refunded_at=refunded_at)

    @event(Refunded)
    def _refunded(self, amount_cents: int, refunded_at: datetime) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = InvoiceStatus.REFUNDED
        self.refunded_at = refunded_at
