"""Replaying the log into fresh tables fast: rebuild and verify.

The live runner's path (``projections.batches``) writes every batch through the
views' handlers and a ``Rows`` unit of work that reads, upserts and forgets rows.
A replay into tables that nothing else writes can do the same work far cheaper,
with the very same handlers (one copy of the rules):

* events are read in large pages with a plain SELECT and decoded straight into
  event objects (``projections.reader.RawLog``);
* each event goes only to the handlers of the views that handle its type (no
  per-view pass over the whole batch);
* rows stay in memory across batches (``BulkRows``), so a row is usually written
  once, when its batch ends, with a binary COPY; only rows already written and
  changed again are merged. The memory is bounded: past ``MAX_CACHED_ROWS`` the
  oldest rows are forgotten (and read back by key if an event needs them), and
  the rows of tables no handler reads are forgotten after every batch;
* the tables have only their primary keys while they are loaded; the other
  indexes are built at the end (see ``projections.maintenance``).

Each batch is one transaction that also moves the tracking, like the live path,
so the replay is exactly-once. A batch that fails because of an event (see
``set_aside.is_poison``: a handler's error, a value PostgreSQL refuses) is rolled
back and applied again by the live path's ``apply_batch``, which finds the event,
sets it aside and applies every other one; the replay then goes on fast.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import Cursor, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.rows import dict_row

from projections import set_aside, tracking
from projections.batches import SetAsideHook, Target, apply_batch
from projections.reader import Batch, EventReader
from projections.store import Row, Rows, Table, rendered
from projections.view import View

REPLAY_BATCH_SIZE = 10_000
MAX_CACHED_ROWS = 100_000
"""Rows kept in memory across batches, over every view of a replay."""
_MISSING = object()

Progress = Callable[[int, int], None]
"""Called with (position reached, head of the log)."""


class _JsonbText(Dumper):
    """A ``jsonb`` value given as JSON text, in COPY's binary format."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:  # noqa: ANN401 - text from the handlers
        return b"\x01" + str(obj).encode()


def prepare_connection(conn: psycopg.Connection[Any]) -> None:
    """Set up ``conn`` for binary COPY of view rows (jsonb given as text)."""
    info = conn.adapters.types["jsonb"]
    dumper = type("JsonbText", (_JsonbText,), {"oid": info.oid})
    conn.adapters.register_dumper(None, dumper)


class Written:
    """Which keys of which tables were written: never wrong about "no".

    A fixed-size Bloom filter (two bits per key), so that a key created later in
    the same batch, or never, costs no query, whatever the length of the log; a
    false "maybe" (rare until tens of millions of keys) costs one lookup. Once
    anything else wrote the tables (``complete`` is off), every key is a maybe.
    """

    BITS = 1 << 24
    MASK = BITS - 1

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS >> 3)
        self.complete = True

    def add(self, salt: int, key: object) -> None:
        """Note that ``key`` was written to the table salted ``salt``."""
        number = hash(key) ^ salt
        low, high = number & self.MASK, (number >> 24) & self.MASK
        self.bits[low >> 3] |= 1 << (low & 7)
        self.bits[high >> 3] |= 1 << (high & 7)

    def may_hold(self, salt: int, key: object) -> bool:
        """Whether ``key`` may have been written to the table salted ``salt``."""
        if not self.complete:
            return True
        number = hash(key) ^ salt
        low, high = number & self.MASK, (number >> 24) & self.MASK
        bits = self.bits
        return bool(bits[low >> 3] & (1 << (low & 7))) and bool(
            bits[high >> 3] & (1 << (high & 7))
        )


