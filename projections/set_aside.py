"""Set-aside events: what a view or a process could not apply, kept for operators.

A tenant's bad event must never stop anyone else. When a view or a process fails on
an event a few times in a row, the event is *set aside*: a row of
``projection_set_aside`` records who failed (the view or process name), where (the
log position), for whom (the tenant and the aggregate), why (the last error) and how
often; the follower's tracking moves past the event in the same transaction as that
row is written, so exactly-once still holds.

The tenant's later events are applied as usual (the simplest rule, and the one that
keeps every other row of the tenant current): a view whose set-aside event created a
row simply lacks that row; a later event that updates a missing row changes nothing.
``ledger projections retry`` applies a set-aside event again once its cause is fixed,
unless its aggregate has later events (applied out of order, it could undo them): a
view then needs ``ledger projections rebuild``, which replays the log in order.

In views, only errors that the event itself causes set it aside: a value PostgreSQL
refuses (``DataError``, ``IntegrityError``) or any error raised by Python code (a
handler's bug, an overflow). Errors of the connection or the server
(``OperationalError`` and the rest of ``psycopg.Error``) and of tracking end the
session and are retried, as before. A process cannot tell an outage from a poison:
it sets aside whatever keeps failing after ``PROCESS_ATTEMPTS`` tries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg import Cursor
from psycopg.rows import dict_row

from projections.reader import EventReader

VIEW_ATTEMPTS = 3
"""A view tries an event this many times in a row (at once: in its batch, then
alone) before setting it aside."""
PROCESS_ATTEMPTS = 8
"""A process tries this many times, backing off between sessions (about a minute),
so that a partner or SMTP outage is waited out rather than set aside."""
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class SetAsideEvent:
    """One event a view or process set aside."""

    follower: str
    position: int
    reseller_id: UUID | None
    aggregate_id: UUID | None
    error: str
    attempts: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None


def is_poison(error: BaseException) -> bool:
    """Whether ``error`` comes from the event itself (set it aside) or not (retry).

    A lost connection, a cancelled statement or a schema swapped by a rebuild are
    the server's or the session's doing: the session restarts and tries again.
    """
    if isinstance(error, psycopg.Error):
        return isinstance(error, psycopg.DataError | psycopg.IntegrityError)
    # The library's errors (a tracking row already moved by another writer) are
    # about the session, not the event.
    return isinstance(error, Exception) and not isinstance(error, PersistenceError)


def describe(error: BaseException) -> str:
    """The error as operators read it: its type and message, bounded."""
    text = f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_LENGTH]


def create(cursor: Cursor[Any]) -> None:
    """Create the table if missing (callers hold the DDL lock)."""
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS projection_set_aside ("
        " follower text NOT NULL, position bigint NOT NULL, reseller_id uuid,"
        " aggregate_id uuid, error text NOT NULL, attempts int NOT NULL,"
        " first_seen timestamptz NOT NULL DEFAULT now(),"
        " last_seen timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (follower, position))"
    )


def of_event(
    follower: str, position: int, event: object, error: BaseException, attempts: int
) -> SetAsideEvent:
    """The record of ``event`` failing in ``follower``."""
    return SetAsideEvent(
        follower=follower,
        position=position,
        reseller_id=getattr(event, "reseller_id", None),
        aggregate_id=getattr(event, "originator_id", None),
        error=describe(error),
        attempts=attempts,
    )


def record(cursor: Cursor[Any], found: SetAsideEvent) -> None:
    """Write (or refresh) a set-aside row, in the caller's transaction."""
    cursor.execute(
        "INSERT INTO projection_set_aside AS s (follower, position, reseller_id,"
        " aggregate_id, error, attempts) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (follower, position) DO UPDATE SET error = EXCLUDED.error,"
        " attempts = s.attempts + EXCLUDED.attempts, last_seen = now()",
        (
            found.follower,
            found.position,
            found.reseller_id,
            found.aggregate_id,
            # PostgreSQL text refuses NUL: the error may quote the poison itself.
            found.error.replace("\x00", "\\x00"),
            found.attempts,
        ),
    )


def replace(cursor: Cursor[Any], follower: str, found: list[SetAsideEvent]) -> None:
    """Make ``found`` the whole list of ``follower``'s set-aside events (rebuild)."""
    cursor.execute("DELETE FROM projection_set_aside WHERE follower = %s", (follower,))
    for item in found:
        record(cursor, item)


def forget(cursor: Cursor[Any], follower: str, position: int) -> None:
    """Remove a set-aside event that now applies."""
    cursor.execute(
        "DELETE FROM projection_set_aside WHERE follower = %s AND position = %s",
        (follower, position),
    )


def listed(conn: psycopg.Connection[Any]) -> list[SetAsideEvent]:
    """Every set-aside event, by follower then position (empty before any)."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                "SELECT * FROM projection_set_aside ORDER BY follower, position"
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    return [SetAsideEvent(**row) for row in rows]


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many events each view or process has set aside."""
    try:
        with conn.transaction():
            rows = conn.execute(
                "SELECT follower, count(*) FROM projection_set_aside GROUP BY follower"
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return {follower: int(count) for follower, count in rows}


@dataclass
class RetryResult:
    """Positions that applied on retry (and were forgotten) and those that failed."""

    applied: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    """Events of an aggregate that has later events: applying them now, out of
    order, could undo the later ones; a rebuild replays them in order."""


def superseded(reader: EventReader, event: object) -> bool:
    """Whether the aggregate of ``event`` has recorded events after it."""
    later = reader.recorder.select_events(
        getattr(event, "originator_id", ""),
        gt=getattr(event, "originator_version", 0),
        limit=1,
    )
    return bool(later)


def event_at(reader: EventReader, position: int) -> object:
    """The event at ``position`` of the log."""
    batch = reader.read(position - 1, 1)
    if not batch or batch[0][0] != position:
        msg = f"no event at position {position}"
        raise LookupError(msg)
    return batch[0][1]
