"""A follower that turns events into rows of an outbox, exactly once.

``ProcessFollower`` calls the outside world and tracks afterwards (at least once,
made harmless by idempotent calls). A process that only *queues* work, as outbound
webhooks do (``application.outbound``), can do better: ``OutboxFollower`` hands the
queuer each event with its position and a cursor, and records the new position in
that same transaction, so a crash can neither queue an event twice nor lose one.
The sending is left to a dispatcher that reads the outbox, so a slow receiver never
holds up the log.

One instance runs at a time (an advisory lock, like every follower); an event that
keeps failing is set aside for its tenant after ``max_attempts`` tries and the
follower goes on, as processes do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import psycopg
from psycopg import Cursor

from projections import set_aside, tracking
from projections.followers import DEFAULT_PACING, NamedProcessFollower, Pacing
from projections.reader import BATCH_SIZE, EventReader
from projections.set_aside import RetryResult

log = logging.getLogger(__name__)


class Queuer(Protocol):
    """Queues work for some events, in the caller's transaction."""

    name: str

    def handles(self, event: object) -> bool:
        """Whether ``event`` may need queueing."""
        ...

    def enqueue(self, cursor: Cursor[Any], position: int, event: Any) -> int:  # noqa: ANN401 - any handled event
        """Queue what ``event`` calls for; return how many items were queued."""
        ...


class OutboxFollower(NamedProcessFollower):
    """Feeds a ``Queuer`` the events it handles; tracks in the same transaction."""

    def __init__(  # noqa: PLR0913 - knobs with sensible defaults
        self,
        reader: EventReader,
        conninfo: str,
        queuer: Queuer,
        *,
        on_queued: Callable[[], None] | None = None,
        pacing: Pacing = DEFAULT_PACING,
        max_attempts: int = set_aside.PROCESS_ATTEMPTS,
    ) -> None:
        super().__init__(
            reader, conninfo, queuer.name, pacing=pacing, max_attempts=max_attempts
        )
        self.queuer = queuer
        self.on_queued = on_queued

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """Queue for each new batch and move the position, in one transaction."""
        if self.queuer.name not in self.state.owned:
            return
        with conn.cursor() as cursor:
            after = tracking.position_of(cursor, self.schema)
        while not self.stopping:
            batch = self.reader.read(after, BATCH_SIZE)
            if not batch:
                return
            if self.views_first is not None:
                self.views_first.wait()
            queued = 0
            with conn.transaction(), conn.cursor() as cursor:
                if tracking.position_of(cursor, self.schema, lock=True) != after:
                    return  # another writer moved it: start again from there
                for position, event in batch:
                    if self.queuer.handles(event):
                        queued += self._enqueue(cursor, position, event)
                after = batch[-1][0]
                tracking.record_position(cursor, [self.schema], after)
            self.advanced({self.queuer.name: after})
            if queued and self.on_queued is not None:
                self.on_queued()

    def _enqueue(self, cursor: Cursor[Any], position: int, event: Any) -> int:  # noqa: ANN401 - any handled event
        """Queue one event in a savepoint; set it aside after repeated failures."""
        try:
            with cursor.connection.transaction():
                queued = self.queuer.enqueue(cursor, position, event)
        except Exception as error:
            attempts = self._attempts.get(position, 0) + 1
            if attempts < self.max_attempts:
                self._attempts = {position: attempts}
                raise
            self._attempts.clear()
            found = set_aside.of_event(
                self.queuer.name, position, event, error, attempts
            )
            log.warning(
                "%s sets aside the event at %s: %s", self.label, position, found.error
            )
            set_aside.record(cursor, found)
            return 0
        self._attempts.pop(position, None)
        return queued


def retry_queuer(reader: EventReader, conninfo: str, queuer: Queuer) -> RetryResult:
    """Queue again each event ``queuer`` set aside; forget those that now pass.

    A retried event is queued behind nothing: it is older than what was queued
    since, so it is the next one sent to its endpoints.
    """
    result = RetryResult()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for item in set_aside.listed(conn):
            if item.follower != queuer.name:
                continue
            event = set_aside.event_at(reader, item.position)
            try:
                with conn.transaction(), conn.cursor() as cursor:
                    queuer.enqueue(cursor, item.position, event)
                    set_aside.forget(cursor, item.follower, item.position)
            except Exception as error:  # noqa: BLE001 - kept and reported
                with conn.transaction(), conn.cursor() as cursor:
                    set_aside.record(
                        cursor,
                        set_aside.of_event(
                            item.follower, item.position, event, error, 1
                        ),
                    )
                result.failed.append(item.position)
                continue
            result.applied.append(item.position)
    return result
