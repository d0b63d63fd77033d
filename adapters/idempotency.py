"""The idempotency store: keys and the responses they produced, in PostgreSQL.

The ``Idempotency`` middleware (``api.middleware``) claims a key before running a
request and keeps its response here, so that a retry with the same key replays it.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

KEEP_KEYS_HOURS = 48


class IdempotencyStore:
    """Idempotency keys and the responses they produced, in PostgreSQL."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def create_tables(self) -> None:
        """Create the table if missing."""
        with self.pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS api_idempotency ("
                " scope text NOT NULL, key text NOT NULL, request_hash text NOT NULL,"
                " status integer, headers jsonb, body bytea,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (scope, key))"
            )

    def claim(self, scope: str, key: str, request_hash: str) -> tuple[Any, ...] | None:
        """Claim the key (``None``), or return what is stored under it."""
        with self.pool.connection() as conn:
            claimed = conn.execute(
                "INSERT INTO api_idempotency (scope, key, request_hash) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (scope, key, request_hash),
            ).fetchone()
            if claimed is not None:
                conn.execute(
                    "DELETE FROM api_idempotency WHERE created_at < "
                    "now() - make_interval(hours => %s)",
                    (KEEP_KEYS_HOURS,),
                )
                return None
            row: tuple[Any, ...] | None = conn.execute(
                "SELECT request_hash, status, headers, body FROM api_idempotency "
                "WHERE scope = %s AND key = %s",
                (scope, key),
            ).fetchone()
            return row

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
        """Forget a key whose request failed unexpectedly, so it can be retried."""
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM api_idempotency WHERE scope = %s AND key = %s",
                (scope, key),
            )
