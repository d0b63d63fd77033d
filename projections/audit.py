"""The tenant's audit feed: every event in log order, with its data.

Secrets never reach the feed: a user's password hash is left out of the data.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from psycopg import sql

from projections.pages import Row
from projections.store import Rows, Table
from projections.view import View, event_data

EVENTS = Table(
    "events",
    {
        "position": "bigint",
        "reseller_id": "uuid",
        "aggregate_id": "uuid",
        "aggregate_type": "text",
        "version": "bigint",
        "type": "text",
        "recorded_at": "timestamptz",
        "data": "jsonb",
    },
    key="position",
    indexes=(("reseller_id", "position"),),
)
HIDDEN_FIELDS = frozenset({"password_hash"})
MAX_AUDIT_LIMIT = 1000


class AuditFeed(View):
    """One row per event of the log."""

    name = "audit"
    tables: ClassVar = (EVENTS,)

    def apply(self, rows: Rows, event: Any, position: int) -> None:  # noqa: ANN401
        """Every event is recorded, whatever its type."""
        event_type = type(event).__qualname__
        rows.put(
            EVENTS,
            {
                "position": position,
                "reseller_id": getattr(event, "reseller_id", None),
                "aggregate_id": event.originator_id,
                "aggregate_type": event_type.partition(".")[0],
                "version": event.originator_version,
                "type": event_type,
                "recorded_at": event.timestamp,
                "data": event_data(event, HIDDEN_FIELDS),
            },
        )

    def query(self, reseller_id: UUID, *, after: int = 0, limit: int = 50) -> list[Row]:
        """The tenant's events after ``after``, in log order."""
        statement = sql.SQL(
            "SELECT * FROM {}.events WHERE reseller_id = %s AND position > %s "
            "ORDER BY position LIMIT %s"
        ).format(sql.Identifier(self.schema))
        return self.fetch_all(statement, (reseller_id, after, limit))
