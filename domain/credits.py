"""Customer credit: money received beyond what an invoice was owed.

A credit is born from one payment (an overpayment, or a payment of an invoice that
was already paid or refunded) and its id is derived from that payment's, so it is
saved in the same transaction as the payment that created it and a redelivered
payment cannot create it twice. It stays ``available`` until the reseller records
that the money was given back (``refunded``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.errors import InvalidTransitionError, NotFoundError
from domain.money import check_amount_cents
from domain.text import required_text
from domain.vocabulary import CreditStatus

MAX_REASON_LENGTH = 500


class CreditOrigin(StrEnum):
    """Why money became a credit."""

    OVERPAYMENT = "overpayment"
    """A payment beyond the invoice's balance and the late fees allowed."""
    DUPLICATE_PAYMENT = "duplicate_payment"
    """A payment of an invoice that was already paid or refunded."""


class CreditNotFoundError(NotFoundError):
    """No such credit in the tenant."""


def credit_id_for(payment_id: UUID) -> UUID:
    """The id of the credit a payment leaves, if it leaves one."""
    return derived_id("customer-credit", payment_id)


class Credit(LedgerAggregate):
    """A customer's credit with the reseller."""

    TOPIC = "revenda.Credit"

    class Created(LedgerAggregate.Event, AggregateCreated):
        """A payment left money beyond what was owed."""

        TOPIC = "revenda.Credit.Created"
        customer_id: UUID
        invoice_id: UUID
        invoice_code: int
        payment_id: UUID
        amount_cents: int
        origin: str

    class Refunded(LedgerAggregate.Event):
        """The reseller gave the money back to the customer."""

        TOPIC = "revenda.Credit.Refunded"
        reason: str
        refunded_at: datetime

    @event(Created)
    def __init__(  # noqa: PLR0913 - the fields of the created event
        self,
        *,
        reseller_id: UUID,
        customer_id: UUID,
        invoice_id: UUID,
        invoice_code: int,
        payment_id: UUID,
        amount_cents: int,
        origin: str,
    ) -> None:
        self.reseller_id = reseller_id
        self.customer_id = customer_id
        self.invoice_id = invoice_id
        self.invoice_code = invoice_code
        self.payment_id = payment_id
        self.amount_cents = amount_cents
        self.origin = CreditOrigin(origin)
        self.status = CreditStatus.AVAILABLE
        self.refunded_at: datetime | None = None
        self.refund_reason: str | None = None

    @classmethod
    def create(  # noqa: PLR0913 - one argument per field
        cls,
        *,
        reseller_id: UUID,
        customer_id: UUID,
        invoice_id: UUID,
        invoice_code: int,
        payment_id: UUID,
        amount_cents: int,
        origin: CreditOrigin,
    ) -> Self:
        """The credit left by payment ``payment_id``."""
        check_amount_cents(amount_cents)
        return cls._create(
            cls.Created,
            id=credit_id_for(payment_id),
            reseller_id=reseller_id,
            customer_id=customer_id,
            invoice_id=invoice_id,
            invoice_code=invoice_code,
            payment_id=payment_id,
            amount_cents=amount_cents,
            origin=origin.value,
        )

    def refund(self, reason: str, at: datetime) -> None:
        """Record that the money was given back; only an available credit can be."""
        if self.status is not CreditStatus.AVAILABLE:
            raise InvalidTransitionError("credit", self.status.value, "refund")
        self._refunded(
            reason=required_text(reason, "reason", MAX_REASON_LENGTH), refunded_at=at
        )

    @event(Refunded)
    def _refunded(self, reason: str, refunded_at: datetime) -> None:
        self.status = CreditStatus.REFUNDED
        self.refund_reason = reason
        self.refunded_at = refunded_at
