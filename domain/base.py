"""The base of every aggregate in the ledger: explicit topics and the tenant id.

Every event carries ``reseller_id``, the tenant it belongs to, so that any reader of
the log (views, auditors) can scope an event without loading its aggregate. Command
methods trigger events through ``trigger_event``, which stamps the aggregate's tenant
on each one.

Topics are explicit strings (``TOPIC``) rather than module paths: an event class can be
moved or renamed in code without orphaning the events already stored under its topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from eventsourcing.domain import AggregateEvent, BaseAggregate, CanMutateAggregate

LEDGER_NAMESPACE = UUID("8f6b3c52-4a57-4c1e-9d43-52c8e1b2a6f1")
"""Namespace of the deterministic (uuid5) ids that make uniqueness atomic."""


def derived_id(*parts: object) -> UUID:
    """A deterministic id from its parts: the same parts always give the same id."""
    return uuid5(LEDGER_NAMESPACE, "/".join(str(part) for part in parts))


class LedgerAggregate(BaseAggregate[UUID]):
    """Base aggregate: every event it triggers carries the tenant id."""

    TOPIC = "revenda.LedgerAggregate"

    if TYPE_CHECKING:  # Declared for type checkers only: a class annotation here
        # would turn every aggregate into a dataclass.
        reseller_id: UUID

    class Event(AggregateEvent):
        """Base event: the tenant it belongs to."""

        reseller_id: UUID

    def trigger_event(
        self, event_class: type[CanMutateAggregate[UUID]], **kwargs: object
    ) -> None:
        """Trigger ``event_class`` stamped with this aggregate's tenant."""
        kwargs.setdefault("reseller_id", self.reseller_id)
        super().trigger_event(event_class, **kwargs)
