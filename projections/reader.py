"""Reading the ledger's event log: decoded events by position, in batches.

Views and processes depend on the log through ``EventReader``, not on the
application's commands; the composition root builds it from the application's
recorder and mapper.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

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
