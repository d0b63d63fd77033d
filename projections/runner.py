"""Keeping views live: reading the log, applying batches, LISTEN/NOTIFY, failover.

The ``ProjectionRunner`` follows the ledger's event log for a set of views:

* It reads the log once and applies each batch of events to every view it owns in
  one transaction, rows and tracking together. Far behind, batches hold hundreds of
  events (catch-up); at the head, a batch is whatever one commit wrote (live).
* It is woken by the ``NOTIFY`` that the ledger's recorder sends on every commit,
  and also checks the log every ``check_interval_seconds`` in case a notification
  was lost. Any error (a lost connection included) ends the session; the supervisor
  loop starts a new one after a short pause, and tracking makes the restart exact.
* It owns a view only while it holds that view's PostgreSQL advisory lock, on the
  very connection it writes with. A second runner, in any process, waits as a hot
  standby and takes the lock over when the owner's connection goes away.
* After each commit it announces the new position with ``NOTIFY ledger_views``, so
  that ``PositionWatcher.wait_for`` returns as soon as every view has caught up.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper
from psycopg import sql

from projections.audit import AuditFeed
from projections.erp_boletos import ErpBoletos
from projections.erp_customers import ErpCustomers
from projections.erp_receivables import ErpReceivables
from projections.panel_clients import PanelClients
from projections.panel_contracts import PanelContracts
from projections.panel_invoices import PanelInvoices
from projections.store import Row, Rows, rendered
from projections.view import APPLICATION_NAME, View, create_tracking

log = logging.getLogger(__name__)

VIEWS: tuple[type[View], ...] = (
    PanelClients,
    PanelContracts,
    PanelInvoices,
    ErpCustomers,
    ErpReceivables,
    ErpBoletos,
    AuditFeed,
)
EVENTS_CHANNEL = "ledger_events"
"""The channel the library's recorder notifies on every commit (its table name)."""
VIEWS_CHANNEL = "ledger_views"
LOCK_NAMESPACE = 0x1ED6E7
DDL_LOCK = (LOCK_NAMESPACE, 0)
BATCH_SIZE = 500
CHECK_INTERVAL_SECONDS = 1.0
RESTART_PAUSE_SECONDS = 0.5
MAX_RESTART_PAUSE_SECONDS = 30.0

Event = Any
Batch = list[tuple[int, Event]]


def view_lock_key(view: type[View]) -> tuple[int, int]:
    """The advisory lock (two int4 keys) that one view's live writer holds."""
    return LOCK_NAMESPACE, zlib.crc32(view.name.encode()) & 0x7FFFFFFF


def create_views(conn: psycopg.Connection[Any], views: Iterable[type[View]]) -> None:
    """Create every view's schema and tables, serialised across processes."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", DDL_LOCK)
        for view in views:
            view.create(cursor)


class EventReader:
    """Decoded events of the ledger's log, by position.

    Built from the application's recorder and mapper (the composition root passes
    them), so that views depend on the log, not on the application's commands.
    """

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[UUID]) -> None:
        self.recorder = recorder
        self.mapper = mapper

    def read(self, after: int, limit: int = BATCH_SIZE) -> Batch:
        """Up to ``limit`` events after position ``after``, in order."""
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        to_event = self.mapper.to_domain_event
        return [(n.id, to_event(n)) for n in notifications]

    def stream(
        self, after: int, until: int | None = None, batch_size: int = BATCH_SIZE
    ) -> Iterator[Batch]:
        """Batches after ``after`` (up to ``until``), read ahead in a thread.

        While the caller applies one batch (mostly waiting on PostgreSQL), the next
        one is fetched and decoded, which uses the second core.
        """
        ahead: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce() -> None:
            position = after
            try:
                while not stop.is_set():
                    batch = self.read(position, batch_size)
                    if until is not None:
                        batch = [(p, e) for p, e in batch if p <= until]
                    if not batch:
                        break
                    ahead.put(batch)
                    position = batch[-1][0]
            except BaseException as error:  # noqa: BLE001 - handed to the consumer
                ahead.put(error)
            ahead.put(None)

        thread = threading.Thread(target=produce, name="event-reader", daemon=True)
        thread.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    ahead.get_nowait()
                thread.join(timeout=0.01)

    def head(self) -> int:
        """The position of the last event recorded."""
        return self.recorder.max_notification_id() or 0


@dataclass
class Target:
    """A view written in one schema.

    ``fresh`` marks tables created empty for a replay that nothing else writes: the
    rows and keys written are then remembered across batches (see ``Rows``).
    """

    view: View
    schema: str
    fresh: bool = False
    cache: dict[tuple[str, object], Row | None] = field(default_factory=dict)
    written: dict[str, set[object]] = field(default_factory=dict)


def apply_batch(
    conn: psycopg.Connection[Any], targets: Sequence[Target], batch: Batch
) -> int:
    """Apply ``batch`` to every target in one transaction; return rows written.

    Each target's position is read (and locked) inside the transaction, so events it
    already has are skipped, and its tracking moves to the end of the batch even when
    no event of the batch concerns it.
    """
    if not batch:
        return 0
    last = batch[-1][0]
    written = 0
    with conn.transaction(), conn.cursor() as cursor:
        positions = _locked_positions(cursor, [t.schema for t in targets])
        advanced: list[str] = []
        for target, position in zip(targets, positions, strict=True):
            todo = [(p, e) for p, e in batch if p > position]
            if not todo:
                continue
            advanced.append(target.schema)
            rows = (
                Rows(target.schema, cursor, target.cache, target.written)
                if target.fresh
                else Rows(target.schema, cursor)
            )
            rows.prefetch(w for _, e in todo for w in target.view.wanted_rows(e))
            for p, e in todo:
                target.view.apply(rows, e, p)
            written += rows.flush(target.view.tables)
        _record_positions(cursor, advanced, last)
        cursor.execute("SELECT pg_notify(%s, %s)", (VIEWS_CHANNEL, str(last)))
    return written


def _locked_positions(cursor: psycopg.Cursor[Any], schemas: list[str]) -> list[int]:
    """Every schema's position, read and row-locked in one round trip."""
    statement = rendered(
        ("positions", *schemas),
        lambda: sql.SQL(" UNION ALL ").join(
            sql.SQL(
                "(SELECT {0}::int AS n, (SELECT notification_id FROM {1}.tracking "
                "WHERE application_name = %s FOR UPDATE) AS position)"
            ).format(sql.Literal(number), sql.Identifier(schema))
            for number, schema in enumerate(schemas)
        ),
    )
    found = dict(
        cursor.execute(statement, [APPLICATION_NAME] * len(schemas)).fetchall()
    )
    return [int(found.get(number) or 0) for number in range(len(schemas))]


