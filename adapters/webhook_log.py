"""The raw log of partner webhooks, kept as they came (the ``WebhookLog`` port)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool


class PostgresWebhookLog:
    """Every accepted delivery: provider, event id, body and what it did."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def create_tables(self) -> None:
        """Create the table if missing."""
        with self.pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS webhook_log ("
                " id bigserial PRIMARY KEY, provider text NOT NULL,"
                " event_id text NOT NULL, type text NOT NULL, payload jsonb NOT NULL,"
                " result text NOT NULL, received_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS webhook_log_event "
                "ON webhook_log (provider, event_id)"
            )

    def keep(
        self,
        provider: str,
        event_id: str,
        kind: str,
        payload: object,
        result: str,
    ) -> None:
        """Append one delivery."""
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO webhook_log (provider, event_id, type, payload, result)"
                " VALUES (%s, %s, %s, %s, %s)",
                (provider, event_id, kind, Jsonb(payload), result),
            )

    def deliveries(self, provider: str, event_id: str) -> list[str]:
        """The results of every delivery of one event, in order."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT result FROM webhook_log WHERE provider = %s AND event_id = %s"
                " ORDER BY id",
                (provider, event_id),
            ).fetchall()
        return [str(row[0]) for row in rows]
