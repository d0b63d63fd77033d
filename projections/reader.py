"""Reading the ledger's event log: decoded events by position, in batches.

Views and processes depend on the log through ``EventReader``, not on the
application's commands; the composition root builds it from the application's
recorder and mapper.
"""

from __future__ import annotations

import contextlib
import importlib
import queue
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn
from uuid import UUID, SafeUUID

import eventsourcing.utils
import orjson
import psycopg
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import tuple_row

EVENTS_CHANNEL = "ledger_events"
"""The channel the library's recorder notifies on every commit (its table name)."""
BATCH_SIZE = 500

Event = Any
Batch = list[tuple[int, Event]]
"""Events with their log positions, in order."""


@dataclass(frozen=True)
class Undecodable:
    """An event of the log this code cannot decode: an unknown topic, a bad state.

    It stands in the batch at its position, so followers do not stop on it: each
    view and process that meets it fails on it (``fail``) and sets it aside, as for
    an event its handler cannot apply.
    """

    originator_id: UUID | str
    originator_version: int
    topic: str
    error: Exception

    def fail(self) -> NoReturn:
        """Raise what decoding it raised."""
        raise self.error


RECENT_EVENTS = 4096


class RecentEvents:
    """Events lately decoded in this process, by position, for all its readers.

    The views' runner and each process follower read the same new events one
    after another, and decoding them is most of what reading costs; with this,
    the first reader decodes an event and the others take it. Decoded events are
    frozen and only read, so one object serves them all. An entry is used only
    for the stored event it was decoded from (same originator and version). The
    newest ``size`` events are kept.
    """

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._size = size
        self._events: dict[int, tuple[UUID | str, int, Event]] = {}
        self._guard = threading.Lock()

    def get(self, position: int, stored: StoredEvent) -> Event | None:
        """The event decoded from ``stored`` at ``position``, if kept."""
        kept = self._events.get(position)
        if kept is None or kept[:2] != (
            stored.originator_id,
            stored.originator_version,
        ):
            return None
        return kept[2]

    def put(self, position: int, stored: StoredEvent, event: Event) -> None:
        """Keep ``event``, decoded from ``stored`` at ``position``."""
        with self._guard:
            self._events[position] = (
                stored.originator_id,
                stored.originator_version,
                event,
            )
            while len(self._events) > self._size:
                del self._events[next(iter(self._events))]  # the oldest kept


class EventReader:
    """Decoded events of the ledger's log, by position.

    Readers given the same ``recent`` share what each decodes (``RecentEvents``).
    """

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        recent: RecentEvents | None = None,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.recent = recent

    def read(self, after: int, limit: int = BATCH_SIZE) -> Batch:
        """Up to ``limit`` events after position ``after``, in order."""
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        to_event = self.mapper.to_domain_event
        recent = self.recent

        def decoded(position: int, notification: StoredEvent) -> Event:
            if recent is not None:
                kept = recent.get(position, notification)
                if kept is not None:
                    return kept
            try:
                event = to_event(notification)
            except Exception as error:  # noqa: BLE001 - set aside by who meets it
                return Undecodable(
                    notification.originator_id,
                    notification.originator_version,
                    notification.topic,
                    error,
                )
            if recent is not None:
                recent.put(position, notification, event)
            return event

        return [(n.id, decoded(n.id, n)) for n in notifications]

    def raw_log(self) -> RawLog | None:
        """The fast reader of this log, or None where only the library can read it."""
        return RawLog.of(self)

    def stream(
        self,
        after: int,
        until: int | None = None,
        batch_size: int = BATCH_SIZE,
        wanted: Collection[type] | None = None,
    ) -> Iterator[Batch]:
        """Batches after ``after`` (up to ``until``), read ahead in a thread.

        While the caller applies one batch (mostly waiting on PostgreSQL), the next
        one is fetched and decoded. A whole-log replay reads with ``RawLog`` (one
        plain SELECT per page, decoded with orjson) when the recorder and mapper are
        the library's PostgreSQL ones, else through them. With ``wanted``, ``RawLog``
        leaves out, undecoded, the events of other classes: a batch may then be
        shorter than ``batch_size``, and the last one may end before ``until`` (or
        the head), which the caller knows only if it gave ``until``.
        """
        raw = self.raw_log()
        ahead: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce() -> None:
            position = after
            try:
                while not stop.is_set():
                    reached, batch = self._page(
                        raw, position, until, batch_size, wanted
                    )
                    if reached == position:
                        break
                    if batch:
                        ahead.put(batch)
                    position = reached
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

    def _page(
        self,
        raw: RawLog | None,
        after: int,
        until: int | None,
        limit: int,
        wanted: Collection[type] | None,
    ) -> tuple[int, Batch]:
        if raw is not None:
            return raw.page(after, until, limit, wanted)
        batch = self.read(after, limit)
        if until is not None:
            batch = [(p, e) for p, e in batch if p <= until]
        return (batch[-1][0] if batch else after), batch

    def head(self) -> int:
        """The position of the last event recorded."""
        return self.recorder.max_notification_id() or 0