def _record_positions(
    cursor: psycopg.Cursor[Any], schemas: list[str], position: int
) -> None:
    """Move every schema's tracking to ``position`` in one statement, or fail."""
    if not schemas:
        return
    statement = rendered(
        ("record", *schemas), lambda: _record_positions_statement(schemas)
    )
    row = cursor.execute(
        statement, {"app": APPLICATION_NAME, "position": position}
    ).fetchone()
    if row is None or row[0] != len(schemas):
        msg = f"a view is already at or beyond position {position}"
        raise IntegrityError(msg)


def _record_positions_statement(schemas: list[str]) -> sql.Composed:
    moves = sql.SQL(", ").join(
        sql.SQL(
            "m{0} AS (INSERT INTO {1}.tracking AS t VALUES (%(app)s, %(position)s) "
            "ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = EXCLUDED.notification_id "
            "WHERE t.notification_id < EXCLUDED.notification_id RETURNING 1)"
        ).format(sql.SQL(str(number)), sql.Identifier(schema))
        for number, schema in enumerate(schemas)
    )
    total = sql.SQL(" + ").join(
        sql.SQL("(SELECT count(*) FROM m{})").format(sql.SQL(str(number)))
        for number in range(len(schemas))
    )
    return sql.SQL("WITH {} SELECT {}").format(moves, total)


def read_positions(
    conn: psycopg.Connection[Any], views: Iterable[type[View]]
) -> dict[str, int]:
    """Each view's live position (0 for a view not created yet)."""
    positions: dict[str, int] = {}
    with conn.cursor() as cursor:
        for view in views:
            try:
                with conn.transaction():
                    positions[view.name] = View.read_position(
                        cursor, view.live_schema()
                    )
            except psycopg.errors.UndefinedTable:
                positions[view.name] = 0
    return positions


class PositionWatcher:
    """Knows how far every view has got; ``wait_for`` blocks until they all have.

    Woken by ``NOTIFY ledger_views`` from runners in any process (and directly by a
    runner in this process), never by a fixed polling step.
    """

    def __init__(self, conninfo: str, views: Sequence[type[View]] = VIEWS) -> None:
        self.conninfo = conninfo
        self.views = views
        self._positions = dict.fromkeys((v.name for v in views), 0)
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
                        sql.SQL("LISTEN {}").format(sql.Identifier(VIEWS_CHANNEL))
                    )
                    self.connected.set()
                    while not self._stopping.is_set():
                        self.update(read_positions(conn, self.views))
                        for _ in conn.notifies(
                            timeout=CHECK_INTERVAL_SECONDS, stop_after=1
                        ):
                            pass
            except psycopg.Error:
                self.connected.clear()
                log.warning("position watcher lost its connection; reconnecting")
                self._stopping.wait(RESTART_PAUSE_SECONDS)


