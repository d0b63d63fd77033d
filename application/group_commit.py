"""Group commit: concurrent commands on one key run together, saved by one leader.

Callers of ``GroupCommit.submit`` queue their request under a key (a tenant). The
first to find no leader becomes it: it takes everything queued (up to a batch) and
runs the batch; the others wait. When the batch is done the leader hands the lead
to the oldest request still queued, so no caller runs other callers' work beyond
the one batch that carried its own request. With one caller at a time a batch holds
one request and costs a lock and a list; with many, one transaction (one table
lock, one WAL flush) serves the whole batch.

The callers of a batch come back with their next requests just after it. A new
leader waits for them (``LINGER_SECONDS`` at most) before it takes its batch: the
save holds the table lock through its WAL flush, so a cycle costs about the same
whatever the batch holds, and a batch that left them behind would be followed by
a small one for them alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

R = TypeVar("R")
P = TypeVar("P", bound="Pending[Any]")


@dataclass(eq=False)
class Pending(Generic[R]):
    """One queued request: its outcome is set once, by whoever runs its batch."""

    _woken: threading.Event = field(default_factory=threading.Event, repr=False)
    _finished: bool = False
    handed_back: bool = False
    """The batch left the request to its caller (``hand_back``)."""
    _result: R | None = None
    _error: BaseException | None = None

    def succeed(self, result: R) -> None:
        """Record the request's result."""
        self._result, self._finished = result, True

    def fail(self, error: BaseException) -> None:
        """Record the exception the request's caller gets."""
        self._error, self._finished = error, True

    def hand_back(self) -> None:
        """Leave the request to its caller to run on its own, after the batch."""
        self.handed_back, self._finished = True, True

    @property
    def finished(self) -> bool:
        """Whether the request's outcome is set."""
        return self._finished

    def outcome(self) -> R:
        """The result, or the recorded exception raised."""
        if self.handed_back:
            msg = "the request was handed back to its caller to run"
            raise RuntimeError(msg)
        if self._error is not None:
            raise self._error
        return cast("R", self._result)


LINGER_SECONDS = 0.002
"""The longest a leader waits for the callers of the last batch to come back."""


@dataclass(eq=False)
class _Queue(Generic[P]):
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[P] = field(default_factory=list)
    leading: bool = False
    callers: int = 0
    """Callers active in the last cycle: its batch and those queued behind it."""
    lingering: bool = False
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def linger(self, most: int) -> None:
        """Wait (briefly) until the last cycle's callers are queued again.

        A batch's callers come back with their next request just after it, so
        without this the next batch would leave them for the one after. One
        caller at a time never waits: it was the last cycle's only caller. The
        queue's lock is held.
        """
        wanted = min(self.callers, most)
        if len(self.pending) >= wanted:
            return
        deadline = time.monotonic() + LINGER_SECONDS
        self.lingering = True
        try:
            while len(self.pending) < wanted:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.arrived.wait(left)
        finally:
            self.lingering = False


class GroupCommit(Generic[P]):
    """Per-key queues of requests, each run in batches by one leader at a time."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self._queues: dict[Hashable, _Queue[P]] = {}
        self._guard = threading.Lock()

    def _queue(self, key: Hashable) -> _Queue[P]:
        with self._guard:
            return self._queues.setdefault(key, _Queue())

    def submit(
        self, key: Hashable, request: P, run_batch: Callable[[list[P]], None]
    ) -> None:
        """Queue ``request`` and return once its outcome is set (``outcome()``).

        ``run_batch`` must set the outcome of every request it is given; if it
        raises, those it left unset fail with its exception.
        """
        queue = self._queue(key)
        with queue.lock:
            queue.pending.append(request)
            lead = not queue.leading
            queue.leading = True
            if queue.lingering:
                queue.arrived.notify()
        if not lead:
            request._woken.wait()  # noqa: SLF001 - the queue's own handshake
            if request.finished:
                return
        # The lead: our request is the oldest queued, so it is in this batch.
        with queue.lock:
            queue.linger(self.max_batch)
            batch = queue.pending[: self.max_batch]
            del queue.pending[: self.max_batch]
        try:
            run_batch(batch)
        except BaseException as error:  # noqa: BLE001 - given to each caller
            for pending in batch:
                if not pending.finished:
                    pending.fail(error)
        finally:
            self._done(queue, batch, request)

    @staticmethod
    def _done(queue: _Queue[P], batch: list[P], leader: P) -> None:
        """Wake the batch's callers, and hand the lead on (or give it up)."""
        unfinished = RuntimeError("the batch left this request without an outcome")
        for pending in batch:
            if not pending.finished:
                pending.fail(unfinished)
            if pending is not leader:
                pending._woken.set()  # noqa: SLF001
        with queue.lock:
            queue.callers = len(batch) + len(queue.pending)
            if queue.pending:
                queue.pending[0]._woken.set()  # noqa: SLF001 - hand the lead on
            else:
                queue.leading = False
