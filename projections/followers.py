"""Following the log live: the views' runner and the processes' workers.

A ``Follower`` is a supervised LISTEN/NOTIFY session on the ledger's log:

* It is woken by the ``NOTIFY`` that the ledger's recorder sends on every commit,
  and also checks the log every second (see ``Pacing``) in case a notification was
  lost. Any error (a lost connection included) ends the session; the supervisor
  starts a new one after a pause that doubles with each failure since the last
  progress, and tracking makes the restart exact.
* It owns what it writes only while it holds the PostgreSQL advisory lock of it, on
  the very connection it writes with. A second follower, in any process, waits as a
  hot standby and takes the lock over when the owner's connection goes away.

``ProjectionRunner`` keeps a set of views: it reads the log once and applies each
batch to every view it owns in one transaction (see ``projections.batches``). Far
behind, batches hold hundreds of events (catch-up); at the head, a batch is whatever
one commit wrote (live). ``ProcessFollower`` feeds one process (a ``Reactor``) the
events it handles, exactly once per success.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg import sql

from projections import set_aside, tracking
from projections.batches import Target, apply_batch
from projections.read_models import VIEWS
from projections.reader import BATCH_SIZE, EVENTS_CHANNEL, EventReader, Undecodable
from projections.set_aside import RetryResult, event_at
from projections.view import View
from projections.watcher import read_positions

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x1ED6E7
DDL_LOCK = (LOCK_NAMESPACE, 0)
CHECK_INTERVAL_SECONDS = 1.0
RESTART_PAUSE_SECONDS = 0.5
MAX_RESTART_PAUSE_SECONDS = 30.0


def view_lock_key(view: type[View]) -> tuple[int, int]:
    """The advisory lock (two int4 keys) that one view's live writer holds."""
    return LOCK_NAMESPACE, zlib.crc32(view.name.encode()) & 0x7FFFFFFF


