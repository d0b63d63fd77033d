"""Contract (contratação): what lets a reseller bill a client.

Lifecycle::

    trial ──activate──▶ active ──suspend──▶ suspended
      │                   ▲  │                 │
      │                   │  └──cancel──┐      │
      │                   └──activate───┼──────┤
      └──────cancel─────────────────────▼──────┘
                                    cancelled

A client has at most one contract that is not cancelled. Contract ids are derived
from the client and a sequence number (1, 2, ...): opening contract *n* + 1 is only
tried once contract *n* is cancelled, and two concurrent openings derive the same id,
so the store's unique version constraint lets exactly one of them through.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.errors import InvalidTransitionError


class ContractStatus(StrEnum):
    """The states of a contract."""

    TRIAL = "trial"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The Portuguese label shown to people."""
        return _LABELS[self]


_LABELS = {
    ContractStatus.TRIAL: "Em Teste",
    ContractStatus.ACTIVE: "Ativo",
    ContractStatus.SUSPENDED: "Suspenso",
    ContractStatus.CANCELLED: "Cancelado",
}

TRANSITIONS: dict[str, dict[ContractStatus, ContractStatus]] = {
    "activate": {
        ContractStatus.TRIAL: ContractStatus.ACTIVE,
        ContractStatus.SUSPENDED: ContractStatus.ACTIVE,
    },
    "suspend": {ContractStatus.ACTIVE: ContractStatus.SUSPENDED},
    "cancel": {
        ContractStatus.TRIAL: ContractStatus.CANCELLED,
        ContractStatus.ACTIVE: ContractStatus.CANCELLED,
        ContractStatus.SUSPENDED: ContractStatus.CANCELLED,
    },
}
"""Allowed transitions by action: from-status → to-status. Anything else is refused."""


def contract_id_for(client_id: UUID, sequence: int) -> UUID:
    """The id of the client's ``sequence``-th contract (1-based)."""
    return derived_id("contract", client_id, sequence)


class Contract(LedgerAggregate):
    """A client's contract with its reseller."""

    TOPIC = "revenda.Contract"

    class Opened(LedgerAggregate.Event, AggregateCreated):
        """A contract was opened for a client, in trial."""

        TOPIC = "revenda.Contract.Opened"
        client_id: UUID
        sequence: int

    class Activated(LedgerAggregate.Event):
        """The contract became active (from trial or suspended)."""

        TOPIC = "revenda.Contract.Activated"
        activated_at: datetime

    class Suspended(LedgerAggregate.Event):
        """The active contract was suspended."""

        TOPIC = "revenda.Contract.Suspended"
        suspended_at: datetime

    class Cancelled(LedgerAggregate.Event):
        """The contract was cancelled; the client may get a new one."""

        TOPIC = "revenda.Contract.Cancelled"
        cancelled_at: datetime

    @event(Opened)
    def __init__(self, *, reseller_id: UUID, client_id: UUID, sequence: int) -> None:
        self.reseller_id = reseller_id
        self.client_id = client_id
        self.sequence = sequence
        self.status = ContractStatus.TRIAL
        self.activated_at: datetime | None = None

    @classmethod
    def open(cls, reseller_id: UUID, client_id: UUID, sequence: int) -> Self:
        """Open the client's ``sequence``-th contract, in trial."""
        return cls._create(
            cls.Opened,
            id=contract_id_for(client_id, sequence),
            reseller_id=reseller_id,
            client_id=client_id,
            sequence=sequence,
        )

    def _check(self, action: str) -> None:
        if self.status not in TRANSITIONS[action]:
            raise InvalidTransitionError("contract", self.status.value, action)

    def activate(self, at: datetime) -> None:
        """Make the contract active (trial or suspended only)."""
        self._check("activate")
        self._activated(activated_at=at)

    @event(Activated)
    def _activated(self, activated_at: datetime) -> None:
        self.status = ContractStatus.ACTIVE
        self.activated_at = activated_at

    def suspend(self, at: datetime) -> None:
        """Suspend an active contract."""
        self._check("suspend")
        self._suspended(suspended_at=at)

    @event(Suspended)
    def _suspended(self, suspended_at: datetime) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = ContractStatus.SUSPENDED

    def cancel(self, at: datetime) -> None:
        """Cancel a contract that is not cancelled yet."""
        self._check("cancel")
        self._cancelled(cancelled_at=at)

    @event(Cancelled)
    def _cancelled(self, cancelled_at: datetime) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = ContractStatus.CANCELLED

    @property
    def is_open(self) -> bool:
        """Whether the contract still counts as the client's one contract."""
        return self.status is not ContractStatus.CANCELLED
