"""The bulk replay of rebuild and verify equals the live path, rows forgotten or not."""

from __future__ import annotations

import psycopg
import pytest

from api.bootstrap import reader_of
from application.ledger import Ledger
from projections import bulk, maintenance
from projections.followers import Pacing, ProjectionRunner
from projections.read_models import VIEWS
from projections.reader import RawLog
from projections.watcher import read_positions
from tests.builders import some_activity
from tests.integration.workers import wait_until

FAST = Pacing(check_interval_seconds=0.05, restart_pause_seconds=0.01)


def positions(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return read_positions(conn, VIEWS)


def test_a_replay_that_forgets_rows_every_few_events_equals_the_live_views(
    fresh_ledger: Ledger, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_activity(fresh_ledger, 12)
    runner = ProjectionRunner(reader_of(fresh_ledger), fresh_database, pacing=FAST)
    runner.start()
    try:
        head = fresh_ledger.recorder.max_notification_id() or 0
        wait_until(
            lambda: min(positions(fresh_database).values()) >= head,
            30,
            "every view caught up",
        )
    finally:
        runner.stop()
    # Small batches and a tiny memory: rows are forgotten, read back by key and
    # merged, across batch boundaries that cut through every invoice's life.
    monkeypatch.setattr(bulk, "REPLAY_BATCH_SIZE", 7)
    monkeypatch.setattr(bulk, "MAX_CACHED_ROWS", 5)
    reader = reader_of(fresh_ledger)
    for view in VIEWS:
        differences = maintenance.verify(fresh_database, reader, view)
        assert differences.count == 0, (view.name, differences)
    position = maintenance.rebuild(fresh_database, reader, VIEWS)
    assert position == head
    assert set(positions(fresh_database).values()) == {head}
    monkeypatch.undo()
    for view in VIEWS:
        differences = maintenance.verify(fresh_database, reader, view)
        assert differences.count == 0, (view.name, differences)


def test_the_ledgers_own_recorder_and_mapper_are_read_the_fast_way(
    fresh_ledger: Ledger,
) -> None:
    """The hash-chained recorder and the actor mapper keep the library's rows, so a
    rebuild reads them with plain SQL, and the events it decodes equal the library's
    (the actor included)."""
    some_activity(fresh_ledger, 3)
    reader = reader_of(fresh_ledger)
    raw = RawLog.of(reader)
    assert raw is not None
    fast = raw.read(0, None, 1000)
    slow = reader.read(0, 1000)
    assert [position for position, _ in fast] == [position for position, _ in slow]
    for (_, quick), (_, library) in zip(fast, slow, strict=True):
        assert type(quick) is type(library)
        assert vars(quick) == vars(library)
        assert "actor" in vars(quick)