_MAX_CACHED_IDS = 100_000


def _reads_like_the_library(part: object, library_class: type) -> bool:
    """``part`` is the library's class, or a subclass that says it reads the same.

    Subclasses of ours (the hash-chained recorder, the actor-stamping mapper) keep
    the library's rows and format and declare it with ``reads_like_the_library``;
    any other subclass is read through the library.
    """
    kind = type(part)
    return kind is library_class or (
        issubclass(kind, library_class)
        and getattr(kind, "reads_like_the_library", False) is True
    )


class RawLog:
    """The log read with plain SQL and decoded straight into event objects.

    It builds exactly what the library's ``Mapper.to_domain_event`` builds (the
    same class, the same ``__dict__``, upcast the same way), at a fraction of the
    cost: one SELECT per page without the ``Notification``/``StoredEvent`` objects,
    orjson for the JSON, and the common values (UUIDs, dates, datetimes) revived
    without the transcoder's generic walk. UUIDs repeat (tenants, clients), so
    they are kept. Anything else (a cipher, a compressor, another transcoder, a
    recorder or mapper of ours) is read through the library (``of`` says None).
    A ``JSONTranscoder`` subclass is assumed to keep the library's format, as the
    ledger's orjson one does.
    """

    def __init__(
        self,
        mapper: Mapper[UUID],
        connection: Callable[[], AbstractContextManager[psycopg.Connection[Any]]],
        schema: str,
        table: str,
    ) -> None:
        self.mapper = mapper
        self.connection = connection
        self.schema = schema
        self.table = table
        self.completed: Callable[[Any], Any] | None = getattr(mapper, "completed", None)
        transcoder = mapper.transcoder
        assert isinstance(transcoder, JSONTranscoder)  # noqa: S101 - see ``of``
        self.transcoder = transcoder
        self.classes: dict[str, type] = {}
        self.ids: dict[str, UUID] = {}
        self.revivers: dict[str, Callable[[Any], Any]] = {
            name: transcoding.decode for name, transcoding in transcoder.names.items()
        }
        self.revivers.update(
            {
                "uuid_hex": self._uuid,
                "datetime_iso": datetime.fromisoformat,
                "date_iso": date.fromisoformat,
            }
        )
        self.statement = sql.SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic,"
            " state FROM {}.{} WHERE notification_id > %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(schema), sql.Identifier(table))

    @classmethod
    def of(cls, reader: EventReader) -> RawLog | None:
        """A raw reader of ``reader``'s log, or None where only the library can."""
        recorder, mapper = reader.recorder, reader.mapper
        if (
            not _reads_like_the_library(recorder, PostgresApplicationRecorder)
            or not _reads_like_the_library(mapper, Mapper)
            or mapper.cipher is not None
            or mapper.compressor is not None
            or not isinstance(mapper.transcoder, JSONTranscoder)
        ):
            return None
        assert isinstance(recorder, PostgresApplicationRecorder)  # noqa: S101 - checked
        return cls(
            mapper,
            recorder.datastore.get_connection,
            recorder.datastore.schema,
            recorder.events_table_name,
        )

    def source(self) -> LogSource | None:
        """What another process needs to read this log so, or None if it cannot.

        The connection parameters are the recorder's pool's; a pool that asks a
        function for its password is not described.
        """
        if type(self.mapper.transcoder) is not type(self.transcoder):
            return None
        datastore = getattr(self.connection, "__self__", None)
        pool = getattr(datastore, "pool", None)
        kwargs = getattr(pool, "kwargs", None)
        if not isinstance(kwargs, dict) or getattr(pool, "get_password_func", None):
            return None
        params = {k: v for k, v in kwargs.items() if k != "row_factory"}
        return LogSource(
            conninfo=make_conninfo(**params),
            schema=self.schema,
            table=self.table,
            mapper_class=type(self.mapper),
            transcoder_class=type(self.transcoder),
            transcodings=tuple(self.transcoder.names.values()),
            modules=_topic_modules(),
        )

    def read(self, after: int, until: int | None, limit: int) -> Batch:
        """Up to ``limit`` events after ``after`` (up to ``until``), in order."""
        return self.page(after, until, limit)[1]

    def page(
        self,
        after: int,
        until: int | None,
        limit: int,
        wanted: Collection[type] | None = None,
    ) -> tuple[int, Batch]:
        """Where the next ``limit`` rows after ``after`` end, and their events.

        The rows are those up to ``until``; with ``wanted``, only the events of those
        classes are decoded and returned. The position is ``after`` when no row was
        read. The upper bound is applied here, not in SQL: a range on the position
        makes the planner sort the rest of the log when its statistics are stale.
        """
        with (
            self.connection() as conn,
            conn.cursor(binary=True, row_factory=tuple_row) as cursor,
        ):
            rows = cursor.execute(self.statement, (after, limit)).fetchall()
        if until is not None:
            rows = [row for row in rows if row[0] <= until]
        if not rows:
            return after, []
        event = self.event
        if wanted is None:
            return rows[-1][0], [
                (row[0], event(row[1], row[2], row[3], row[4])) for row in rows
            ]
        classes = self.classes
        return rows[-1][0], [
            (row[0], event(row[1], row[2], row[3], row[4]))
            for row in rows
            if (classes.get(row[3]) or self._class(row[3])) in wanted
        ]

    def _class(self, topic: str) -> type:
        cls = self.classes.get(topic)
        if cls is None:
            cls = self.classes[topic] = resolve_topic(topic)
        return cls

    def event(self, originator_id: str, version: int, topic: str, state: bytes) -> Any:  # noqa: ANN401 - any event
        """The domain event of one stored row, as ``Mapper.to_domain_event``."""
        cls = self.classes.get(topic) or self._class(topic)
        data: dict[str, Any] = orjson.loads(state)
        revivers = self.revivers
        for key, value in data.items():
            if type(value) is dict and len(value) == 2:  # noqa: PLR2004 - most fields
                # A value like {"_type_": "uuid_hex", "_data_": "..."}: nothing in
                # it to revive first.
                reviver = revivers.get(value.get("_type_"))  # type: ignore[arg-type]
                inner = value.get("_data_", value)
                if reviver is not None and type(inner) not in _CONTAINERS:
                    data[key] = reviver(inner)
                    continue
            if type(value) in _CONTAINERS:
                data[key] = self._revive(value)
        data["originator_id"] = self._uuid_text(originator_id)
        data["originator_version"] = version
        class_version = getattr(cls, "class_version", 1)
        from_version = data.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(data)
            from_version += 1
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", data)
        return self.completed(event) if self.completed else event

    def _revive(self, value: Any) -> Any:  # noqa: ANN401 - any decoded value
        """What the library's ``object_hook`` makes of ``value``, bottom-up."""
        if type(value) is list:
            return [
                self._revive(item) if type(item) in _CONTAINERS else item
                for item in value
            ]
        if type(value) is not dict:
            return value
        for key, item in value.items():
            if type(item) in _CONTAINERS:
                value[key] = self._revive(item)
        if len(value) == 2 and "_type_" in value and "_data_" in value:  # noqa: PLR2004
            reviver = self.revivers.get(value["_type_"])
            if reviver is None:  # the library's error for an unknown type
                return self.transcoder._decode_obj(value)  # noqa: SLF001
            return reviver(value["_data_"])
        return value

    def _uuid(self, text: str) -> UUID:
        found = self.ids.get(text)
        if found is None:
            if len(self.ids) > _MAX_CACHED_IDS:
                self.ids.clear()
            found = self.ids[text] = _uuid_of(int(text, 16))
        return found

    def _uuid_text(self, text: str) -> UUID:
        found = self.ids.get(text)
        if found is None:
            if len(self.ids) > _MAX_CACHED_IDS:
                self.ids.clear()
            found = self.ids[text] = _uuid_of(int(text.replace("-", ""), 16))
        return found


