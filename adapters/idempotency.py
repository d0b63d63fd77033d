"""The idempotency store: keys and the responses they produced, in PostgreSQL.

The ``Idempotency`` middleware (``api.middleware``) claims a key before running a
request and keeps its response here, so that a retry with the same key replays it.

A claim is a lease: a request that was cut off (the process crashed, the connection
dropped before ``complete`` or ``release``) does not hold its key for good; once
the lease has run out, a retry with the key claims it and runs. The lease is far
longer than any command takes, so a request still running is never run twice.
Expired keys are purged at most every ``PURGE_EVERY_SECONDS`` per process, through
an index on ``created_at``, not on every keyed request.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from adapters.housekeeping import Every

KEEP_KEYS_HOURS = 48
LEASE_SECONDS = 60.0
PURGE_EVERY_SECONDS = 600.0


class IdempotencyStore:
    """Idempotency keys and the responses they produced, in PostgreSQL."""

    def __init__(
        self, pool: ConnectionPool[Any], *, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.pool = pool
        self.lease_seconds = lease_seconds
        self._purge = Every(PURGE_EVERY_SECONDS)

    def create_tables(self) -> None:
        """Create the table if missing (and add what later versions need)."""
        with self.pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS api_idempotency ("
                " scope text NOT NULL, key text NOT NULL, request_hash text NOT NULL,"
                " status integer, headers jsonb, body bytea,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (scope, key))"
            )
            conn.execute(
                "ALTER TABLE api_idempotency"
                " ADD COLUMN IF NOT EXISTS lease_until timestamptz"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS api_idempotency_created_at"
                " ON api_idempotency (created_at)"
            )

    def claim(self, scope: str, key: str, request_hash: str) -> tuple[Any, ...] | None:
        """Claim the key (``None``), or return what is stored under it.

        A claim whose lease ran out without an answer is taken over.
        """
        self._purge_if_due()
        with self.pool.connection() as conn:
            claimed = conn.execute(
                "INSERT INTO api_idempotency (scope, key, request_hash, lease_until) "
                "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (scope, key) DO UPDATE SET request_hash ="
                " EXCLUDED.request_hash, lease_until = EXCLUDED.lease_until,"
                " created_at = now() "
                "WHERE api_idempotency.status IS NULL AND COALESCE("
                " api_idempotency.lease_until, api_idempotency.created_at"
                " + make_interval(secs => %s)) < now() "
                "RETURNING 1",
                (scope, key, request_hash, self.lease_seconds, self.lease_seconds),
            ).fetchone()
            if claimed is not None:
                return None
            row: tuple[Any, ...] | None = conn.execute(
                "SELECT request_hash, status, headers, body FROM api_idempotency "
                "WHERE scope = %s AND key = %s",
                (scope, key),
            ).fetchone()
            return row

    def _purge_if_due(self) -> None:
        if not self._purge.due():
            return
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM api_idempotency WHERE created_at < "
                "now() - make_interval(hours => %s)",
                (KEEP_KEYS_HOURS,),
            )

    def complete(
        self, scope: str, key: str, status: int, headers: list[list[str]], body: bytes
    ) -> None:
        """Keep the response the key produced."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE api_idempotency SET status = %s, headers = %s, body = %s "
                "WHERE scope = %s AND key = %s",
                (status, Jsonb(headers), body, scope, key),
            )

    def release(self, scope: str, key: str) -> None:
        """Forget a key whose request failed or was refused, so it can be retried."""
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM api_idempotency WHERE scope = %s AND key = %s",
                (scope, key),
            )
