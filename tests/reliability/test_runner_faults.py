"""Reliability of the views: kills, lost connections and NOTIFYs, held writers, standbys."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from api.bootstrap import reader_of
from application.ledger import Ledger
from domain.clients import Client, ContactDetails
from domain.documents import Document
from projections.followers import Pacing, ProjectionRunner, view_lock_key
from projections.read_models import VIEWS, ReadModels
from projections.view import View
from projections.watcher import read_positions
from tests.builders import a_billable_client, a_cpf, a_reseller, some_activity
from tests.integration.workers import (
    lock_owners,
    run_cli,
    start_worker,
    stop,
    wait_until,
)

CATCH_UP_SECONDS = 5


def head_of(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def positions(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return read_positions(conn, VIEWS)


def wait_until_caught_up(database_url: str, head: int, timeout: float = 30) -> None:
    wait_until(
        lambda: min(positions(database_url).values()) >= head,
        timeout,
        f"every view reached {head}",
    )


def wait_until_applied(database_url: str, ledger: Ledger, goal: int) -> None:
    """Wait until every view reached ``goal``, or the head if that is before."""
    wait_until(
        lambda: min(positions(database_url).values()) >= min(goal, head_of(ledger)),
        30,
        f"every view reached {goal} or the head",
    )


def terminate_a_session(
    conn: psycopg.Connection[Any], runner: ProjectionRunner
) -> None:
    """Terminate a live session's connections; wait until the runner notices."""
    wait_until(lambda: runner.state.alive, 30, "a runner session is up")
    restarts = runner.state.restarts
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'runner-under-test'"
    )
    wait_until(
        lambda: runner.state.restarts > restarts,
        30,
        "the runner noticed its connections were gone",
    )


def blocked_on_the_log(database_url: str) -> bool:
    """Whether a writer waits for the events table (its EXCLUSIVE insert lock)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE NOT l.granted AND l.mode = 'ExclusiveLock'"
            " AND c.relname = 'ledger_events' AND l.database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return row is not None and row[0] > 0


def standing_by(log: Path, views: Sequence[type[View]]) -> bool:
    """Whether a worker's views runner has found every view owned elsewhere."""
    text = log.read_text() if log.exists() else ""
    return all(f"projection-runner stands by for {v.name}," in text for v in views)


class FlakyRunner(ProjectionRunner):
    """A runner whose next ``failing`` catch-ups fail, as a lost connection would."""

    failing = 0

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        if self.failing > 0:
            self.failing -= 1
            msg = "injected transient failure"
            raise psycopg.OperationalError(msg)
        super().catch_up(conn)