@dataclass(frozen=True)
class LogSource:
    """How to read a log with ``RawLog`` from another process (it pickles)."""

    conninfo: str
    schema: str
    table: str
    mapper_class: type[Mapper[UUID]]
    transcoder_class: type[JSONTranscoder]
    transcodings: tuple[Transcoding, ...]
    modules: tuple[str, ...] = ()
    """Where the classes of the topics known here are: imported there first, so
    that every topic this process resolves resolves there too."""

    def reader(self) -> SourceReader:
        """A reader of the log on a connection of its own (close it after)."""
        for module in self.modules:
            importlib.import_module(module)
        return SourceReader(self)


def _topic_modules() -> tuple[str, ...]:
    """The modules of every class registered with a topic in this process.

    The library keeps them in ``eventsourcing.utils._topic_cache`` (no public way
    to list them): classes with a ``TOPIC`` register it when they are defined.
    """
    registered: dict[str, object] = getattr(eventsourcing.utils, "_topic_cache", {})
    found = {getattr(item, "__module__", None) for item in list(registered.values())}
    return tuple(
        sorted(
            name
            for name in found
            if isinstance(name, str) and name not in {"__main__", "__mp_main__"}
        )
    )


class SourceReader(EventReader):
    """An ``EventReader`` of a ``LogSource``: ``RawLog`` on one connection.

    For a process that has no application: it reads the log the fast way only.
    """

    def __init__(self, source: LogSource) -> None:
        transcoder = source.transcoder_class()
        for transcoding in source.transcodings:
            transcoder.register(transcoding)
        self.conn = psycopg.connect(source.conninfo, autocommit=True)
        self.lock = threading.Lock()
        mapper = source.mapper_class(transcoder=transcoder)
        self.raw = RawLog(mapper, self._connection, source.schema, source.table)
        self.mapper = mapper

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self.lock:
            yield self.conn

    def raw_log(self) -> RawLog:
        """The one way this reader reads."""
        return self.raw

    def read(self, after: int, limit: int = BATCH_SIZE) -> Batch:
        """Up to ``limit`` events after position ``after``, in order."""
        return self.raw.read(after, None, limit)

    def head(self) -> int:
        """The position of the last event recorded."""
        statement = sql.SQL("SELECT max(notification_id) FROM {}.{}").format(
            sql.Identifier(self.raw.schema), sql.Identifier(self.raw.table)
        )
        with self._connection() as conn:
            row = conn.execute(statement).fetchone()
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _uuid_of(number: int) -> UUID:
    """``UUID(int=number)`` without ``UUID.__init__``'s checks (number is 128-bit)."""
    found = object.__new__(UUID)
    object.__setattr__(found, "int", number)
    object.__setattr__(found, "is_safe", SafeUUID.unknown)
    return found


_CONTAINERS = (dict, list)
