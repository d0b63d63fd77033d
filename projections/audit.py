"""The tenant's audit feed: every event in log order, with its data.

Secrets never reach the feed: a user's password hash is left out of the data. Each
row has the event's actor (stored in the event by the ledger's mapper) and, when
read, the event's hash in its tenant's chain, joined from the ledger's chain table
(``CHAIN_TABLE``): the hash belongs to the log, not to this view, so it is always the
one stored now, never a copy that tampering would leave behind.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

import orjson
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
        "actor": "jsonb",
    },
    key="position",
    indexes=(("reseller_id", "position"),),
)
HIDDEN_FIELDS = frozenset({"password_hash"})
MAX_AUDIT_LIMIT = 1000
CHAIN_TABLE = "ledger_chain"
"""The ledger's hash chain (``application.chain``), in the ledger's schema."""
UNKNOWN_ACTOR = {"type": "unknown"}
"""The actor of an event stored before actors were recorded."""


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
                "actor": orjson.dumps(getattr(event, "actor", UNKNOWN_ACTOR)).decode(),
            },
        )

    def query(self, reseller_id: UUID, *, after: int = 0, limit: int = 50) -> list[Row]:
        """The tenant's events after ``after``, in log order, with their hashes."""
        statement = sql.SQL(
            "SELECT e.*, encode(c.hash, 'hex') AS hash FROM {}.events e "
            "LEFT JOIN public.{} c ON c.position = e.position "
            "WHERE e.reseller_id = %s AND e.position > %s "
            "ORDER BY e.position LIMIT %s"
        ).format(sql.Identifier(self.schema), sql.Identifier(CHAIN_TABLE))
        return self.fetch_all(statement, (reseller_id, after, limit))
