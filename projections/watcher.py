"""Knowing how far the views have got, for read-your-writes.

``PositionWatcher`` keeps every view's last known position, learnt from the
``NOTIFY ledger_views`` that runners in any process send after each commit (its
payload names the position and the schemas that reached it, so a notification
costs no query) and directly from a runner in this process; ``wait_for`` blocks
until every view has reached a position. It reads every position with one query
when it starts, at least every ``RECHECK_SECONDS`` (a notification may be lost)
and on a notification it cannot read. A notification is sent by the commit that
moved the positions, so the watcher never learns of a position before the rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from projections import tracking
from projections.view import View

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0
"""Positions are read again at least this often, in case a notification was lost."""
RECONNECT_PAUSE_SECONDS = 0.5


def read_positions(
    conn: psycopg.Connection[Any], views: Iterable[type[View]]
) -> dict[str, int]:
    """Each view's live position (0 for a view not created yet), in one query."""
    views = list(views)
    schemas = [view.live_schema() for view in views]
    try:
        if conn.autocommit:  # one round trip: no BEGIN/COMMIT around it
            with conn.cursor() as cursor:
                found = tracking.positions_of(cursor, schemas)
        else:
            with conn.transaction(), conn.cursor() as cursor:
                found = tracking.positions_of(cursor, schemas)
        return {view.name: p for view, p in zip(views, found, strict=True)}
    except psycopg.errors.UndefinedTable:
        pass  # some view is not created yet: one at a time
    positions: dict[str, int] = {}
    with conn.cursor() as cursor:
        for view in views:
            try:
                with conn.transaction():
                    positions[view.name] = tracking.position_of(
                        cursor, view.live_schema()
                    )
            except psycopg.errors.UndefinedTable:
                positions[view.name] = 0
    return positions


class PositionWatcher:
    """Knows how far every view has got; ``wait_for`` blocks until they all have.

    Never polls with a fixed step to learn of a commit: it is woken by the runners.
    """

    def __init__(self, conninfo: str, views: Sequence[type[View]]) -> None:
        self.conninfo = conninfo
        self.views = views
        self._positions = dict.fromkeys((v.name for v in views), 0)
        self._names = {view.live_schema(): view.name for view in views}
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="position-watcher", daemon=True
        )
        self.connected = threading.Event()

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        self._stopping.set()
        self._thread.join(timeout=5)

    @property
    def positions(self) -> dict[str, int]:
        """The last known position of each view."""
        with self._condition:
            return dict(self._positions)

    def update(self, positions: dict[str, int]) -> None:
        """Record newer positions and wake the waiters."""
        with self._condition:
            for name, position in positions.items():
                if position > self._positions.get(name, 0):
                    self._positions[name] = position
            self._condition.notify_all()

    def wait_for(self, position: int, timeout_seconds: float) -> bool:
        """Whether every view reached ``position`` within the timeout."""
        with self._condition:
            return self._condition.wait_for(
                lambda: min(self._positions.values()) >= position, timeout_seconds
            )

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("LISTEN {}").format(
                            sql.Identifier(tracking.VIEWS_CHANNEL)
                        )
                    )
                    self.connected.set()
                    while not self._stopping.is_set():
                        self.update(read_positions(conn, self.views))
                        self._listen(conn)
            except psycopg.Error:
                self.connected.clear()
                log.warning("position watcher lost its connection; reconnecting")
                self._stopping.wait(RECONNECT_PAUSE_SECONDS)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        """Apply announcements until the recheck is due or one is unreadable."""
        deadline = time.monotonic() + RECHECK_SECONDS
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for notify in conn.notifies(timeout=left):
                announced = tracking.parse_announcement(notify.payload)
                if announced is None:
                    return  # read every position again
                position, schemas = announced
                names = [self._names[s] for s in schemas if s in self._names]
                if names:
                    self.update(dict.fromkeys(names, position))
                if self._stopping.is_set():
                    return