def assert_views_verify(database_url: str) -> None:
    result = run_cli(database_url, "projections", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("equal at position") == len(VIEWS)


@pytest.fixture
def runner_models(fresh_ledger: Ledger, fresh_database: str) -> Any:
    """An in-process runner whose connections are named, and the views it keeps."""
    conninfo = make_conninfo(fresh_database, application_name="runner-under-test")
    pool: ConnectionPool[Any] = ConnectionPool(
        fresh_database, min_size=1, max_size=4, open=True
    )
    models = ReadModels.build(pool, fresh_database)
    runner = ProjectionRunner(
        reader_of(fresh_ledger), conninfo, on_commit=models.watcher.update
    )
    models.watcher.start()
    runner.start()
    yield runner, models
    runner.stop()
    models.watcher.stop()
    pool.close()


def test_a_worker_killed_mid_stream_and_restarted_equals_a_rebuild(
    fresh_ledger: Ledger, fresh_database: str, tmp_path: Path
) -> None:
    rng = random.Random(7)
    writer = threading.Thread(target=some_activity, args=(fresh_ledger, 120, 3))
    writer.start()
    log = tmp_path / "worker.log"
    reached = 0
    try:
        for _ in range(3):
            worker = start_worker(fresh_database, "worker", log)
            try:
                # Killed once it has applied a random number of events more (or all).
                goal = reached + rng.randint(1, 60)
                wait_until_applied(fresh_database, fresh_ledger, goal)
            finally:
                stop(worker, signal.SIGKILL)
            reached = min(positions(fresh_database).values())
    finally:
        writer.join()
    worker = start_worker(fresh_database, "worker", log)
    try:
        wait_until_caught_up(fresh_database, head_of(fresh_ledger))
    finally:
        stop(worker)
    assert_views_verify(fresh_database)


def test_two_project_processes_never_both_own_a_view(
    fresh_ledger: Ledger, fresh_database: str, tmp_path: Path
) -> None:
    some_activity(fresh_ledger, 10)
    keys = {view_lock_key(view)[1] for view in VIEWS}
    first = start_worker(fresh_database, "first", tmp_path / "first.log")
    workers = [first]
    try:
        wait_until(
            lambda: {lock_owners(fresh_database).get(key) for key in keys} == {"first"},
            30,
            "the first worker owns every view",
        )
        second_log = tmp_path / "second.log"
        workers.append(start_worker(fresh_database, "second", second_log))
        wait_until(
            lambda: standing_by(second_log, VIEWS),
            30,
            "the second worker has tried every view's lock",
        )
        owners = lock_owners(fresh_database)
        assert {owners.get(key) for key in keys} == {"first"}
        stop(first, signal.SIGKILL)
        some_activity(fresh_ledger, 10, seed=2)
        head = head_of(fresh_ledger)
        wait_until_caught_up(fresh_database, head, timeout=CATCH_UP_SECONDS + 5)
        owners = lock_owners(fresh_database)
        assert {owners.get(key) for key in keys} == {"second"}
    finally:
        for worker in workers:
            stop(worker)
    assert_views_verify(fresh_database)


def test_terminated_connections_are_recovered_and_views_catch_up(
    fresh_ledger: Ledger, fresh_database: str, runner_models: Any
) -> None:
    runner, models = runner_models
    some_activity(fresh_ledger, 5)
    assert models.wait_for(fresh_ledger.recorder.max_notification_id(), 10)
    writer = threading.Thread(target=some_activity, args=(fresh_ledger, 30, 5))
    writer.start()
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for _ in range(3):
            terminate_a_session(conn, runner)
    writer.join()
    head = fresh_ledger.recorder.max_notification_id()
    assert models.wait_for(head, CATCH_UP_SECONDS)
    assert runner.state.restarts >= 3
    runner.stop()
    assert_views_verify(fresh_database)


def test_a_lost_notification_is_made_up_for_by_the_periodic_check(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    pool: ConnectionPool[Any] = ConnectionPool(
        fresh_database, min_size=1, max_size=2, open=True
    )
    models = ReadModels.build(pool, fresh_database)
    deaf = ProjectionRunner(
        reader_of(fresh_ledger),
        fresh_database,
        on_commit=models.watcher.update,
        events_channel="a_channel_nobody_notifies",
    )
    models.watcher.start()
    deaf.start()
    try:
        reseller_id = a_reseller(fresh_ledger).reseller.id
        client = a_billable_client(fresh_ledger, reseller_id)
        head = head_of(fresh_ledger)
        assert models.wait_for(head, CATCH_UP_SECONDS)
        assert models.clients.get(reseller_id, client.id) is not None
    finally:
        deaf.stop()
        models.watcher.stop()
        pool.close()


def test_no_view_passes_a_writer_transaction_held_open(
    fresh_ledger: Ledger, fresh_database: str, runner_models: Any
) -> None:
    _, models = runner_models
    reseller_id = a_reseller(fresh_ledger).reseller.id
    assert models.wait_for(fresh_ledger.recorder.max_notification_id(), 10)
    held = Client.register(
        reseller_id, Document.parse(a_cpf()), ContactDetails.parse("Held", "h@x.com")
    )
    (stored,) = [fresh_ledger.mapper.to_stored_event(e) for e in held.collect_events()]
    later: list[int] = []

    def later_writes() -> None:
        for _ in range(3):
            recorded = fresh_ledger.register_client(
                reseller_id, name="Later", document=a_cpf(), email="l@x.com"
            )
            assert recorded.position is not None
            later.append(recorded.position)

    with psycopg.connect(fresh_database) as conn:
        conn.execute("LOCK TABLE ledger_events IN EXCLUSIVE MODE")
        (held_position,) = conn.execute(
            "INSERT INTO ledger_events"
            " (originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, %s, %s) RETURNING notification_id",
            (stored.originator_id, 1, stored.topic, stored.state),
        ).fetchone() or (0,)
        thread = threading.Thread(target=later_writes)
        thread.start()
        wait_until(
            lambda: blocked_on_the_log(fresh_database),
            30,
            "a later writer waits for the held transaction",
        )
        assert later == [], "later writers committed before the held transaction"
        assert max(positions(fresh_database).values()) < held_position
        conn.commit()
    thread.join()
    assert min(later) > held_position
    assert models.wait_for(max(later), CATCH_UP_SECONDS)
    assert models.clients.get(reseller_id, held.id) is not None


def test_verify_reports_a_row_tampered_with_by_hand(
    fresh_ledger: Ledger, fresh_database: str, runner_models: Any
) -> None:
    runner, models = runner_models
    some_activity(fresh_ledger, 8)
    assert models.wait_for(fresh_ledger.recorder.max_notification_id(), 10)
    runner.stop()
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(
            "UPDATE view_panel_invoices.invoices SET amount_cents = 1 WHERE code = 3"
        )
    tampered = run_cli(fresh_database, "projections", "verify", "panel_invoices")
    assert tampered.returncode == 1
    assert "invoices only in the live view" in tampered.stdout
    assert "invoices only in the replay" in tampered.stdout
    untouched = run_cli(fresh_database, "projections", "verify", "erp_receivables")
    assert untouched.returncode == 0, untouched.stdout


def test_rebuild_swaps_fresh_tables_in_while_queries_and_the_runner_go_on(
    fresh_ledger: Ledger, fresh_database: str, runner_models: Any
) -> None:
    _, models = runner_models
    some_activity(fresh_ledger, 20)
    assert models.wait_for(fresh_ledger.recorder.max_notification_id(), 10)
    reseller_id = a_reseller(fresh_ledger).reseller.id
    stop_reading = threading.Event()
    failures: list[BaseException] = []

    def keep_querying() -> None:
        while not stop_reading.is_set():
            try:
                models.invoices.query(reseller_id)
                models.receivables.query(reseller_id, fresh_ledger.today())
            except BaseException as error:  # noqa: BLE001 - collected for the assert
                failures.append(error)

    reader = threading.Thread(target=keep_querying)
    reader.start()
    try:
        result = run_cli(fresh_database, "projections", "rebuild")
    finally:
        stop_reading.set()
        reader.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert failures == []
    client = a_billable_client(fresh_ledger, reseller_id)
    assert models.wait_for(fresh_ledger.recorder.max_notification_id(), 10)
    assert models.clients.get(reseller_id, client.id) is not None
    status = run_cli(fresh_database, "projections", "status")
    assert status.returncode == 0
    for view in VIEWS:
        assert view.name in status.stdout
    assert_views_verify(fresh_database)


def test_wait_for_is_woken_by_a_runner_in_another_process(
    fresh_ledger: Ledger, fresh_database: str, tmp_path: Path
) -> None:
    worker = start_worker(fresh_database, "worker", tmp_path / "worker.log")
    pool: ConnectionPool[Any] = ConnectionPool(
        fresh_database, min_size=1, max_size=2, open=True
    )
    models = ReadModels.build(pool, fresh_database)
    models.watcher.start()
    try:
        registered = a_reseller(fresh_ledger)
        assert models.wait_for(registered.position, 15)
        customers = models.customers.query(registered.reseller.id).items
        assert [c["name"] for c in customers] == ["Consumidor"]
    finally:
        models.watcher.stop()
        pool.close()
        stop(worker)


def test_a_failure_after_progress_is_retried_after_the_base_pause(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    base = 0.01
    pacing = Pacing(
        check_interval_seconds=0.05,
        restart_pause_seconds=base,
        max_restart_pause_seconds=60,
    )
    runner = FlakyRunner(reader_of(fresh_ledger), fresh_database, pacing=pacing)
    runner.failing = 7
    a_reseller(fresh_ledger)
    runner.start()
    try:
        wait_until(lambda: runner.state.restarts == 7, 30, "seven failures")
        assert runner.state.restart_pause == base * 2**6, "no back-off while failing"
        wait_until_caught_up(fresh_database, head_of(fresh_ledger))
        runner.failing = 1
        wait_until(lambda: runner.state.restarts == 8, 30, "one more failure")
        assert runner.state.restart_pause == base
    finally:
        runner.stop()
