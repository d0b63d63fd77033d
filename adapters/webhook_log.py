"""The raw log of partner webhooks, kept as they came (the ``WebhookLog`` port).

A delivery is written before it is applied, raw: its body as bytes, so that no
content can be refused (a NUL, invalid UTF-8, an escaped NUL that jsonb
rejects), and the JSON parsed into ``payload`` only when PostgreSQL accepts it.
The row is then updated with what the delivery did.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

MAX_HEADER_CHARS = 1024
_COLUMNS = "id, provider, event_id, type, result, error, received_at, body"


@dataclass(frozen=True)
class LoggedDelivery:
    """One entry of the log: a delivery as it came, and what it did."""

    id: int
    provider: str
    event_id: str | None
    type: str | None
    result: str
    error: str | None
    received_at: datetime
    body: bytes


def _delivery(row: tuple[Any, ...]) -> LoggedDelivery:
    return LoggedDelivery(
        id=int(row[0]),
        provider=str(row[1]),
        event_id=row[2],
        type=row[3],
        result=str(row[4]),
        error=row[5],
        received_at=row[6],
        body=bytes(row[7] or b""),
    )


PAYLOAD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION webhook_log_payload(body bytea) RETURNS jsonb"
    " LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN"
    " RETURN convert_from(body, 'UTF8')::jsonb;"
    " EXCEPTION WHEN others THEN RETURN NULL;"  # not UTF-8, not JSON, a NUL...
    " END $$"
)
"""The body as ``jsonb``, or NULL when PostgreSQL cannot store it as such."""


@contextmanager
def _autocommit(pool: ConnectionPool[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A connection of ``pool`` in autocommit mode (restored when it goes back).

    A single statement then costs one round trip, not three (BEGIN, it, COMMIT).
    """
    with pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:  # a broken one is discarded by the pool
                conn.autocommit = False


class PostgresWebhookLog:
    """Every authenticated delivery: provider, headers, body and what it did."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def create_tables(self) -> None:
        """Create the table if missing, or bring an older one up to date."""
        with self.pool.connection() as conn:
            # Serialised: processes starting together would race on the function.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('webhook_log'))")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS webhook_log ("
                " id bigserial PRIMARY KEY, provider text NOT NULL,"
                " event_id text, type text, payload jsonb,"
                " result text NOT NULL, received_at timestamptz NOT NULL DEFAULT now())"
            )
            # Tables of earlier versions: the raw delivery, and what became of it.
            conn.execute(
                "ALTER TABLE webhook_log"
                " ADD COLUMN IF NOT EXISTS headers jsonb NOT NULL DEFAULT '{}',"
                " ADD COLUMN IF NOT EXISTS body bytea,"
                " ADD COLUMN IF NOT EXISTS error text,"
                " ADD COLUMN IF NOT EXISTS settled_at timestamptz,"
                " ALTER COLUMN event_id DROP NOT NULL,"
                " ALTER COLUMN type DROP NOT NULL,"
                " ALTER COLUMN payload DROP NOT NULL"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS webhook_log_event "
                "ON webhook_log (provider, event_id)"
            )
            conn.execute(PAYLOAD_FUNCTION)

    def keep(  # noqa: PLR0913 - the parts of one delivery
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        result: str,
        *,
        event_id: str | None = None,
        kind: str | None = None,
    ) -> int:
        """Append one delivery as it came; the id of its row.

        One statement, one round trip: the payload is parsed by the server
        (``webhook_log_payload``), and a body that is not JSON it can store is kept
        raw, with no payload.
        """
        with _autocommit(self.pool) as conn:
            row = conn.execute(
                "INSERT INTO webhook_log"
                " (provider, event_id, type, headers, body, payload, result)"
                " VALUES (%s, %s, %s, %s, %s, webhook_log_payload(%s), %s)"
                " RETURNING id",
                (
                    provider,
                    event_id,
                    kind,
                    Jsonb(_printable(headers)),
                    body,
                    body,
                    result,
                ),
            ).fetchone()
        assert row is not None  # noqa: S101 - RETURNING always yields the row
        return int(row[0])

    def settle(self, entry: int, result: str, error: str | None = None) -> None:
        """Record what the delivery kept as ``entry`` did."""
        with _autocommit(self.pool) as conn:
            conn.execute(
                "UPDATE webhook_log SET result = %s, error = %s, settled_at = now()"
                " WHERE id = %s",
                (result, error, entry),
            )

    def entry(self, entry: int) -> LoggedDelivery | None:
        """The entry ``entry``, if there is one."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_log WHERE id = %s",  # noqa: S608 - constant columns
                (entry,),
            ).fetchone()
        return None if row is None else _delivery(row)

    def recent(
        self, limit: int = 50, provider: str | None = None
    ) -> list[LoggedDelivery]:
        """The latest entries, newest first (of one provider when given)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_log"  # noqa: S608 - constant columns
                " WHERE %(provider)s::text IS NULL OR provider = %(provider)s"
                " ORDER BY id DESC LIMIT %(limit)s",
                {"provider": provider, "limit": limit},
            ).fetchall()
        return [_delivery(row) for row in rows]

    def deliveries(self, provider: str, event_id: str) -> list[str]:
        """The results of every delivery of one event, in order."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT result FROM webhook_log WHERE provider = %s AND event_id = %s"
                " ORDER BY id",
                (provider, event_id),
            ).fetchall()
        return [str(row[0]) for row in rows]


def _printable(headers: Mapping[str, str]) -> dict[str, str]:
    """Header values bounded, without the NUL that jsonb refuses."""
    return {
        name: value.replace("\x00", "")[:MAX_HEADER_CHARS]
        for name, value in headers.items()
    }