class BulkRows(Rows):
    """``Rows`` for a replay into fresh tables: rows outlive the batch.

    The handlers see the same interface. Every row changed during a batch is
    written by ``flush``: with a binary COPY when it was created in the batch,
    else merged. A key neither cached nor known absent is looked up by key.
    """

    def __init__(self, schema: str, cursor: Cursor[Any]) -> None:
        super().__init__(schema, cursor)
        self.rows: defaultdict[str, dict[object, Row | None]] = defaultdict(dict)
        self.changed: defaultdict[str, dict[object, Row]] = defaultdict(dict)
        self.new: defaultdict[str, set[object]] = defaultdict(set)
        self.read: set[str] = set()
        self.seen = Written()

        self.evicted: set[str] = set()
        """Tables whose written rows were forgotten: only their rows can be needed
        by a batch's events while neither cached nor created by the batch."""

    def reset(self) -> None:
        """Forget every row: a batch was rolled back and written another way."""
        for cached in self.rows.values():
            cached.clear()
        self.changed.clear()
        self.new.clear()
        self.seen.complete = False
        self.evicted.update(self.rows)

    def prefetch(self, wanted: Iterable[tuple[Table, object]]) -> None:
        """Load, with one query per table, every wanted row that may be written."""
        missing: dict[str, tuple[Table, set[object]]] = {}
        may_hold = self.seen.may_hold
        for table, key in wanted:
            cached = self.rows[table.name]
            if key in cached:
                continue
            if may_hold(_salt(table), key):
                missing.setdefault(table.name, (table, set()))[1].add(key)
        for table, keys in missing.values():
            self._load(table, keys)

    def _load(self, table: Table, keys: Iterable[object]) -> None:
        self.read.add(table.name)
        keys = list(keys)
        with self.cursor.connection.cursor(row_factory=dict_row) as cursor:
            selected = cursor.execute(table.select_many(self.schema), (keys,))
            found = {row[table.key]: row for row in selected}
        cached = self.rows[table.name]
        for key in keys:
            cached[key] = found.get(key)

    def get(self, table: Table, key: object) -> Row | None:
        """The row with ``key``, or ``None``; looked up on a cache miss."""
        cached = self.rows[table.name]
        row = cached.get(key, _MISSING)
        self.read.add(table.name)
        if row is _MISSING:
            if not self.seen.may_hold(_salt(table), key):
                return None  # not written yet: absent, or put later
            self._load(table, [key])
            return cached[key]
        return row  # type: ignore[return-value]  # a Row or None once cached

    def put(self, table: Table, values: Row) -> Row:
        """Insert or replace a row; columns not given are NULL."""
        row = dict.fromkeys(table.columns)
        row.update(values)
        if len(row) != len(table.columns):
            row = {name: row[name] for name in table.columns}
        key = row[table.key]
        cached = self.rows[table.name]
        current = cached.get(key, _MISSING)
        if current is None or (
            current is _MISSING
            and not (
                table.name in self.evicted and self.seen.may_hold(_salt(table), key)
            )
        ):  # not written: COPY it (a row that may be written is merged)
            self.new[table.name].add(key)
        cached[key] = row
        self.changed[table.name][key] = row
        return row

    def update(self, table: Table, key: object, **changes: object) -> Row | None:
        """Change some columns of an existing row; a missing row is left missing."""
        row = self.get(table, key)
        if row is None:
            return None
        row.update(changes)
        self.changed[table.name][key] = row
        return row

    def flush(self, tables: Iterable[Table]) -> int:
        """Write the rows changed in this batch; return how many."""
        written = 0
        for table in tables:
            changed = self.changed.pop(table.name, None)
            new = self.new.pop(table.name, set())
            if changed:
                names = list(table.columns)
                fresh = [row for key, row in changed.items() if key in new]
                if fresh:
                    self._copy_binary(table, fresh)
                    add, salt, key_name = self.seen.add, _salt(table), table.key
                    for row in fresh:
                        add(salt, row[key_name])
                again = [row for key, row in changed.items() if key not in new]
                if again:
                    self._copy_merge(table, names, again)
                written += len(changed)
            if table.name not in self.read and self.rows[table.name]:
                self.rows[table.name].clear()  # nothing reads them back
                self.evicted.add(table.name)
        return written

    def cached(self) -> int:
        """How many rows (and known absences) are in memory."""
        return sum(map(len, self.rows.values()))

    def forget_oldest(self, share: float = 0.5) -> None:
        """Forget the oldest ``share`` of every table's rows (all written)."""
        self.evicted.update(self.rows)
        for cached in self.rows.values():
            for key in list(islice(cached, int(len(cached) * share))):
                del cached[key]

    def _copy_binary(self, table: Table, rows: list[Row]) -> None:
        names = tuple(table.columns)
        statement = rendered(
            ("copy-binary", self.schema, table.name),
            lambda: sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.Identifier(self.schema),
                sql.Identifier(table.name),
                sql.SQL(", ").join(map(sql.Identifier, names)),
            ),
        )
        values = itemgetter(*names)
        with self.cursor.copy(statement) as copy:
            copy.set_types([_copy_type(kind) for kind in table.columns.values()])
            for row in rows:
                copy.write_row(values(row))


def _salt(table: Table) -> int:
    return hash(table.name)


def _copy_type(kind: str) -> str:
    """The type name COPY's ``set_types`` takes for a column type."""
    return kind.split("(", 1)[0].strip()