@dataclass
class RunnerState:
    """What a runner is doing, for status and readiness."""

    owned: set[str] = field(default_factory=set)
    alive: bool = False
    restarts: int = 0
    last_error: str | None = None
    positions: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    """Sessions that ended in an error since the last progress."""


class Follower:
    """Supervised LISTEN/NOTIFY follower of the log (the base of every runner).

    Subclasses say what to lock (``acquire``), what to create (``prepare``) and
    what to do with new events (``catch_up``); this class keeps the session alive.
    """

    label = "follower"

    def __init__(
        self,
        reader: EventReader,
        conninfo: str,
        *,
        check_interval_seconds: float = CHECK_INTERVAL_SECONDS,
        events_channel: str = EVENTS_CHANNEL,
    ) -> None:
        self.reader = reader
        self.conninfo = conninfo
        self.check_interval_seconds = check_interval_seconds
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
            try:
                self._session()
            except Exception as error:
                self.state.restarts += 1
                self.state.failures += 1
                self.state.last_error = f"{type(error).__name__}: {error}"
                log.warning("%s restarting after %s", self.label, error, exc_info=True)
            finally:
                self.state.alive = False
                self.state.owned.clear()
                self.state.positions.clear()
            failures = max(0, self.state.failures - 1)
            pause = min(MAX_RESTART_PAUSE_SECONDS, RESTART_PAUSE_SECONDS * 2**failures)
            self._stopping.wait(pause)

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
                for _ in listener.notifies(
                    timeout=self.check_interval_seconds, stop_after=1
                ):
                    pass
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
            log.info("%s now owns %s", self.label, name)

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
        check_interval_seconds: float = CHECK_INTERVAL_SECONDS,
        on_commit: Callable[[dict[str, int]], None] | None = None,
        events_channel: str = EVENTS_CHANNEL,
    ) -> None:
        super().__init__(
            reader,
            conninfo,
            check_interval_seconds=check_interval_seconds,
            events_channel=events_channel,
        )
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
        while not self.stopping:
            batch = self.reader.read(after, self.batch_size)
            if not batch:
                break
            apply_batch(conn, targets, batch)
            after = batch[-1][0]
            done = {t.view.name: after for t in targets}
            self.state.positions.update(done)
            if self.on_commit is not None:
                self.on_commit(done)


class Reactor(Protocol):
    """A process: reacts to some events with idempotent side effects."""

    name: str

    def handles(self, event: object) -> bool:
        """Whether ``event`` concerns this process."""
        ...

    def react(self, event: Any) -> None:  # noqa: ANN401 - any handled event
        """Do what the event calls for; raise to be retried later."""
        ...


class ProcessFollower(Follower):
    """Feeds a process the events it handles, exactly once per success.

    The position is tracked in the process's own schema and moves past an event
    only after ``react`` returned. A failure ends the session: the supervisor waits
    (backing off exponentially while the same event keeps failing) and retries it.
    """

    def __init__(
        self,
        reader: EventReader,
        conninfo: str,
        reactor: Reactor,
        *,
        check_interval_seconds: float = CHECK_INTERVAL_SECONDS,
    ) -> None:
        super().__init__(
            reader, conninfo, check_interval_seconds=check_interval_seconds
        )
        self.reactor = reactor
        self.label = f"process-{reactor.name}"
        self.schema = f"process_{reactor.name}"

    def prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create the process's tracking table."""
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", DDL_LOCK)
            create_tracking(cursor, self.schema)

    def acquire(self, conn: psycopg.Connection[Any]) -> None:
        """One instance of a process runs at a time, across processes."""
        key = zlib.crc32(self.schema.encode()) & 0x7FFFFFFF
        self.try_lock(conn, self.reactor.name, key)

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """React to each new handled event, then track it."""
        if self.reactor.name not in self.state.owned:
            return
        with conn.cursor() as cursor:
            after = View.read_position(cursor, self.schema)
        while not self.stopping:
            batch = self.reader.read(after, BATCH_SIZE)
            if not batch:
                return
            for position, event in batch:
                if self.stopping:
                    return
                if self.reactor.handles(event):
                    self.reactor.react(event)
                    self._track(conn, position)
                after = position
            self._track(conn, after)
            self.state.positions[self.reactor.name] = after

    def _track(self, conn: psycopg.Connection[Any], position: int) -> None:
        with conn.transaction(), conn.cursor() as cursor:
            if View.read_position(cursor, self.schema, lock=True) < position:
                View.record_position(cursor, self.schema, position)
        self.state.failures = 0