def create_views(conn: psycopg.Connection[Any], views: Iterable[type[View]]) -> None:
    """Create the set-aside table and every view's schema and tables (serialised)."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", DDL_LOCK)
        set_aside.create(cursor)
        for view in views:
            view.create(cursor)


@dataclass(frozen=True)
class Pacing:
    """How often a follower checks the log, and how it backs off after failures."""

    check_interval_seconds: float = CHECK_INTERVAL_SECONDS
    restart_pause_seconds: float = RESTART_PAUSE_SECONDS
    max_restart_pause_seconds: float = MAX_RESTART_PAUSE_SECONDS

    def restart_pause(self, failures: int) -> float:
        """The pause after ``failures`` failures in a row: doubling, capped."""
        doubled = self.restart_pause_seconds * 2.0 ** max(0, failures - 1)
        return min(self.max_restart_pause_seconds, doubled)


DEFAULT_PACING = Pacing()
VIEWS_FIRST_MAX_WAIT_SECONDS = 0.05


class ViewsFirst:
    """In a process running the views and processes: the views' runner goes first.

    They share one GIL, so a payment's batch waits behind whatever the processes
    are doing (a charge registration for each invoice issued, the outbound
    webhooks). While the runner has events to apply, a process about to react
    waits for it, at most ``max_wait_seconds`` each time: the views' work is small
    and the processes catch up right after, so none of them starves. Only the
    timing changes; what each follower does, and when it tracks it, does not.
    """

    def __init__(self, max_wait_seconds: float = VIEWS_FIRST_MAX_WAIT_SECONDS) -> None:
        self.max_wait_seconds = max_wait_seconds
        self._idle = threading.Event()
        self._idle.set()

    def busy(self) -> None:
        """The runner has events to apply."""
        self._idle.clear()

    def idle(self) -> None:
        """The runner has applied every event it found."""
        self._idle.set()

    def wait(self) -> None:
        """Until the runner is idle, or the longest wait has passed."""
        self._idle.wait(self.max_wait_seconds)


@dataclass
class RunnerState:
    """What a follower is doing, for status and readiness."""

    owned: set[str] = field(default_factory=set)
    standby: set[str] = field(default_factory=set)
    """What another follower owns and this one waits to take over."""
    alive: bool = False
    restarts: int = 0
    last_error: str | None = None
    positions: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    """Sessions that ended in an error since the last progress."""
    restart_pause: float = 0.0
    """The pause taken before the last restart, in seconds."""


class Follower:
    """Supervised LISTEN/NOTIFY follower of the log (the base of every runner).

    Subclasses say what to lock (``acquire``), what to create (``prepare``) and
    what to do with new events (``catch_up``, which calls ``advanced`` after each
    step forward); this class keeps the session alive.
    """

    label = "follower"
    views_first: ViewsFirst | None = None
    """Shared with the views' runner of this process, if it has one (see there)."""

    def __init__(
        self,
        reader: EventReader,
        conninfo: str,
        *,
        pacing: Pacing = DEFAULT_PACING,
        events_channel: str = EVENTS_CHANNEL,
    ) -> None:
        self.reader = reader
        self.conninfo = conninfo
        self.pacing = pacing
        self.events_channel = events_channel
        self.state = RunnerState()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run in a background thread."""
        self._thread = threading.Thread(
            target=self.run_forever, name=self.label, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current batch; locks go with the connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called."""
        return self._stopping.is_set()

    def run_forever(self) -> None:
        """Supervise sessions until stopped: any failure starts a new session."""
        while not self._stopping.is_set():
            failure: Exception | None = None
            try:
                self._session()
            except Exception as error:
                log.warning("%s restarting after %s", self.label, error, exc_info=True)
                failure = error
            self._ended(failure)
            self._stopping.wait(self.state.restart_pause)

    def _ended(self, error: Exception | None) -> None:
        """Forget the session; after a failure, count it and choose the pause."""
        self.state.alive = False
        self.state.owned.clear()
        self.state.standby.clear()
        self.state.positions.clear()
        if error is None:
            return
        self.state.failures += 1
        self.state.last_error = f"{type(error).__name__}: {error}"
        self.state.restart_pause = self.pacing.restart_pause(self.state.failures)
        self.state.restarts += 1  # last: whoever sees it sees the rest too

    def advanced(self, positions: dict[str, int]) -> None:
        """Record progress: the new positions, and no failure since."""
        self.state.positions.update(positions)
        self.state.failures = 0

    def _session(self) -> None:
        with (
            psycopg.connect(self.conninfo, autocommit=True) as conn,
            psycopg.connect(self.conninfo, autocommit=True) as listener,
        ):
            self.prepare(conn)
            listener.execute(
                sql.SQL("LISTEN {}").format(sql.Identifier(self.events_channel))
            )
            self.state.alive = True
            while not self._stopping.is_set():
                self.acquire(conn)
                self.catch_up(conn)
                woken = False
                for _ in listener.notifies(
                    timeout=self.pacing.check_interval_seconds, stop_after=1
                ):
                    woken = True
                if not woken:  # a notification shows the listener alive
                    listener.execute("SELECT 1")  # notice a dead listener promptly

    def try_lock(self, conn: psycopg.Connection[Any], name: str, key: int) -> None:
        """Own ``name`` if its advisory lock is free (session-long)."""
        if name in self.state.owned:
            return
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key)
        ).fetchone()
        if row is not None and row[0]:
            self.state.owned.add(name)
            self.state.standby.discard(name)
            log.info("%s now owns %s", self.label, name)
        elif name not in self.state.standby:
            self.state.standby.add(name)
            log.info("%s stands by for %s, owned elsewhere", self.label, name)

    def prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create what the follower needs; called at the start of each session."""

    def acquire(self, conn: psycopg.Connection[Any]) -> None:
        """Take the locks of what this follower may write."""

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """Handle every event recorded since the last call."""


class ProjectionRunner(Follower):
    """The live follower of a set of views."""

    label = "projection-runner"

    def __init__(  # noqa: PLR0913 - knobs with sensible defaults
        self,
        reader: EventReader,
        conninfo: str,
        views: Sequence[type[View]] = VIEWS,
        *,
        batch_size: int = BATCH_SIZE,
        on_commit: Callable[[dict[str, int]], None] | None = None,
        pacing: Pacing = DEFAULT_PACING,
        events_channel: str = EVENTS_CHANNEL,
    ) -> None:
        super().__init__(reader, conninfo, pacing=pacing, events_channel=events_channel)
        self.view_classes = views
        self.views = [view() for view in views]
        self.batch_size = batch_size
        self.on_commit = on_commit

    def prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create every view's schema and tables."""
        create_views(conn, self.view_classes)

    def acquire(self, conn: psycopg.Connection[Any]) -> None:
        """Own every view whose lock is free; the others stay on standby."""
        for view in self.view_classes:
            self.try_lock(conn, view.name, view_lock_key(view)[1])

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """Apply new events to the owned views, in batches."""
        targets = [
            Target(view, view.live_schema())
            for view in self.views
            if view.name in self.state.owned
        ]
        if not targets:
            return
        known = [self.state.positions.get(t.view.name) for t in targets]
        if None in known:  # first catch-up of this session for some view
            positions = read_positions(conn, [type(t.view) for t in targets])
            self.state.positions.update(positions)
            known = list(positions.values())
        after = min(p for p in known if p is not None)
        gate = self.views_first
        if gate is not None:
            gate.busy()
        try:
            while not self.stopping:
                batch = self.reader.read(after, self.batch_size)
                if not batch:
                    break
                apply_batch(conn, targets, batch)
                after = batch[-1][0]
                done = {t.view.name: after for t in targets}
                self.advanced(done)
                if self.on_commit is not None:
                    self.on_commit(done)
        finally:
            if gate is not None:
                gate.idle()


