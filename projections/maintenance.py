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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from projections import bulk, set_aside, tracking
from projections.batches import SetAsideHook, Target, apply_batch, apply_events
from projections.read_models import VIEWS
from projections.reader import EventReader
from projections.view import View
from projections.watcher import read_positions

MAX_REPORTED_DIFFERENCES = 20
CATCH_UP_BATCH_SIZE = 5000
Progress = bulk.Progress


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
    """Rebuild views from position zero in one pass and swap them in together.

    Each view is replayed into ``<schema>__rebuild`` while the live tables keep
    answering queries. The swap locks the live tracking tables (the live runner
    waits), applies what was recorded meanwhile, renames the schemas and commits;
    the runner then resumes from the rebuilt positions.
    """
    targets = [
        Target(view(), f"{view.live_schema()}__rebuild") for view in view_classes
    ]
    found: dict[str, list[set_aside.SetAsideEvent]] = {
        view.name: [] for view in view_classes
    }

    def collect(_cursor: psycopg.Cursor[Any], event: set_aside.SetAsideEvent) -> None:
        found[event.follower].append(event)

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # scratch tables until the swap
        conn.execute("SET maintenance_work_mem = '256MB'")
        for target in targets:
            _drop_schema(conn, target.schema)
            with conn.transaction(), conn.cursor() as cursor:
                _create_bare(cursor, type(target.view), target.schema)
                set_aside.create(cursor)
        position = bulk.replay(
            conn=conn,
            reader=reader,
            targets=targets,
            after=0,
            until=None,
            progress=progress,
            on_set_aside=collect,
        )
        for target in targets:
            _create_indexes(conn, type(target.view), target.schema)
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
                for source, name in ((live, f"{live}__old"), (target.schema, live)):
                    conn.execute(
                        sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                            sql.Identifier(source), sql.Identifier(name)
                        )
                    )
        for target in targets:
            _drop_schema(conn, f"{type(target.view).live_schema()}__old")
    return position


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
