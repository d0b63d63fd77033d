"""Group commit: every queued request gets its own outcome, and the lead moves on."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from application import group_commit
from application.group_commit import GroupCommit, Pending


@dataclass(eq=False, kw_only=True)
class Echo(Pending[int]):
    value: int


def test_one_caller_runs_its_own_batch_of_one() -> None:
    batches: list[list[int]] = []

    def run(batch: list[Echo]) -> None:
        batches.append([request.value for request in batch])
        for request in batch:
            request.succeed(request.value * 2)

    group: GroupCommit[Echo] = GroupCommit(max_batch=10)
    results = []
    for value in range(3):
        request = Echo(value=value)
        group.submit("tenant", request, run)
        results.append(request.outcome())
    assert results == [0, 2, 4]
    assert batches == [[0], [1], [2]]


def test_requests_queued_behind_a_batch_run_together_and_in_order() -> None:
    batches: list[list[int]] = []
    first_running = threading.Event()
    release = threading.Event()
    group: GroupCommit[Echo] = GroupCommit(max_batch=4)

    def run(batch: list[Echo]) -> None:
        batches.append([request.value for request in batch])
        if batch[0].value == 0:
            first_running.set()
            release.wait(10)
        for request in batch:
            request.succeed(request.value)

    def submit(value: int) -> int:
        request = Echo(value=value)
        group.submit("tenant", request, run)
        return request.outcome()

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(submit, 0)
        assert first_running.wait(10)
        rest = []
        for value in range(1, 8):
            rest.append(pool.submit(submit, value))
            # Queued before the next is submitted, so the order is known.
            deadline = time.monotonic() + 10
            while len(group._queue("tenant").pending) < value:
                assert time.monotonic() < deadline
                time.sleep(0.001)
        release.set()
        assert first.result() == 0
        assert [future.result() for future in rest] == list(range(1, 8))
    assert batches == [[0], [1, 2, 3, 4], [5, 6, 7]]


def test_a_batch_that_raises_fails_each_request_left_without_an_outcome() -> None:
    group: GroupCommit[Echo] = GroupCommit(max_batch=10)

    def run(batch: list[Echo]) -> None:
        msg = "the database went away"
        raise RuntimeError(msg)

    request = Echo(value=1)
    group.submit("tenant", request, run)
    with pytest.raises(RuntimeError, match="went away"):
        request.outcome()
    # The queue is free again: the next request leads its own batch.
    after = Echo(value=2)
    group.submit("tenant", after, lambda batch: batch[0].succeed(20))
    assert after.outcome() == 20


def test_a_request_the_batch_forgot_fails_rather_than_hangs() -> None:
    group: GroupCommit[Echo] = GroupCommit(max_batch=10)
    request = Echo(value=1)
    group.submit("tenant", request, lambda _batch: None)
    with pytest.raises(RuntimeError, match="without an outcome"):
        request.outcome()


def test_keys_do_not_wait_for_each_other() -> None:
    group: GroupCommit[Echo] = GroupCommit(max_batch=10)
    blocked = threading.Event()
    release = threading.Event()

    def slow(batch: list[Echo]) -> None:
        blocked.set()
        release.wait(10)
        batch[0].succeed(1)

    with ThreadPoolExecutor(2) as pool:
        slow_one = pool.submit(group.submit, "a", Echo(value=1), slow)
        assert blocked.wait(10)
        other = Echo(value=2)
        group.submit("b", other, lambda batch: batch[0].succeed(2))
        assert other.outcome() == 2  # while "a" is still running
        release.set()
        slow_one.result()


def test_a_leader_waits_for_the_last_batchs_callers_to_come_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The callers of a batch come back with their next requests just after it:
    the next leader waits for them, so they share one batch, not two."""
    monkeypatch.setattr(group_commit, "LINGER_SECONDS", 60.0)
    group: GroupCommit[Echo] = GroupCommit(max_batch=10)
    batches: list[list[int]] = []

    def run(batch: list[Echo]) -> None:
        batches.append([request.value for request in batch])
        for request in batch:
            request.succeed(request.value)

    queue = group._queue("tenant")
    queue.callers = 3  # as after a batch of three
    with ThreadPoolExecutor(3) as pool:
        lead = pool.submit(group.submit, "tenant", Echo(value=0), run)
        deadline = time.monotonic() + 10
        while not queue.lingering:  # the leader waits for the other two
            assert time.monotonic() < deadline
            time.sleep(0.001)
        rest = [pool.submit(group.submit, "tenant", Echo(value=v), run) for v in (1, 2)]
        lead.result()
        for future in rest:
            future.result()
    assert batches == [[0, 1, 2]]
    assert queue.callers == 3


def test_a_lone_caller_never_waits_for_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """One caller at a time was the last batch's only caller: it finds itself
    queued and runs at once (with a linger of a minute, it would hang here)."""
    monkeypatch.setattr(group_commit, "LINGER_SECONDS", 60.0)
    group: GroupCommit[Echo] = GroupCommit(max_batch=10)
    for value in range(3):
        request = Echo(value=value)
        group.submit("tenant", request, lambda batch: batch[0].succeed(7))
        assert request.outcome() == 7
        assert group._queue("tenant").callers == 1


def test_callers_that_do_not_come_back_are_waited_for_only_briefly() -> None:
    group: GroupCommit[Echo] = GroupCommit(max_batch=10)
    group._queue("tenant").callers = 8  # a burst that has ended
    request = Echo(value=1)
    group.submit("tenant", request, lambda batch: batch[0].succeed(1))
    assert request.outcome() == 1
    assert group._queue("tenant").callers == 1  # waited once, then adjusted
