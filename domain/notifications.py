"""Provider notification: one partner event, processed at most once.

Its id is derived from the provider's name and the provider's own event id, and it is
saved in the same transaction as the effect it had on an invoice. A second delivery of
the same event, even a concurrent one, therefore fails on the store's unique version
constraint instead of paying an invoice twice. A notification that does not apply to
the invoice's state is still recorded, as ``ignored``, so that its redelivery is
recognised too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.errors import InvalidInputError
from domain.text import has_control_characters

MAX_PROVIDER_EVENT_ID_LENGTH = 255


class NotificationKind(StrEnum):
    """What the partner said about an invoice."""

    PAYMENT_RECEIVED = "payment.received"
    PAYMENT_OVERDUE = "payment.overdue"
    PAYMENT_REFUNDED = "payment.refunded"
    PAYMENT_DELETED = "payment.deleted"
    PAYMENT_UNDONE = "payment.undone"


class Outcome(StrEnum):
    """What the notification did."""

    APPLIED = "applied"
    IGNORED = "ignored"


def notification_id_for(provider: str, provider_event_id: str) -> UUID:
    """The id under which a provider's event is recorded."""
    if (
        not provider_event_id
        or len(provider_event_id) > MAX_PROVIDER_EVENT_ID_LENGTH
        or has_control_characters(provider_event_id)
    ):
        raise InvalidInputError("id", "must have 1 to 255 characters, no controls")
    return derived_id("provider-notification", provider, provider_event_id)


class ProviderNotification(LedgerAggregate):
    """The record that one partner event was processed, and how."""

    TOPIC = "revenda.ProviderNotification"

    class Processed(LedgerAggregate.Event, AggregateCreated):
        """A partner event was processed once, with this outcome."""

        TOPIC = "revenda.ProviderNotification.Processed"
        provider: str
        provider_event_id: str
        invoice_id: UUID
        kind: str
        outcome: str
        detail: str

    @event(Processed)
    def __init__(  # noqa: PLR0913 - the fields of the created event
        self,
        *,
        reseller_id: UUID,
        provider: str,
        provider_event_id: str,
        invoice_id: UUID,
        kind: str,
        outcome: str,
        detail: str,
    ) -> None:
        self.reseller_id = reseller_id
        self.provider = provider
        self.provider_event_id = provider_event_id
        self.invoice_id = invoice_id
        self.kind = NotificationKind(kind)
        self.outcome = Outcome(outcome)
        self.detail = detail

    @classmethod
    def process(  # noqa: PLR0913 - one argument per field
        cls,
        *,
        reseller_id: UUID,
        provider: str,
        provider_event_id: str,
        invoice_id: UUID,
        kind: NotificationKind,
        outcome: Outcome,
        detail: str = "",
    ) -> Self:
        """Record that ``provider_event_id`` was processed with ``outcome``."""
        return cls._create(
            cls.Processed,
            id=notification_id_for(provider, provider_event_id),
            reseller_id=reseller_id,
            provider=provider,
            provider_event_id=provider_event_id,
            invoice_id=invoice_id,
            kind=kind.value,
            outcome=outcome.value,
            detail=detail,
        )
