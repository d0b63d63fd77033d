"""Status, rebuild and verification of views (``ledger projections ...``).

A rebuild replays the whole log into a scratch schema beside the live one, in large
batches, then swaps the schemas in one transaction while holding the live view's
tracking table, so queries keep reading the old tables until the instant of the
swap and the live runner resumes from the rebuilt position. Verification replays
into a scratch schema up to the live view's position and compares every table row
by row.

Both replay with the live runner's rule for events that keep failing (see
``projections.set_aside``): a rebuild sets them aside again (its list replaces the
view's at the swap), and verification skips them, as the live view did.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Self

import psycopg
from psycopg import sql

from projections import bulk, set_aside, tracking
from projections.batches import SetAsideHook, Target, apply_batch, apply_events
from projections.read_models import VIEWS
from projections.reader import EventReader, LogSource
from projections.store import Totals
from projections.view import View
from projections.watcher import read_positions

MAX_REPORTED_DIFFERENCES = 20
CATCH_UP_BATCH_SIZE = 5000
Progress = bulk.Progress
REBUILD_PROCESSES = 2
"""How many processes a rebuild replays in (the views are split between them)."""
PARALLEL_MIN_EVENTS = 20_000
"""A shorter log is rebuilt in one process: another costs more than it saves."""
REPLAY_COSTS = {
    "erp_receivables": 26.0,
    "audit": 26.0,
    "panel_invoices": 18.0,
    "erp_boletos": 14.0,
    "erp_customers": 10.0,
}
"""What replaying a view adds to decoding the log, in µs of CPU per event of the log:
each view replayed alone on ``bench.common.generate_history``'s log, less a replay of
no view; the audit feed's includes decoding the events no other view reads. It
guides ``split``: the two processes measured within 5% of each other."""
DEFAULT_REPLAY_COST = 2.0
"""The others' (each under 5 µs: their events are few)."""


def views_named(names: Sequence[str]) -> list[type[View]]:
    """The view classes called ``names`` (every view when empty)."""
    if not names:
        return list(VIEWS)
    known = {view.name: view for view in VIEWS}
    unknown = [name for name in names if name not in known]
    if unknown:
        msg = f"unknown views: {', '.join(unknown)} (known: {', '.join(known)})"
        raise ValueError(msg)
    return [known[name] for name in names]


@dataclass(frozen=True)
class ViewStatus:
    """Where a view stands against the head of the log."""

    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        """Events recorded that the view has not applied yet."""
        return max(0, self.head - self.position)


def status(conninfo: str, reader: EventReader) -> list[ViewStatus]:
    """Every view's position and lag."""
    head = reader.head()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        positions = read_positions(conn, VIEWS)
    return [ViewStatus(view.name, positions[view.name], head) for view in VIEWS]


def _drop_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute(
        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
    )


def _create_bare(cursor: psycopg.Cursor[Any], view: type[View], schema: str) -> None:
    """A view's tables with their primary keys only, and its tracking table.

    A view that creates more than its tables (its own ``create``) gets it all.
    """
    if view.create.__func__ is not View.create.__func__:  # type: ignore[attr-defined]
        view.create(cursor, schema)
        return
    cursor.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
    )
    for table in view.tables:
        cursor.execute(table.ddl(schema)[0])
    tracking.create_tracking(cursor, schema)


def _create_indexes(
    conn: psycopg.Connection[Any], view: type[View], schema: str
) -> None:
    """The indexes ``_create_bare`` left out (each is ``IF NOT EXISTS``)."""
    for table in view.tables:
        for statement in table.ddl(schema)[1:]:
            conn.execute(statement)


def _catch_up(
    conn: psycopg.Connection[Any],
    reader: EventReader,
    targets: Sequence[Target],
    after: int,
    on_set_aside: SetAsideHook,
) -> int:
    """Apply what was recorded after ``after`` with the live path; the position."""
    while batch := reader.read(after, CATCH_UP_BATCH_SIZE):
        apply_batch(conn, targets, batch, on_set_aside)
        after = batch[-1][0]
    return after


