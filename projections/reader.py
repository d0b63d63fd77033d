"""Reading the ledger's event log: decoded events by position, in batches.

Views and processes depend on the log through ``EventReader``, not on the
application's commands; the composition root builds it from the application's
recorder and mapper.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    Mapper,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg import sql
from psycopg.rows import tuple_row

EVENTS_CHANNEL = "ledger_events"
"""The channel the library's recorder notifies on every commit (its table name)."""
BATCH_SIZE = 500

Event = Any
Batch = list[tuple[int, Event]]
"""Events with their log positions, in order."""


class EventReader:
    """Decoded events of the ledger's log, by position."""

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
        one is fetched and decoded, which uses the second core. A whole-log replay
        reads with ``RawLog`` (one plain SELECT per page, decoded with orjson) when
        the recorder and mapper are the library's PostgreSQL ones, else through them.
        """
        raw = RawLog.of(self)
        ahead: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce() -> None:
            position = after
            try:
                while not stop.is_set():
                    if raw is not None:
                        batch = raw.read(position, until, batch_size)
                    else:
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
        self, reader: EventReader, recorder: PostgresApplicationRecorder
    ) -> None:
        self.mapper = reader.mapper
        self.recorder = recorder
        self.completed: Callable[[Any], Any] | None = getattr(
            reader.mapper, "completed", None
        )
        transcoder = reader.mapper.transcoder
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
        ).format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        )

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
        return cls(reader, recorder)

    def read(self, after: int, until: int | None, limit: int) -> Batch:
        """Up to ``limit`` events after ``after`` (up to ``until``), in order.

        The upper bound is applied here, not in SQL: a range on the position
        makes the planner sort the rest of the log when its statistics are stale.
        """
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.cursor(binary=True, row_factory=tuple_row) as cursor,
        ):
            rows = cursor.execute(self.statement, (after, limit)).fetchall()
        event = self.event
        return [
            (row[0], event(row[1], row[2], row[3], row[4]))
            for row in rows
            if until is None or row[0] <= until
        ]

    def event(self, originator_id: str, version: int, topic: str, state: bytes) -> Any:  # noqa: ANN401 - any event
        """The domain event of one stored row, as ``Mapper.to_domain_event``."""
        cls = self.classes.get(topic)
        if cls is None:
            cls = self.classes[topic] = resolve_topic(topic)
        data: dict[str, Any] = orjson.loads(state)
        for key, value in data.items():
            if type(value) in _CONTAINERS:
                data[key] = self._revive(value)
        data["originator_id"] = self._uuid_text(originator_id)
        data["originator_version"] = version
        class_version = getattr(cls, "class_version", 1)
        from_version = data.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(data)
            from_version += 1
        event = object.__new__(cls)
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


def _uuid_of(number: int) -> UUID:
    """``UUID(int=number)`` without ``UUID.__init__``'s checks (number is 128-bit)."""
    found = object.__new__(UUID)
    object.__setattr__(found, "int", number)
    object.__setattr__(found, "is_safe", SafeUUID.unknown)
    return found


_CONTAINERS = (dict, list)
