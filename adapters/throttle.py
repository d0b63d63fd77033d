"""Login throttling: failed attempts per e-mail, counted in PostgreSQL.

Kept in the database, not in memory, because ``ledger serve`` may run several
processes: an attacker spreading attempts over workers meets one counter. A window
opens at an e-mail's first failure and lasts 15 minutes; after 10 failures in it,
every attempt for that e-mail (a correct password too) is refused until it closes.
"""

from __future__ import annotations

import math
from typing import Any

from psycopg_pool import ConnectionPool

from adapters.housekeeping import Every

MAX_FAILURES = 10
WINDOW_SECONDS = 15 * 60
PURGE_EVERY_SECONDS = 600.0


class LoginThrottle:
    """Failed logins per e-mail, in the table ``api_login_failures``."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        *,
        max_failures: int = MAX_FAILURES,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        self.pool = pool
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._purge = Every(PURGE_EVERY_SECONDS)

    def create_tables(self) -> None:
        """Create the table if missing."""
        with self.pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS api_login_failures ("
                " email text PRIMARY KEY, failures integer NOT NULL,"
                " window_start timestamptz NOT NULL)"
            )

    def retry_after(self, email: str) -> int | None:
        """Seconds until ``email`` may try again, or ``None`` when it may now."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM window_start"
                " + make_interval(secs => %s) - now())"
                " FROM api_login_failures WHERE email = %s AND failures >= %s",
                (self.window_seconds, _key(email), self.max_failures),
            ).fetchone()
        if row is None or row[0] <= 0:
            return None
        seconds: float = row[0]
        return max(1, math.ceil(seconds))

    def failed(self, email: str) -> None:
        """Count a failure; a failure after the window has passed opens a new one."""
        self._purge_if_due()
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO api_login_failures AS f (email, failures, window_start)"
                " VALUES (%s, 1, now()) ON CONFLICT (email) DO UPDATE SET"
                " failures = CASE WHEN f.window_start"
                "  > now() - make_interval(secs => %s) THEN f.failures + 1 ELSE 1 END,"
                " window_start = CASE WHEN f.window_start"
                "  > now() - make_interval(secs => %s) THEN f.window_start"
                "  ELSE now() END",
                (_key(email), self.window_seconds, self.window_seconds),
            )

    def _purge_if_due(self) -> None:
        # Closed windows of e-mails never tried again (typos, made-up addresses).
        if not self._purge.due():
            return
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM api_login_failures"
                " WHERE window_start < now() - make_interval(secs => %s)",
                (self.window_seconds,),
            )

    def succeeded(self, email: str) -> None:
        """A correct login (while not throttled) forgets the earlier failures."""
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM api_login_failures WHERE email = %s", (_key(email),)
            )


def _key(email: str) -> str:
    # The e-mail as typed can vary in case and spaces; the login it aims at cannot.
    return email.strip().lower()
