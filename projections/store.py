"""Row storage for views: table specs, and a unit of work that batches writes.

A view's handlers never write SQL. They read and change rows (plain dicts) through a
``Rows`` unit of work; at the end of a batch every changed row of a table is written
with one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE`` statement. A
batch of hundreds of events therefore costs a handful of statements, which is what
makes catch-up and rebuild fast, while the live path (a batch of one event) uses the
very same code.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg import Cursor, pq, sql
from psycopg.rows import dict_row

Row = dict[str, Any]
KeyFunc = Callable[[Any], object]

_RENDERED: dict[tuple[str, ...], bytes] = {}


def rendered(key: tuple[str, ...], build: Callable[[], sql.Composable]) -> bytes:
    """``build()`` rendered once per ``key`` and kept.

    Composing SQL objects costs more than a small batch's round trip, and these
    statements never change.
    """
    text = _RENDERED.get(key)
    if text is None:
        text = _RENDERED[key] = build().as_bytes(None)
    return text


MAX_CACHED_ROWS = 200_000
SMALL_BATCH_ROWS = 20
"""Up to this many rows a table is written with array parameters; beyond, by COPY."""


@dataclass(frozen=True)
class Table:
    """One table of a view: its columns (name → PostgreSQL type) and primary key."""

    name: str
    columns: Mapping[str, str]
    key: str = "id"
    indexes: tuple[tuple[str, ...], ...] = ()

    def ddl(self, schema: str) -> list[sql.Composed]:
        """Statements that create the table and its indexes in ``schema``."""
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
            for name, kind in self.columns.items()
        )
        statements = [
            sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} ({}, PRIMARY KEY ({}))").format(
                sql.Identifier(schema),
                sql.Identifier(self.name),
                columns,
                sql.Identifier(self.key),
            )
        ]
        for number, index in enumerate(self.indexes):
            statements.append(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} ({})").format(
                    sql.Identifier(f"{self.name}_ix{number}"),
                    sql.Identifier(schema),
                    sql.Identifier(self.name),
                    sql.SQL(", ").join(sql.SQL(part) for part in index),
                )
            )
        return statements

    def upsert(self, schema: str) -> bytes:
        """One statement writing many rows, given one array per column."""
        return rendered(("upsert", schema, self.name), lambda: self._upsert(schema))

    def _upsert(self, schema: str) -> sql.Composed:
        names = list(self.columns)
        return sql.SQL(
            "INSERT INTO {schema}.{table} ({columns}) "
            "SELECT {casts} FROM unnest({arrays}) AS u({columns}) "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}"
        ).format(
            schema=sql.Identifier(schema),
            table=sql.Identifier(self.name),
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            casts=sql.SQL(", ").join(
                sql.SQL("u.{}::{}").format(sql.Identifier(n), sql.SQL(self.columns[n]))
                for n in names
            ),
            arrays=sql.SQL(", ").join(
                sql.SQL("%s::{}[]").format(sql.SQL(_array_type(self.columns[n])))
                for n in names
            ),
            key=sql.Identifier(self.key),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
                for n in names
                if n != self.key
            ),
        )

    def stage(self, schema: str) -> tuple[sql.Identifier, list[sql.Composed]]:
        """A temporary table shaped like this one, emptied at every commit."""
        stage = sql.Identifier(f"stage_{zlib.crc32(schema.encode()):08x}_{self.name}")
        create = sql.SQL(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {} (LIKE {}.{}) ON COMMIT DELETE ROWS"
        ).format(stage, sql.Identifier(schema), sql.Identifier(self.name))
        return stage, [create]

    def merge_from(self, schema: str, stage: sql.Identifier) -> bytes:
        """Upsert every staged row into the table."""
        return rendered(
            ("merge", schema, self.name), lambda: self._merge_from(schema, stage)
        )

    def _merge_from(self, schema: str, stage: sql.Identifier) -> sql.Composed:
        names = list(self.columns)
        return sql.SQL(
            "INSERT INTO {schema}.{table} ({columns}) SELECT {columns} FROM {stage} "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}"
        ).format(
            schema=sql.Identifier(schema),
            table=sql.Identifier(self.name),
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            stage=stage,
            key=sql.Identifier(self.key),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
                for n in names
                if n != self.key
            ),
        )

    def select_many(self, schema: str) -> bytes:
        """Rows whose key is in an array parameter."""
        return rendered(
            ("select", schema, self.name),
            lambda: sql.SQL("SELECT * FROM {}.{} WHERE {} = ANY(%s)").format(
                sql.Identifier(schema),
                sql.Identifier(self.name),
                sql.Identifier(self.key),
            ),
        )


@dataclass(frozen=True)
class Totals(Table):
    """Sums of a source table's rows per group, kept by PostgreSQL itself.

    The rows are ``groups`` (the key) plus ``count`` and one column per entry of
    ``sums`` (column, expression over a source row), all ``bigint``. Statement
    triggers on ``source`` add what each statement inserts and take away what it
    updates or deletes, with the transition tables, in the writer's transaction:
    whatever writes the source (a handler's batch, a merge, a COPY) keeps the totals
    exact, and a reader sums a few rows per group instead of every source row. A
    group whose count falls to zero is deleted, so the table holds what ``fill``
    computes from scratch (``ledger projections verify`` compares the two).

    ``ddl`` creates the table first, like any table; the rest (the trigger function,
    then the triggers with a first ``fill`` when they are missing) comes with the
    indexes, so a rebuild fills the table once, after the bulk load.
    """

    source: Table | None = None
    groups: tuple[str, ...] = ()
    sums: tuple[tuple[str, str], ...] = ()

    def ddl(self, schema: str) -> list[sql.Composed]:
        """The table, its trigger function, and the triggers with a first fill."""
        schema_id, table = sql.Identifier(schema), sql.Identifier(self.name)
        function = sql.Identifier(f"{self.name}_keep")
        create = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} ({}, PRIMARY KEY ({}))"
        ).format(
            schema_id,
            table,
            sql.SQL(", ").join(
                sql.SQL("{} {} NOT NULL").format(sql.Identifier(n), sql.SQL(kind))
                for n, kind in self.columns.items()
            ),
            self._key(),
        )
        keep = sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.{}() RETURNS trigger LANGUAGE plpgsql AS {}"
        ).format(schema_id, function, sql.Literal(self._keep_body().as_string(None)))
        triggers = sql.SQL(" ").join(
            sql.SQL(
                "CREATE TRIGGER {name} AFTER {op} ON {schema}.{source}"
                " REFERENCING {tables} FOR EACH STATEMENT"
                " EXECUTE FUNCTION {schema}.{function}();"
            ).format(
                name=sql.Identifier(f"{self.name}_{op.lower()}"),
                op=sql.SQL(op),
                schema=schema_id,
                source=sql.Identifier(self._source().name),
                tables=sql.SQL(tables),
                function=function,
            )
            for op, tables in (
                ("INSERT", "NEW TABLE AS new_rows"),
                ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                ("DELETE", "OLD TABLE AS old_rows"),
            )
        )
        # The source is locked before it is summed: no writer slips between the
        # fill and the triggers (they wait, then fire the new triggers).
        first = sql.SQL(
            "DO $first$ BEGIN IF NOT EXISTS (SELECT FROM pg_trigger"
            " WHERE tgrelid = {source_name}::regclass AND tgname = {trigger})"
            " THEN LOCK TABLE {schema}.{source} IN SHARE ROW EXCLUSIVE MODE;"
            " {fill}; {triggers} END IF; END $first$"
        ).format(
            source_name=sql.Literal(f'"{schema}"."{self._source().name}"'),
            trigger=sql.Literal(f"{self.name}_insert"),
            schema=schema_id,
            source=sql.Identifier(self._source().name),
            fill=sql.SQL("; ").join(self.fill(schema)),
            triggers=triggers,
        )
        return [create, keep, first]

    def fill(self, schema: str) -> list[sql.Composed]:
        """Statements that compute the totals afresh from the source rows."""
        schema_id, table = sql.Identifier(schema), sql.Identifier(self.name)
        groups = sql.SQL(", ").join(map(sql.Identifier, self.groups))
        return [
            sql.SQL("DELETE FROM {}.{}").format(schema_id, table),
            sql.SQL(
                "INSERT INTO {}.{} ({}, count, {}) SELECT {}, count(*), {}"
                " FROM {}.{} GROUP BY {}"
            ).format(
                schema_id,
                table,
                groups,
                sql.SQL(", ").join(sql.Identifier(n) for n, _ in self.sums),
                groups,
                sql.SQL(", ").join(
                    sql.SQL("sum({})::bigint").format(sql.SQL(e)) for _, e in self.sums
                ),
                schema_id,
                sql.Identifier(self._source().name),
                groups,
            ),
        ]

    def _source(self) -> Table:
        if self.source is None:
            raise TypeError(f"totals {self.name} have no source table")
        return self.source

    def _key(self) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, self.groups))

    def _keep_body(self) -> sql.Composable:
        """The trigger function's body: the changes of the statement that fired it.

        ``old_rows`` and ``new_rows`` are only named in the branches whose trigger
        declares them (one function serves all three). The statements are run with
        ``EXECUTE`` and the schema of the table that fired (``%1$I``): a rebuilt
        view's schema is renamed when it is swapped in, which would leave a name
        written into the body pointing at the old one.
        """
        groups = sql.SQL(", ").join(map(sql.Identifier, self.groups))
        names = ["count", *(n for n, _ in self.sums)]
        columns = sql.SQL(", ").join(map(sql.Identifier, names))
        totals = sql.SQL("%1$I.{}").format(sql.Identifier(self.name))

        def side(rows: str, sign: str) -> sql.Composable:
            return sql.SQL("SELECT {}, {}1::bigint, {} FROM {}").format(
                groups,
                sql.SQL(sign),
                sql.SQL(", ").join(
                    sql.SQL("{}({})::bigint").format(sql.SQL(sign), sql.SQL(e))
                    for _, e in self.sums
                ),
                sql.Identifier(rows),
            )

        def run(statement: sql.Composable) -> sql.Composable:
            return sql.SQL("EXECUTE format({}, TG_TABLE_SCHEMA);").format(
                sql.Literal(statement.as_string(None))
            )

        def add(*sides: sql.Composable) -> sql.Composable:
            return run(
                sql.SQL(
                    "INSERT INTO {totals} AS t ({groups}, {columns})"
                    " SELECT {groups}, {sums} FROM ({sides}) AS d({groups}, {columns})"
                    " GROUP BY {groups} ON CONFLICT ({groups}) DO UPDATE SET {changes}"
                ).format(
                    totals=totals,
                    groups=groups,
                    columns=columns,
                    sums=sql.SQL(", ").join(
                        sql.SQL("sum({})::bigint").format(sql.Identifier(n))
                        for n in names
                    ),
                    sides=sql.SQL(" UNION ALL ").join(sides),
                    changes=sql.SQL(", ").join(
                        sql.SQL("{0} = t.{0} + excluded.{0}").format(sql.Identifier(n))
                        for n in names
                    ),
                )
            )

        delete = run(
            sql.SQL(
                "DELETE FROM {} t USING (SELECT DISTINCT {} FROM old_rows) k"
                " WHERE t.count = 0 AND {}"
            ).format(
                totals,
                groups,
                sql.SQL(" AND ").join(
                    sql.SQL("t.{0} = k.{0}").format(sql.Identifier(g))
                    for g in self.groups
                ),
            )
        )
        new, old = side("new_rows", ""), side("old_rows", "-")
        return sql.SQL(
            "BEGIN IF TG_OP = 'INSERT' THEN"
            " IF EXISTS (SELECT FROM new_rows) THEN {} END IF;"
            " ELSIF TG_OP = 'UPDATE' THEN"
            " IF EXISTS (SELECT FROM old_rows) THEN {} {} END IF;"
            " ELSE IF EXISTS (SELECT FROM old_rows) THEN {} {} END IF;"
            " END IF; RETURN NULL; END"
        ).format(add(new), add(new, old), delete, add(old), delete)


def _array_type(kind: str) -> str:
    # jsonb travels as text: psycopg cannot infer a jsonb[] from Python lists.
    return "text" if kind == "jsonb" else kind


@dataclass
class Rows:
    """The rows one batch reads and changes, written back in one go by ``flush``.

    ``cache`` may outlive a batch only where nothing else writes the tables (a
    rebuild into fresh tables); the live runner starts every batch empty. For tables
    that started empty, ``written`` holds the keys already written: a key outside it
    is known to be absent (no query) and is written with a plain COPY.
    """

    schema: str
    cursor: Cursor[Any]
    cache: dict[tuple[str, object], Row | None] = field(default_factory=dict)
    written: dict[str, set[object]] | None = None
    dirty: dict[str, dict[object, Row]] = field(default_factory=dict)

    def prefetch(self, wanted: Iterable[tuple[Table, object]]) -> None:
        """Load, with one query per table, every wanted row not cached yet."""
        self.receive(self.request(wanted))

    def request(self, wanted: Iterable[tuple[Table, object]]) -> list[Pending]:
        """Send one query per table for the wanted rows not cached yet.

        ``receive`` reads their results. In pipeline mode the queries go with
        whatever else is sent before the next sync, in one round trip.
        """
        missing: dict[str, tuple[Table, set[object]]] = {}
        for table, key in wanted:
            if (table.name, key) in self.cache:
                continue
            if self.written is not None and key not in self.written.get(table.name, ()):
                self.cache[(table.name, key)] = None  # a fresh table lacks it
                continue
            missing.setdefault(table.name, (table, set()))[1].add(key)
        pending: list[Pending] = []
        try:
            for table, keys in missing.values():
                cursor = self.cursor.connection.cursor(row_factory=dict_row)
                pending.append(Pending(table, keys, cursor))
                cursor.execute(table.select_many(self.schema), (list(keys),))
        except BaseException:
            for query in pending:
                query.cursor.close()
            raise
        return pending

    def receive(self, pending: Iterable[Pending]) -> None:
        """Cache the rows ``request`` asked for (``None`` for those absent)."""
        for query in pending:
            with query.cursor as cursor:
                found = {row[query.table.key]: row for row in cursor.fetchall()}
            for key in query.keys:
                self.cache[(query.table.name, key)] = found.get(key)

    def get(self, table: Table, key: object) -> Row | None:
        """The row with ``key``, or ``None``; loaded on a cache miss."""
        if (table.name, key) not in self.cache:
            self.prefetch([(table, key)])
        return self.cache[(table.name, key)]

    def put(self, table: Table, values: Row) -> Row:
        """Insert or replace a row; columns not given are NULL."""
        row = {name: values.get(name) for name in table.columns}
        key = row[table.key]
        self.cache[(table.name, key)] = row
        self.dirty.setdefault(table.name, {})[key] = row
        return row

    def update(self, table: Table, key: object, **changes: object) -> Row | None:
        """Change some columns of an existing row; a missing row is left missing."""
        row = self.get(table, key)
        if row is None:
            return None
        row.update(changes)
        self.dirty.setdefault(table.name, {})[key] = row
        return row

    def _copy_merge(self, table: Table, names: list[str], rows: Iterable[Row]) -> None:
        # COPY formats rows in C (psycopg's binary build): far cheaper than array
        # parameters for large batches. The staged rows are then merged in one go.
        stage, create = table.stage(self.schema)
        for statement in create:
            self.cursor.execute(statement)
        self._copy_into(stage, names, rows)
        self.cursor.execute(table.merge_from(self.schema, stage))
        self.cursor.execute(sql.SQL("DELETE FROM {}").format(stage))

    def _copy(self, table_name: str, names: list[str], rows: Iterable[Row]) -> None:
        target = sql.SQL("{}.{}").format(
            sql.Identifier(self.schema), sql.Identifier(table_name)
        )
        self._copy_into(target, names, rows)

    def _copy_into(
        self, target: sql.Composable, names: list[str], rows: Iterable[Row]
    ) -> None:
        columns = sql.SQL(", ").join(map(sql.Identifier, names))
        statement = rendered(
            ("copy", target.as_string(None), *names),
            lambda: sql.SQL("COPY {} ({}) FROM STDIN").format(target, columns),
        )
        with self.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row.get(name) for name in names])

    def flush(self, tables: Iterable[Table]) -> int:
        """Write every changed row; return how many rows were written."""
        written = 0
        for table in tables:
            rows = self.dirty.pop(table.name, None)
            if not rows:
                continue
            names = list(table.columns)
            written += len(rows)
            if self.written is not None:
                known = self.written.setdefault(table.name, set())
                new = {key: row for key, row in rows.items() if key not in known}
                if new:
                    self._copy(table.name, names, new.values())
                known.update(new)
                rows = {key: row for key, row in rows.items() if key not in new}
            if not rows:
                continue
            # COPY cannot run in pipeline mode (the live runner's small batches).
            if len(rows) <= SMALL_BATCH_ROWS or self._pipelined():
                arrays = [[row.get(name) for row in rows.values()] for name in names]
                self.cursor.execute(table.upsert(self.schema), arrays)
            else:
                self._copy_merge(table, names, rows.values())
        if len(self.cache) > MAX_CACHED_ROWS:
            self.cache.clear()
        return written

    def _pipelined(self) -> bool:
        return self.cursor.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF


@dataclass(frozen=True)
class Pending:
    """A query ``Rows.request`` sent: the rows of ``table`` with these keys."""

    table: Table
    keys: set[object]
    cursor: Cursor[Row]
