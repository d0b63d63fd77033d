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

A contract may carry a plan (``PlanChanged``/``PlanRemoved``): what the monthly
billing run invoices it. A suspension records its reason (``manual`` when the
reseller suspends, ``overdue`` when dunning does); a contract suspended for overdue
debts is ``Reinstated`` by itself once its client owes nothing past due, while one
suspended by hand stays suspended until the reseller activates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.errors import InvalidInputError, InvalidTransitionError
from domain.money import check_amount_cents
from domain.text import required_text

MAX_PLAN_DESCRIPTION_LENGTH = 200
FIRST_DUE_DAY, LAST_DUE_DAY = 1, 28
"""Every month has a 28th: a plan's due day exists in every reference month."""


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


class SuspensionReason(StrEnum):
    """Why a contract is suspended."""

    MANUAL = "manual"
    """The reseller suspended it; it stays so until the reseller activates it."""
    OVERDUE = "overdue"
    """Dunning suspended it; paying what is past due reinstates it by itself."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a contract is billed every month: description, amount and due day."""

    description: str
    amount_cents: int
    due_day: int

    @classmethod
    def parse(cls, description: object, amount_cents: object, due_day: object) -> Plan:
        """A validated plan, or ``InvalidInputError`` naming the field."""
        if not isinstance(description, str):
            raise InvalidInputError("plan.description", "must be text")
        text = required_text(
            description, "plan.description", MAX_PLAN_DESCRIPTION_LENGTH
        )
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
            raise InvalidInputError("plan.amount", "must be an amount")
        check_amount_cents(amount_cents, "plan.amount")
        if (
            isinstance(due_day, bool)
            or not isinstance(due_day, int)
            or not FIRST_DUE_DAY <= due_day <= LAST_DUE_DAY
        ):
            msg = f"must be a whole number from {FIRST_DUE_DAY} to {LAST_DUE_DAY}"
            raise InvalidInputError("plan.due_day", msg)
        return cls(text, amount_cents, due_day)


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
    "reinstate": {ContractStatus.SUSPENDED: ContractStatus.ACTIVE},
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
        """The active contract was suspended, by hand or for overdue debts."""

        TOPIC = "revenda.Contract.Suspended"
        suspended_at: datetime
        reason: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Before dunning, only the reseller suspended contracts."""
            state["reason"] = SuspensionReason.MANUAL.value

    class Cancelled(LedgerAggregate.Event):
        """The contract was cancelled; the client may get a new one."""

        TOPIC = "revenda.Contract.Cancelled"
        cancelled_at: datetime

    class PlanChanged(LedgerAggregate.Event):
        """The contract got a plan, or a new one (the whole plan)."""

        TOPIC = "revenda.Contract.PlanChanged"
        description: str
        amount_cents: int
        due_day: int

    class PlanRemoved(LedgerAggregate.Event):
        """The contract's plan was removed: billing runs skip it."""

        TOPIC = "revenda.Contract.PlanRemoved"

    class Reinstated(LedgerAggregate.Event):
        """A contract suspended for overdue debts is active again.

        Its client owes nothing past due any more.
        """

        TOPIC = "revenda.Contract.Reinstated"
        reinstated_at: datetime
        reason: str

    @event(Opened)
    def __init__(self, *, reseller_id: UUID, client_id: UUID, sequence: int) -> None:
        self.reseller_id = reseller_id
        self.client_id = client_id
        self.sequence = sequence
        self.status = ContractStatus.TRIAL
        self.activated_at: datetime | None = None
        self.plan: Plan | None = None
        self.suspension_reason: SuspensionReason | None = None

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
        self.suspension_reason = None

    def suspend(
        self, at: datetime, reason: SuspensionReason = SuspensionReason.MANUAL
    ) -> None:
        """Suspend an active contract, by hand unless dunning says otherwise."""
        self._check("suspend")
        self._suspended(suspended_at=at, reason=SuspensionReason(reason).value)

    @event(Suspended)
    def _suspended(self, suspended_at: datetime, reason: str) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = ContractStatus.SUSPENDED
        self.suspension_reason = SuspensionReason(reason)

    def reinstate(self, at: datetime, reason: str = "paid") -> None:
        """Make a contract suspended for overdue debts active again.

        A contract suspended by hand is refused: only the reseller lifts that.
        """
        self._check("reinstate")
        if self.suspension_reason is not SuspensionReason.OVERDUE:
            raise InvalidTransitionError(
                "contract",
                f"{self.status.value} ({self.suspension_reason})",
                "reinstate",
            )
        self._reinstated(reinstated_at=at, reason=reason)

    @event(Reinstated)
    def _reinstated(self, reinstated_at: datetime, reason: str) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = ContractStatus.ACTIVE
        self.suspension_reason = None

    def change_plan(self, plan: Plan | None) -> bool:
        """Give the contract ``plan`` (``None`` removes it); whether it changed."""
        if not self.is_open:
            raise InvalidTransitionError(
                "contract", self.status.value, "change the plan of"
            )
        if plan == self.plan:
            return False
        if plan is None:
            self._plan_removed()
        else:
            self._plan_changed(
                description=plan.description,
                amount_cents=plan.amount_cents,
                due_day=plan.due_day,
            )
        return True

    @event(PlanChanged)
    def _plan_changed(self, description: str, amount_cents: int, due_day: int) -> None:
        self.plan = Plan(description, amount_cents, due_day)

    @event(PlanRemoved)
    def _plan_removed(self) -> None:
        self.plan = None

    def cancel(self, at: datetime) -> None:
        """Cancel a contract that is not cancelled yet."""
        self._check("cancel")
        self._cancelled(cancelled_at=at)

    @event(Cancelled)
    def _cancelled(self, cancelled_at: datetime) -> None:  # noqa: ARG002 - recorded for auditors
        self.status = ContractStatus.CANCELLED
        self.suspension_reason = None

    @property
    def is_open(self) -> bool:
        """Whether the contract still counts as the client's one contract."""
        return self.status is not ContractStatus.CANCELLED
