"""Billing: the reseller's billing runs, and its settings the daily sweep needs.

Runs newest first; which resellers the sweep bills automatically or duns.
"""

from __future__ import annotations

import json
from typing import ClassVar
from uuid import UUID

from psycopg import sql

from domain.billing_runs import BillingRun
from domain.resellers import Reseller
from projections.pages import Page, Row
from projections.store import Rows, Table
from projections.view import View, on

RUNS = Table(
    "billing_runs",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "reference": "text",
        "issue_date": "date",
        "issued": "integer",
        "skipped": "integer",
        "invoice_ids": "text",
        "automatic": "boolean",
        "created_at": "timestamptz",
        "seq": "bigint",
    },
    indexes=(("reseller_id", "seq DESC"),),
)
SETTINGS = Table(
    "billing_settings",
    {
        "reseller_id": "uuid",
        "suspend_after_days_overdue": "integer",
        "auto_billing_day": "integer",
    },
    key="reseller_id",
    indexes=(("auto_billing_day",),),
)


def invoice_ids_of(row: Row) -> list[str]:
    """The invoice ids a run issued (kept as JSON text, like invoice payments)."""
    ids: list[str] = json.loads(row["invoice_ids"])
    return ids


class Billing(View):
    """One row per billing run; one row per reseller that changed its settings."""

    name = "billing"
    tables: ClassVar = (RUNS, SETTINGS)

    @on(BillingRun.Completed)
    def _completed(
        self, rows: Rows, event: BillingRun.Completed, position: int
    ) -> None:
        rows.put(
            RUNS,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "reference": event.reference,
                "issue_date": event.issue_date,
                "issued": event.issued,
                "skipped": event.skipped,
                "invoice_ids": json.dumps(event.invoice_ids),
                "automatic": event.automatic,
                "created_at": event.timestamp,
                "seq": position,
            },
        )

    @on(Reseller.BillingSettingsChanged)
    def _settings(
        self, rows: Rows, event: Reseller.BillingSettingsChanged, _position: int
    ) -> None:
        rows.put(
            SETTINGS,
            {
                "reseller_id": event.originator_id,
                "suspend_after_days_overdue": event.suspend_after_days_overdue,
                "auto_billing_day": event.auto_billing_day,
            },
        )

    def runs(
        self, reseller_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """The tenant's billing runs, newest first."""
        return self.newest_first(
            "billing_runs", reseller_id, q=None, limit=limit, cursor=cursor
        )

    def auto_billing_resellers(self, day: int) -> list[UUID]:
        """Resellers whose automatic billing day is ``day``."""
        statement = sql.SQL(
            "SELECT reseller_id FROM {}.billing_settings WHERE auto_billing_day = %s"
        ).format(sql.Identifier(self.schema))
        return [row["reseller_id"] for row in self.fetch_all(statement, (day,))]

    def dunning_resellers(self) -> list[UUID]:
        """Resellers that suspend contracts for overdue debts."""
        statement = sql.SQL(
            "SELECT reseller_id FROM {}.billing_settings "
            "WHERE suspend_after_days_overdue IS NOT NULL"
        ).format(sql.Identifier(self.schema))
        return [row["reseller_id"] for row in self.fetch_all(statement, ())]