class _Dispatch:
    """Which handlers of which views each event type goes to."""

    def __init__(self, views: Sequence[tuple[View, BulkRows]]) -> None:
        self.views = views
        self.calls: dict[type, list[tuple[Callable[..., None], BulkRows]]] = {}
        self.loads: dict[type, list[tuple[BulkRows, tuple[Any, ...]]]] = {}

    def of(self, event_type: type) -> list[tuple[Callable[..., None], BulkRows]]:
        calls = self.calls.get(event_type)
        if calls is None:
            calls = []
            loads = []
            for view, rows in self.views:
                if type(view).apply is not View.apply:  # takes every event
                    calls.append((view.apply, rows))
                    continue
                handler = view.handlers.get(event_type)
                if handler is not None:
                    calls.append((getattr(view, handler.method), rows))
                    if handler.load:
                        loads.append((rows, handler.load))
            self.calls[event_type] = calls
            self.loads[event_type] = loads
        return calls

    def prefetch(self, batch: Batch) -> None:
        """Load the rows the batch's handlers read that were written and forgotten.

        Until a view forgets rows, every row it wrote is cached: nothing to load.
        """
        wanted: dict[tuple[int, str], tuple[BulkRows, Table, set[object]]] = {}
        for _, event in batch:
            event_type = type(event)
            if event_type not in self.calls:
                self.of(event_type)
            for rows, load in self.loads[event_type]:
                for table, key_of in load:
                    if table.name not in rows.evicted:
                        continue
                    key = key_of(event)
                    if key in rows.rows[table.name]:
                        continue
                    entry = wanted.get((id(rows), table.name))
                    if entry is None:
                        entry = wanted[(id(rows), table.name)] = (rows, table, set())
                    entry[2].add(key)
        for rows, table, keys in wanted.values():
            rows.prefetch((table, key) for key in keys)


def replay(  # noqa: PLR0913 - the parts of one replay
    *,
    conn: psycopg.Connection[Any],
    reader: EventReader,
    targets: Sequence[Target],
    after: int,
    until: int | None,
    progress: Progress | None,
    on_set_aside: SetAsideHook,
    max_cached_rows: int | None = None,
    batch_size: int | None = None,
) -> int:
    """Apply the events after ``after`` (up to ``until``) to fresh ``targets``.

    Every target must be at ``after``. Returns the position reached. At most
    ``max_cached_rows`` (``MAX_CACHED_ROWS`` if None) rows stay in memory; batches
    have ``batch_size`` events (``REPLAY_BATCH_SIZE`` if None). With
    ``until``, the events no target handles are not even decoded, and every target
    ends at ``until``.
    """
    prepare_connection(conn)
    head = until if until is not None else reader.head()
    wanted = handled_types(t.view for t in targets) if until is not None else None
    most = MAX_CACHED_ROWS if max_cached_rows is None else max_cached_rows
    size = REPLAY_BATCH_SIZE if batch_size is None else batch_size
    with conn.cursor() as cursor:
        views = [(t.view, BulkRows(t.schema, cursor)) for t in targets]
        dispatch = _Dispatch(views)
        schemas = [t.schema for t in targets]
        for batch in reader.stream(after, until, size, wanted):
            last = batch[-1][0]
            try:
                with conn.transaction():
                    _apply(dispatch, batch)
                    for view, rows in views:
                        rows.flush(view.tables)
                    tracking.record_position(cursor, schemas, last)
            except Exception as error:
                if not set_aside.is_poison(error):
                    raise
                _apply_slowly(conn, views, targets, batch, on_set_aside)
            if sum(rows.cached() for _, rows in views) > most:
                for _, rows in views:
                    rows.forget_oldest()
            after = last
            if progress is not None:
                progress(after, max(head, after))
        if until is not None and after < until:  # events left out: none handled
            with conn.transaction():
                tracking.record_position(cursor, schemas, until)
            after = until
            if progress is not None:
                progress(after, head)
    return after


def handled_types(views: Iterable[View]) -> frozenset[type] | None:
    """The event classes some of ``views`` handle; None if one takes every event."""
    found: set[type] = set()
    for view in views:
        if type(view).apply is not View.apply:
            return None
        found.update(view.handlers)
    return frozenset(found)


def _apply_slowly(
    conn: psycopg.Connection[Any],
    views: Sequence[tuple[View, BulkRows]],
    targets: Sequence[Target],
    batch: Batch,
    on_set_aside: SetAsideHook,
) -> None:
    """Apply a batch that failed on an event with the live path, which sets it aside."""
    for _, rows in views:
        rows.reset()
    slow = [Target(t.view, t.schema) for t in targets]
    apply_batch(conn, slow, batch, on_set_aside)


def _apply(dispatch: _Dispatch, batch: Batch) -> None:
    dispatch.prefetch(batch)
    calls_of = dispatch.calls
    for position, event in batch:
        for handle, rows in calls_of[type(event)]:
            handle(rows, event, position)
