"""Panel contracts: every contract (contratação) with its client's name."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from psycopg import sql

from domain.contracts import Contract, ContractStatus, SuspensionReason
from projections.common import CLIENT_NAMES, KeepsClientNames
from projections.pages import Page, Row, check_limit, decode_cursor, page_of
from projections.store import Rows, Table
from projections.view import View, by_originator, on

CONTRACTS = Table(
    "contracts",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "client_id": "uuid",
        "status": "text",
        "created_at": "timestamptz",
        "activated_at": "timestamptz",
        "updated_at": "timestamptz",
        "seq": "bigint",
        "plan_description": "text",
        "plan_amount_cents": "bigint",
        "plan_due_day": "integer",
        "suspension_reason": "text",
    },
    indexes=(
        ("reseller_id", "seq DESC"),
        ("reseller_id", "client_id"),
        ("suspension_reason",),
    ),
)

_SELECT = (
    "SELECT c.*, n.name AS client_name FROM {0}.contracts c "
    "JOIN {0}.client_names n ON n.id = c.client_id "
)


class PanelContracts(KeepsClientNames, View):
    """One row per contract; status changes update it."""

    name = "panel_contracts"
    tables: ClassVar = (CONTRACTS, CLIENT_NAMES)

    @on(Contract.Opened)
    def _opened(self, rows: Rows, event: Contract.Opened, position: int) -> None:
        rows.put(
            CONTRACTS,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "client_id": event.client_id,
                "status": ContractStatus.TRIAL,
                "created_at": event.timestamp,
                "activated_at": None,
                "updated_at": event.timestamp,
                "seq": position,
                "plan_description": None,
                "plan_amount_cents": None,
                "plan_due_day": None,
                "suspension_reason": None,
            },
        )

    @on(Contract.Activated, load=[(CONTRACTS, by_originator)])
    def _activated(self, rows: Rows, event: Contract.Activated, _position: int) -> None:
        rows.update(
            CONTRACTS,
            event.originator_id,
            status=ContractStatus.ACTIVE,
            activated_at=event.activated_at,
            suspension_reason=None,
            updated_at=event.timestamp,
        )

    @on(Contract.Suspended, load=[(CONTRACTS, by_originator)])
    def _suspended(self, rows: Rows, event: Contract.Suspended, _position: int) -> None:
        rows.update(
            CONTRACTS,
            event.originator_id,
            status=ContractStatus.SUSPENDED,
            suspension_reason=event.reason,
            updated_at=event.timestamp,
        )

    @on(Contract.Reinstated, load=[(CONTRACTS, by_originator)])
    def _reinstated(
        self, rows: Rows, event: Contract.Reinstated, _position: int
    ) -> None:
        rows.update(
            CONTRACTS,
            event.originator_id,
            status=ContractStatus.ACTIVE,
            suspension_reason=None,
            updated_at=event.timestamp,
        )

    @on(Contract.PlanChanged, load=[(CONTRACTS, by_originator)])
    def _plan_changed(
        self, rows: Rows, event: Contract.PlanChanged, _position: int
    ) -> None:
        rows.update(
            CONTRACTS,
            event.originator_id,
            plan_description=event.description,
            plan_amount_cents=event.amount_cents,
            plan_due_day=event.due_day,
            updated_at=event.timestamp,
        )

    @on(Contract.PlanRemoved, load=[(CONTRACTS, by_originator)])
    def _plan_removed(
        self, rows: Rows, event: Contract.PlanRemoved, _position: int
    ) -> None:
        rows.update(
            CONTRACTS,
            event.originator_id,
            plan_description=None,
            plan_amount_cents=None,
            plan_due_day=None,
            updated_at=event.timestamp,
        )

    @on(Contract.Cancelled, load=[(CONTRACTS, by_originator)])
    def _cancelled(self, rows: Rows, event: Contract.Cancelled, _position: int) -> None:
        rows.update(
            CONTRACTS,
            event.originator_id,
            status=ContractStatus.CANCELLED,
            suspension_reason=None,
            updated_at=event.timestamp,
        )

    def query(
        self,
        reseller_id: UUID,
        *,
        status: str | None = None,
        client_id: UUID | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Contracts newest first, filtered by status and client."""
        conditions = [sql.SQL("c.reseller_id = %s")]
        params: list[Any] = [reseller_id]
        if status is not None:
            conditions.append(sql.SQL("c.status = %s"))
            params.append(status)
        if client_id is not None:
            conditions.append(sql.SQL("c.client_id = %s"))
            params.append(client_id)
        if cursor is not None:
            (seq,) = decode_cursor(cursor, 1)
            conditions.append(sql.SQL("c.seq < %s"))
            params.append(int(seq))
        statement = sql.SQL(_SELECT + "WHERE {1} ORDER BY c.seq DESC LIMIT %s").format(
            sql.Identifier(self.schema), sql.SQL(" AND ").join(conditions)
        )
        params.append(check_limit(limit) + 1)
        rows = self.fetch_all(statement, params)
        return page_of(rows, limit, "seq")

    def get(self, reseller_id: UUID, contract_id: UUID) -> Row | None:
        """One contract of the tenant, or ``None``."""
        statement = sql.SQL(_SELECT + "WHERE c.reseller_id = %s AND c.id = %s").format(
            sql.Identifier(self.schema)
        )
        return self.fetch_one(statement, (reseller_id, contract_id))

    def billable(self, reseller_id: UUID) -> list[UUID]:
        """The tenant's active contracts with a plan, oldest first."""
        statement = sql.SQL(
            "SELECT id FROM {}.contracts WHERE reseller_id = %s AND status = {} "
            "AND plan_amount_cents IS NOT NULL ORDER BY seq"
        ).format(sql.Identifier(self.schema), sql.Literal(ContractStatus.ACTIVE.value))
        return [row["id"] for row in self.fetch_all(statement, (reseller_id,))]

    def suspended_for_overdue(self) -> list[tuple[UUID, UUID]]:
        """(tenant, contract) of every contract suspended for overdue debts."""
        statement = sql.SQL(
            "SELECT reseller_id, id FROM {}.contracts WHERE status = {} "
            "AND suspension_reason = {}"
        ).format(
            sql.Identifier(self.schema),
            sql.Literal(ContractStatus.SUSPENDED.value),
            sql.Literal(SuspensionReason.OVERDUE.value),
        )
        return [
            (row["reseller_id"], row["id"]) for row in self.fetch_all(statement, ())
        ]
