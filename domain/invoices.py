"""Invoice (fatura): a charge to a client, registered with the payment partner.

Lifecycle::

    processing ──registered──▶ awaiting_payment ──became overdue──▶ overdue
        │   └──registration failed──▶ failed         │                 │
        │                                            ├──paid──▶ paid ◀─┤
        └──cancelled──▶ cancelled ◀──cancelled───────┴─────────────────┘
                           │                          paid ──refunded──▶ refunded
                           └──paid (late payment)──▶ paid

A payment is the partner's word that money arrived, so it is accepted for an overdue
and even for a cancelled invoice. An event that does not apply to the current state
(an overdue notice for a paid invoice, say) is refused by the invoice and recorded
by the application only as an ignored notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate
from domain.errors import InvalidInputError, InvalidTransitionError
from domain.money import check_amount_cents
from domain.periods import ReferencePeriod
from domain.text import required_text

MAX_DESCRIPTION_LENGTH = 500
MAX_REASON_LENGTH = 500


class InvoiceStatus(StrEnum):
    """The states of an invoice."""

    PROCESSING = "processing"
    AWAITING_PAYMENT = "awaiting_payment"
    OVERDUE = "overdue"
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
    InvoiceStatus.PAID: "Pago",
    InvoiceStatus.CANCELLED: "Cancelada",
    InvoiceStatus.FAILED: "Falha no Registro",
    InvoiceStatus.REFUNDED: "Estornada",
}

_S = InvoiceStatus
TRANSITIONS: dict[str, frozenset[InvoiceStatus]] = {
    "register": frozenset({_S.PROCESSING}),
    "fail registration of": frozenset({_S.PROCESSING}),
    "mark overdue": frozenset({_S.AWAITING_PAYMENT}),
    "pay": frozenset({_S.AWAITING_PAYMENT, _S.OVERDUE, _S.CANCELLED}),
    "cancel": frozenset({_S.PROCESSING, _S.AWAITING_PAYMENT, _S.OVERDUE}),
    "refund": frozenset({_S.PAID}),
}
"""The statuses each action is allowed from."""


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
    ) -> None:
        self.reseller_id = reseller_id
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
        self.amount_paid_cents = 0
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
    ) -> Self:
        """Validate and issue an invoice with an already assigned ``code``."""
        check_amount_cents(amount_cents)
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
        )

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

    def pay(self, amount_cents: int, paid_at: datetime, method: PaymentMethod) -> None:
        """Record a payment: from awaiting payment, overdue, or even cancelled."""
        self._check("pay")
        check_amount_cents(amount_cents)
        self._paid(amount_cents=amount_cents, paid_at=paid_at, method=method.value)

    @event(Paid)
    def _paid(self, amount_cents: int, paid_at: datetime, method: str) -> None:
        self.status = InvoiceStatus.PAID
        self.amount_paid_cents = amount_cents
        self.paid_at = paid_at
        self.payment_method = PaymentMethod(method)

    def cancel(self, reason: str, at: datetime) -> None:
        """Cancel an invoice that is not paid, failed or cancelled yet."""
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