def rebuild(
    conninfo: str,
    reader: EventReader,
    view_classes: Sequence[type[View]],
    progress: Progress | None = None,
) -> int:
    """Rebuild views from position zero and swap them in together.

    Each view is replayed into ``<schema>__rebuild`` while the live tables keep
    answering queries: the views are split in two groups of about the same cost
    (``REPLAY_COSTS``), one replayed here and the other in a process of its own,
    each reading the log itself, so that the rebuild uses two cores. Both replay
    up to the head of the log as it was at the start and build their indexes. A
    failure in either fails the rebuild before the swap: the live views stay.

    The swap locks the live tracking tables (the live runner waits), applies what
    was recorded meanwhile, renames the schemas and commits; the runner then
    resumes from the rebuilt positions.
    """
    found: dict[str, list[set_aside.SetAsideEvent]] = {
        view.name: [] for view in view_classes
    }
    head = reader.head()
    raw = reader.raw_log()
    source = raw.source() if raw is not None else None
    groups = split(view_classes, REBUILD_PROCESSES)
    if source is None or head < PARALLEL_MIN_EVENTS:
        groups = [list(view_classes)]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        set_aside.create(conn.cursor())
    # The same bounds over all processes: rows kept, and events read ahead.
    share = Share(
        max(1, bulk.MAX_CACHED_ROWS // len(groups)),
        max(1, bulk.REPLAY_BATCH_SIZE // len(groups)),
    )
    with _Others(conninfo, source, groups[1:], head, share) as others:

        def report(done: int, _head: int) -> None:
            others.check()
            if progress is not None:
                progress(min(done, others.reached()), head)

        position = _replay_group(
            conninfo,
            reader,
            view_classes=groups[0],
            until=head,
            found=found,
            progress=report,
            share=share,
        )
        for name, events in others.wait(report).items():
            found[name] += events
        position = min(position, others.reached())  # both are at ``head``
    targets = _rebuild_targets(view_classes)
    collect = _collector(found)

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # scratch tables until the swap
        # What was recorded meanwhile, before the live views are held.
        position = _catch_up(conn, reader, targets, position, collect)
        with conn.transaction():
            for target in targets:
                live = type(target.view).live_schema()
                type(target.view).create(conn.cursor(), live)
                tracking.hold(conn.cursor(), live, "ACCESS EXCLUSIVE")
            # Events recorded during the replay: the writers are not held up.
            batch = reader.read(position, 1_000_000)
            apply_batch(conn, targets, batch, collect)
            position = batch[-1][0] if batch else position
            for target in targets:
                set_aside.replace(
                    conn.cursor(), target.view.name, found[target.view.name]
                )
                live = type(target.view).live_schema()
                tracking.announce(conn.cursor(), position, [live])
                _drop_schema(conn, f"{live}__old")
                for source_name, name in (
                    (live, f"{live}__old"),
                    (target.schema, live),
                ):
                    conn.execute(
                        sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                            sql.Identifier(source_name), sql.Identifier(name)
                        )
                    )
        for target in targets:
            _drop_schema(conn, f"{type(target.view).live_schema()}__old")
    return position


def split(view_classes: Sequence[type[View]], parts: int) -> list[list[type[View]]]:
    """``view_classes`` in at most ``parts`` groups of about the same replay cost.

    The costliest first, each to the cheapest group so far; groups keep the order
    of ``view_classes``, and the costliest group comes first.
    """
    groups: list[list[type[View]]] = [[] for _ in range(max(1, parts))]
    costs = [0.0] * len(groups)
    order = {view: number for number, view in enumerate(view_classes)}
    for view in sorted(view_classes, key=_cost_of, reverse=True):
        cheapest = costs.index(min(costs))
        groups[cheapest].append(view)
        costs[cheapest] += _cost_of(view)
    ranked = sorted(zip(costs, groups, strict=True), key=lambda pair: -pair[0])
    return [sorted(group, key=order.__getitem__) for _, group in ranked if group]


def _cost_of(view: type[View]) -> float:
    return REPLAY_COSTS.get(view.name, DEFAULT_REPLAY_COST)


def _replay_group(  # noqa: PLR0913 - the parts of one group's replay
    conninfo: str,
    reader: EventReader,
    *,
    view_classes: Sequence[type[View]],
    until: int,
    found: dict[str, list[set_aside.SetAsideEvent]],
    progress: Progress | None,
    share: Share,
) -> int:
    """Replay ``view_classes`` into fresh ``__rebuild`` schemas up to ``until``.

    The tables are created with their primary keys only and get their other
    indexes at the end. Events set aside go to ``found``. Returns the position.
    """
    targets = _rebuild_targets(view_classes)
    collect = _collector(found)

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # scratch tables until the swap
        conn.execute("SET maintenance_work_mem = '256MB'")
        for target in targets:
            _drop_schema(conn, target.schema)
            with conn.transaction(), conn.cursor() as cursor:
                _create_bare(cursor, type(target.view), target.schema)
        position = bulk.replay(
            conn=conn,
            reader=reader,
            targets=targets,
            after=0,
            until=until,
            progress=progress,
            on_set_aside=collect,
            max_cached_rows=share.cached_rows,
            batch_size=share.batch_size,
        )
        for target in targets:
            _create_indexes(conn, type(target.view), target.schema)
    return position


@dataclass(frozen=True)
class Share:
    """What one process of a rebuild may hold: rows kept, events in a batch."""

    cached_rows: int
    batch_size: int


@dataclass(frozen=True)
class _Job:
    """What a process that replays a group of views is given (it pickles)."""

    conninfo: str
    source: LogSource
    views: tuple[type[View], ...]
    until: int
    share: Share


class RebuildError(RuntimeError):
    """A group of views failed to replay in another process."""


class _Others:
    """The processes that replay the other groups, each its own group of views.

    They are started with ``spawn`` (a fresh interpreter: nothing of this
    process's threads, pools or connections) and ended on leaving, whatever
    happened; a failure or the death of any of them is raised here.
    """

    def __init__(
        self,
        conninfo: str,
        source: LogSource | None,
        groups: Sequence[Sequence[type[View]]],
        until: int,
        share: Share,
    ) -> None:
        self.jobs = [
            _Job(
                conninfo,
                source,
                tuple(group),
                until,
                share,
            )
            for group in groups
            if source is not None
        ]
        self.running: list[tuple[BaseProcess, Connection]] = []
        self.positions: list[int] = []
        self.results: list[dict[str, list[set_aside.SetAsideEvent]] | None] = []

    def __enter__(self) -> Self:
        context = multiprocessing.get_context("spawn")
        for job in self.jobs:
            ours, theirs = context.Pipe(duplex=False)
            process = context.Process(
                target=_replay_elsewhere,
                args=(job, theirs),
                name=f"rebuild {', '.join(view.name for view in job.views)}",
                daemon=True,
            )
            process.start()
            theirs.close()
            self.running.append((process, ours))
            self.positions.append(0)
            self.results.append(None)
        return self

    def __exit__(self, *_exc: object) -> None:
        for process, pipe in self.running:
            if process.is_alive():
                process.terminate()
            process.join()
            pipe.close()

    def reached(self) -> int:
        """The position every other process has reached (the head if none)."""
        return min(self.positions, default=1 << 62)

    def check(self) -> None:
        """Read what the processes said so far; raise if one failed."""
        for number, (process, pipe) in enumerate(self.running):
            while self.results[number] is None and pipe.poll():
                self._receive(number, process, pipe)

    def wait(self, progress: Progress) -> dict[str, list[set_aside.SetAsideEvent]]:
        """Wait for every process to end well; the events each set aside."""
        found: dict[str, list[set_aside.SetAsideEvent]] = {}
        for number, (process, pipe) in enumerate(self.running):
            while self.results[number] is None:
                self._receive(number, process, pipe)
                progress(self.reached(), 0)
            found.update(self.results[number] or {})
            process.join()
        return found

    def _receive(self, number: int, process: BaseProcess, pipe: Connection) -> None:
        try:
            message = pipe.recv()
        except EOFError:
            process.join()
            msg = f"{process.name}: the process ended (exit code {process.exitcode})"
            raise RebuildError(msg) from None
        kind = message[0]
        if kind == "progress":
            self.positions[number] = message[1]
        elif kind == "done":
            self.positions[number] = message[1]
            self.results[number] = message[2]
        else:
            msg = f"{process.name} failed:\n{message[1]}"
            raise RebuildError(msg)


def _replay_elsewhere(job: _Job, pipe: Connection) -> None:
    """A spawned process's work: replay ``job.views``, saying how it goes."""
    found: dict[str, list[set_aside.SetAsideEvent]] = {
        view.name: [] for view in job.views
    }
    try:
        reader = job.source.reader()
        try:
            position = _replay_group(
                job.conninfo,
                reader,
                view_classes=job.views,
                until=job.until,
                found=found,
                progress=lambda done, _head: pipe.send(("progress", done)),
                share=job.share,
            )
        finally:
            reader.close()
        pipe.send(("done", position, found))
    except BaseException:  # noqa: BLE001 - told to the parent, which raises it
        with contextlib.suppress(OSError):
            pipe.send(("failed", traceback.format_exc()))
        raise SystemExit(1) from None
    finally:
        pipe.close()


@dataclass
class Differences:
    """Rows that differ between a live view and its replay from scratch."""

    view: str
    position: int
    only_live: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    only_replayed: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """How many rows differ, in both directions."""
        return sum(map(len, self.only_live.values())) + sum(
            map(len, self.only_replayed.values())
        )


def verify(
    conninfo: str,
    reader: EventReader,
    view_class: type[View],
    progress: Progress | None = None,
) -> Differences:
    """Replay ``view_class`` into scratch tables and compare with the live ones."""
    live = view_class.live_schema()
    scratch = f"{live}__verify"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # scratch tables
        _drop_schema(conn, scratch)
        with conn.transaction(), conn.cursor() as cursor:
            _create_bare(cursor, view_class, scratch)
        target = Target(view_class(), scratch)
        first = read_positions(conn, [view_class])[view_class.name]
        replayed = bulk.replay(
            conn=conn,
            reader=reader,
            targets=[target],
            after=0,
            until=first,
            progress=progress,
            on_set_aside=_skip,
        )
        try:
            with conn.transaction():
                tracking.hold(conn.cursor(), live, "EXCLUSIVE")
                position = tracking.position_of(conn.cursor(), live)
                if position > replayed:
                    batch = [
                        (p, e)
                        for p, e in reader.read(replayed, 1_000_000)
                        if p <= position
                    ]
                    apply_batch(conn, [target], batch, _skip)
                # The scratch tables have no triggers: totals are summed afresh,
                # to be compared with the live ones the triggers kept.
                for table in view_class.tables:
                    if isinstance(table, Totals):
                        for statement in table.fill(scratch):
                            conn.execute(statement)
                differences = _compare(conn, view_class, live, scratch, position)
        finally:
            _drop_schema(conn, scratch)
    return differences


def _skip(_cursor: psycopg.Cursor[Any], _event: set_aside.SetAsideEvent) -> None:
    """Verification replays into scratch tables: it records nothing."""


def _compare(
    conn: psycopg.Connection[Any],
    view_class: type[View],
    live: str,
    scratch: str,
    position: int,
) -> Differences:
    differences = Differences(view_class.name, position)
    for table in view_class.tables:
        for left, right, found in (
            (live, scratch, differences.only_live),
            (scratch, live, differences.only_replayed),
        ):
            rows = conn.execute(
                sql.SQL(
                    "SELECT * FROM {0}.{2} EXCEPT SELECT * FROM {1}.{2} LIMIT %s"
                ).format(
                    sql.Identifier(left),
                    sql.Identifier(right),
                    sql.Identifier(table.name),
                ),
                (MAX_REPORTED_DIFFERENCES,),
            ).fetchall()
            if rows:
                found[table.name] = rows
    return differences


def retry(conninfo: str, reader: EventReader) -> dict[str, set_aside.RetryResult]:
    """Apply each event a view set aside again; forget those that now apply.

    Each is applied to the live tables with the view's tracking row locked, so the
    live runner waits; one that still fails stays set aside, its error refreshed.
    One whose aggregate has later events is left for a rebuild of the view.
    """
    views = {view.name: view for view in VIEWS}
    results: dict[str, set_aside.RetryResult] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for item in set_aside.listed(conn):
            view = views.get(item.follower)
            if view is None:
                continue  # a process's: see ``followers.retry_process``
            result = results.setdefault(view.name, set_aside.RetryResult())
            event = set_aside.event_at(reader, item.position)
            if set_aside.superseded(reader, event):
                result.superseded.append(item.position)
            elif _retry_one(conn, Target(view(), view.live_schema()), item, event):
                result.applied.append(item.position)
            else:
                result.failed.append(item.position)
    return results


def _retry_one(
    conn: psycopg.Connection[Any],
    target: Target,
    item: set_aside.SetAsideEvent,
    event: object,
) -> bool:
    """Apply one set-aside event to the live view; whether it applied."""
    with conn.transaction(), conn.cursor() as cursor:
        tracking.position_of(cursor, target.schema, lock=True)
        try:
            with conn.transaction():
                apply_events(cursor, target, [(item.position, event)])
        except Exception as error:
            if not set_aside.is_poison(error):
                raise
            again = set_aside.of_event(item.follower, item.position, event, error, 1)
            set_aside.record(cursor, again)
            return False
        set_aside.forget(cursor, item.follower, item.position)
        tracking.announce(cursor, item.position, [target.schema])
        return True


def _rebuild_targets(view_classes: Sequence[type[View]]) -> list[Target]:
    """Each view with its ``__rebuild`` schema."""
    return [Target(view(), f"{view.live_schema()}__rebuild") for view in view_classes]


def _collector(
    found: dict[str, list[set_aside.SetAsideEvent]],
) -> Callable[[psycopg.Cursor[Any], set_aside.SetAsideEvent], None]:
    """A set-aside hook that keeps each event in ``found``, by view."""

    def collect(_cursor: psycopg.Cursor[Any], event: set_aside.SetAsideEvent) -> None:
        found[event.follower].append(event)

    return collect