class Reactor(Protocol):
    """A process: reacts to some events with idempotent side effects."""

    name: str

    def handles(self, event: object) -> bool:
        """Whether ``event`` concerns this process."""
        ...

    def react(self, event: Any) -> None:  # noqa: ANN401 - any handled event
        """Do what the event calls for; raise to be retried later."""
        ...


class NamedProcessFollower(Follower):
    """A follower that is one named process, with what every such process needs.

    Its own tracking schema (``process_<name>``), at most one instance running
    across processes, and the failures in a row of the event it is on (for setting
    it aside).
    """

    def __init__(
        self,
        reader: EventReader,
        conninfo: str,
        name: str,
        *,
        pacing: Pacing = DEFAULT_PACING,
        max_attempts: int = set_aside.PROCESS_ATTEMPTS,
    ) -> None:
        super().__init__(reader, conninfo, pacing=pacing)
        self.process_name = name
        self.label = f"process-{name}"
        self.schema = f"process_{name}"
        self.max_attempts = max_attempts
        self._attempts: dict[int, int] = {}
        """Failures in a row of the event at each position (at most one, in fact)."""

    def prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create the process's tracking table."""
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", DDL_LOCK)
            tracking.create_tracking(cursor, self.schema)
            set_aside.create(cursor)

    def acquire(self, conn: psycopg.Connection[Any]) -> None:
        """One instance of a process runs at a time, across processes."""
        key = zlib.crc32(self.schema.encode()) & 0x7FFFFFFF
        self.try_lock(conn, self.process_name, key)


class ProcessFollower(NamedProcessFollower):
    """Feeds a process the events it handles, exactly once per success.

    The position is tracked in the process's own schema and moves past an event
    only after ``react`` returned. A failure ends the session: the supervisor waits
    (backing off exponentially while the same event keeps failing) and retries it.
    After ``max_attempts`` failures in a row the event is set aside (see
    ``projections.set_aside``) and the process goes on with the next one.
    """

    def __init__(
        self,
        reader: EventReader,
        conninfo: str,
        reactor: Reactor,
        *,
        pacing: Pacing = DEFAULT_PACING,
        max_attempts: int = set_aside.PROCESS_ATTEMPTS,
    ) -> None:
        super().__init__(
            reader, conninfo, reactor.name, pacing=pacing, max_attempts=max_attempts
        )
        self.reactor = reactor

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """React to each new handled event, then track it."""
        if self.reactor.name not in self.state.owned:
            return
        with conn.cursor() as cursor:
            after = tracking.position_of(cursor, self.schema)
        while not self.stopping:
            batch = self.reader.read(after, BATCH_SIZE)
            if not batch:
                return
            for position, event in batch:
                if self.stopping:
                    return
                if type(event) is Undecodable or self.reactor.handles(event):
                    if self.views_first is not None:
                        self.views_first.wait()
                    self._react(conn, position, event)
                after = position
            self._track(conn, after)

    def _react(self, conn: psycopg.Connection[Any], position: int, event: Any) -> None:  # noqa: ANN401 - any handled event
        """React and track; a failure is retried, or set aside after a few."""
        try:
            if type(event) is Undecodable:
                event.fail()  # whatever it was, it may have been this process's
            self.reactor.react(event)
        except Exception as error:
            attempts = self._attempts.get(position, 0) + 1
            if attempts < self.max_attempts:
                self._attempts = {position: attempts}
                raise
            self._attempts.clear()
            found = set_aside.of_event(
                self.reactor.name, position, event, error, attempts
            )
            log.warning(
                "%s sets aside the event at %s: %s", self.label, position, found.error
            )
            self._track(conn, position, found)
            return
        self._attempts.clear()
        self._track(conn, position)

    def _track(
        self,
        conn: psycopg.Connection[Any],
        position: int,
        found: set_aside.SetAsideEvent | None = None,
    ) -> None:
        with conn.transaction(), conn.cursor() as cursor:
            if tracking.position_of(cursor, self.schema, lock=True) < position:
                tracking.record_position(cursor, [self.schema], position)
                if found is not None:
                    set_aside.record(cursor, found)
        self.advanced({self.reactor.name: position})


def retry_process(reader: EventReader, conninfo: str, reactor: Reactor) -> RetryResult:
    """React again to each event ``reactor`` set aside; forget those that now pass."""
    result = RetryResult()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for item in set_aside.listed(conn):
            if item.follower != reactor.name:
                continue
            event = event_at(reader, item.position)
            try:
                reactor.react(event)
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
            with conn.transaction(), conn.cursor() as cursor:
                set_aside.forget(cursor, item.follower, item.position)
            result.applied.append(item.position)
    return result
