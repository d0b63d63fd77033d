"""The base of every view: its PostgreSQL schema, tables, handlers and tracking.

A view lives in a schema of its own (``view_<name>``) holding its tables and a
``tracking`` row: the log position of the last event it has applied. Rows and
tracking change in the same transaction, so a crash can neither apply an event twice
nor skip one, and the tracking can only move forward (an update that would not
advance it fails the whole transaction). This is eventsourcing's ``TrackingRecorder``
contract, implemented with our own SQL (``projections.tracking``) so that a view can
be rebuilt in a scratch schema and swapped in by renaming schemas.

Handlers are plain methods registered with ``@on(EventClass, load=...)``; ``load``
names the rows the handler reads, so that a batch can fetch them all at once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import orjson
from eventsourcing.persistence import Tracking, TrackingRecorder
from psycopg import Cursor, sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from domain.documents import compact_document_text
from projections.pages import Page, check_limit, decode_cursor, page_of
from projections.store import KeyFunc, Row, Rows, Table
from projections.tracking import create_tracking, position_of, record_position

H = TypeVar("H", bound=Callable[..., None])


@dataclass(frozen=True)
class Handler:
    """A registered handler: its method name and the rows it reads."""

    method: str
    load: tuple[tuple[Table, KeyFunc], ...]


def on(
    *event_types: type, load: Sequence[tuple[Table, KeyFunc]] = ()
) -> Callable[[H], H]:
    """Register the decorated method as the handler of ``event_types``."""

    def register(method: H) -> H:
        registered: list[tuple[type, tuple[tuple[Table, KeyFunc], ...]]] = getattr(
            method, "_handles", []
        )
        registered.extend((event_type, tuple(load)) for event_type in event_types)
        method._handles = registered  # type: ignore[attr-defined]  # noqa: SLF001
        return method

    return register


def by_originator(event: Any) -> object:  # noqa: ANN401 - any event type
    """Key function: the id of the aggregate that recorded the event."""
    return event.originator_id


class View(TrackingRecorder):
    """A read model: tables in its own schema, kept by handlers of events."""

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    handlers: ClassVar[dict[type, Handler]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {}
        for attribute in dir(cls):
            method = getattr(cls, attribute, None)
            for event_type, load in getattr(method, "_handles", ()):
                cls.handlers[event_type] = Handler(attribute, load)

    def __init__(self, pool: ConnectionPool[Any] | None = None) -> None:
        self._pool = pool

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The connections queries use (views built only to apply events have none)."""
        if self._pool is None:
            msg = f"view {self.name} was built without a connection pool"
            raise RuntimeError(msg)
        return self._pool

    @classmethod
    def live_schema(cls) -> str:
        """The schema the live tables are in."""
        return f"view_{cls.name}"

    @property
    def schema(self) -> str:
        """The schema that queries read."""
        return self.live_schema()

    def fetch_all(self, statement: sql.Composable, params: Sequence[Any]) -> list[Row]:
        """Run a query on the pool; every row as a dict."""
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows: list[Row] = cur.execute(statement, params).fetchall()
            return rows

    def fetch_one(self, statement: sql.Composable, params: Sequence[Any]) -> Row | None:
        """Run a query on the pool; the first row as a dict, or ``None``."""
        rows = self.fetch_all(statement, params)
        return rows[0] if rows else None

    def newest_first(
        self,
        table: str,
        reseller_id: UUID,
        *,
        q: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """A tenant's rows of ``table`` newest first (by ``seq``), searched by ``q``."""
        conditions: list[sql.Composable] = [sql.SQL("reseller_id = %s")]
        params: list[Any] = [reseller_id]
        if q and q.strip():
            condition, values = name_or_document(q)
            conditions.append(condition)
            params += values
        if cursor is not None:
            conditions.append(sql.SQL("seq < %s"))
            params.append(int(decode_cursor(cursor, 1)[0]))
        statement = sql.SQL(
            "SELECT * FROM {}.{} WHERE {} ORDER BY seq DESC LIMIT %s"
        ).format(
            sql.Identifier(self.schema),
            sql.Identifier(table),
            sql.SQL(" AND ").join(conditions),
        )
        params.append(check_limit(limit) + 1)
        return page_of(self.fetch_all(statement, params), limit, "seq")

    # -- structure -------------------------------------------------------------

    @classmethod
    def create(cls, cursor: Cursor[Any], schema: str | None = None) -> None:
        """Create the schema, tables, indexes and tracking table if missing."""
        target = schema or cls.live_schema()
        cursor.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target))
        )
        for table in cls.tables:
            for statement in table.ddl(target):
                cursor.execute(statement)
        create_tracking(cursor, target)

    # -- applying events ---------------------------------------------------------

    @classmethod
    def wanted_rows(cls, event: object) -> Iterable[tuple[Table, object]]:
        """The rows the handler of ``event`` will read."""
        handler = cls.handlers.get(type(event))
        if handler is not None:
            for table, key in handler.load:
                yield table, key(event)

    def apply(self, rows: Rows, event: object, position: int) -> None:
        """Apply one event; events without a handler change no row."""
        handler = self.handlers.get(type(event))
        if handler is not None:
            getattr(self, handler.method)(rows, event, position)

    # -- eventsourcing's TrackingRecorder interface ----------------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record a position without rows (the library's interface)."""
        with self.pool.connection() as conn, conn.cursor() as cursor:
            record_position(cursor, [self.schema], tracking.notification_id)

    def max_tracking_id(self, application_name: str) -> int | None:
        """The view's position (the library's interface)."""
        del application_name  # a view follows one application only
        with self.pool.connection() as conn, conn.cursor() as cursor:
            return position_of(cursor, self.schema) or None


# -- helpers for handlers and queries -------------------------------------------------


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text``, for searching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def event_data(event: object, hidden: frozenset[str] = frozenset()) -> str:
    """An event's own fields as JSON text (ids, dates and times as strings)."""
    data = {
        name: value
        for name, value in vars(event).items()
        if name not in _ENVELOPE and name not in hidden
    }
    # orjson writes UUIDs, dates and datetimes natively, in C: the audit feed
    # encodes every event of the log, so this is on the rebuild's hot path.
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
)
"""Not the event's own fields: ``actor`` (who caused it) is shown beside its data."""


def name_or_document(q: str) -> tuple[sql.Composable, list[object]]:
    """A condition on ``search``/``document``: ``q`` in the name or the document.

    Case and accents are ignored on both sides; punctuation is ignored for documents.
    """
    condition: sql.Composable = sql.SQL("search LIKE %s")
    params: list[object] = [like_pattern(fold(q.strip()))]
    document = compact_document_text(q)
    if document:
        condition = sql.SQL("({} OR document LIKE %s)").format(condition)
        params.append(like_pattern(document))
    return condition, params


def customer_match(customer: str, alias: str) -> tuple[sql.Composable, object]:
    """``customer`` as an id (``<alias>.customer_id``) or a name substring (``n``)."""
    try:
        return sql.SQL("{}.customer_id = %s").format(sql.Identifier(alias)), UUID(
            customer
        )
    except ValueError:
        return sql.SQL("n.search LIKE %s"), like_pattern(fold(customer))


def add_filters(
    conditions: list[sql.Composable],
    params: list[Any],
    filters: Sequence[tuple[str, object]],
) -> None:
    """Append each ``(condition, value)`` whose value was given (is not ``None``)."""
    for condition, value in filters:
        if value is not None:
            conditions.append(sql.SQL(condition))
            params.append(value)
