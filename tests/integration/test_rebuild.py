"""The bulk replay of rebuild and verify equals the live path, rows forgotten or not.

A rebuild replays its views in two processes (each its own group of views); one
that fails fails the rebuild, which leaves the live views as they were.
"""

from __future__ import annotations

import multiprocessing
from typing import Any, ClassVar

import psycopg
import pytest

from api.bootstrap import reader_of
from application.ledger import Ledger
from domain.clients import Client
from projections import bulk, maintenance
from projections.erp_receivables import ErpReceivables
from projections.followers import Pacing, ProjectionRunner
from projections.panel_clients import PanelClients
from projections.read_models import VIEWS
from projections.reader import RawLog
from projections.store import Rows
from projections.view import View, on
from projections.watcher import read_positions
from tests.builders import a_client, a_reseller, some_activity
from tests.integration.workers import wait_until

FAST = Pacing(check_interval_seconds=0.05, restart_pause_seconds=0.01)


def positions(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return read_positions(conn, VIEWS)


class Unreachable(View):
    """A view whose handler loses the server at a client's registration.

    Not the event's fault (``set_aside.is_poison`` says no): the replay fails.
    Defined here so that a rebuild's other process can import it.
    """

    name = "unreachable"
    tables: ClassVar = ()

    @on(Client.Registered)
    def _registered(self, _rows: Rows, _event: Any, _position: int) -> None:
        msg = "the server went away"
        raise psycopg.OperationalError(msg)


def caught_up(ledger: Ledger, database_url: str) -> int:
    """Run the live runner until every view has the whole log; the head."""
    runner = ProjectionRunner(reader_of(ledger), database_url, pacing=FAST)
    runner.start()
    try:
        head = ledger.recorder.max_notification_id() or 0
        wait_until(
            lambda: min(positions(database_url).values()) >= head,
            30,
            "every view caught up",
        )
    finally:
        runner.stop()
    return head


def client_names(database_url: str) -> set[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT name FROM view_panel_clients.clients").fetchall()
    return {name for (name,) in rows}


@pytest.mark.parametrize("processes", [1, 2])
def test_a_replay_that_forgets_rows_every_few_events_equals_the_live_views(
    fresh_ledger: Ledger,
    fresh_database: str,
    monkeypatch: pytest.MonkeyPatch,
    processes: int,
) -> None:
    monkeypatch.setattr(
        maintenance,
        "PARALLEL_MIN_EVENTS",
        0 if processes == 2 else 1 << 62,
    )
    assert len(maintenance.split(VIEWS, maintenance.REBUILD_PROCESSES)) == 2
    some_activity(fresh_ledger, 12)
    head = caught_up(fresh_ledger, fresh_database)
    # Small batches and a tiny memory: rows are forgotten, read back by key and
    # merged, across batch boundaries that cut through every invoice's life.
    monkeypatch.setattr(bulk, "REPLAY_BATCH_SIZE", 7)
    monkeypatch.setattr(bulk, "MAX_CACHED_ROWS", 10)
    reader = reader_of(fresh_ledger)
    for view in VIEWS:
        differences = maintenance.verify(fresh_database, reader, view)
        assert differences.count == 0, (view.name, differences)
    position = maintenance.rebuild(fresh_database, reader, VIEWS)
    assert position == head
    assert set(positions(fresh_database).values()) == {head}
    assert multiprocessing.active_children() == []
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


@pytest.mark.parametrize("failing", ["the other process", "this process"])
def test_a_group_that_fails_fails_the_rebuild_and_the_live_views_stay(
    fresh_ledger: Ledger,
    fresh_database: str,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    monkeypatch.setattr(maintenance, "PARALLEL_MIN_EVENTS", 0)
    reseller = a_reseller(fresh_ledger).reseller.id
    a_client(fresh_ledger, reseller)
    head = caught_up(fresh_ledger, fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("UPDATE view_panel_clients.clients SET name = 'as it was'")
    views: list[type[View]] = [PanelClients, ErpReceivables, Unreachable]
    here, there = maintenance.split(views, 2)
    if failing == "this process":
        views = [Unreachable, PanelClients]
        here, there = maintenance.split(views, 2)
        assert here == [Unreachable]
    else:
        assert Unreachable in there
    with pytest.raises(
        maintenance.RebuildError
        if failing == "the other process"
        else psycopg.OperationalError,
        match="the server went away",
    ):
        maintenance.rebuild(fresh_database, reader_of(fresh_ledger), views)
    assert multiprocessing.active_children() == []
    assert client_names(fresh_database) == {"as it was"}
    assert set(positions(fresh_database).values()) == {head}
    # Nothing was left behind that a later rebuild trips over.
    maintenance.rebuild(fresh_database, reader_of(fresh_ledger), VIEWS)
    assert "as it was" not in client_names(fresh_database)
