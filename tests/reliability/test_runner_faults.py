"""Reliability of the views: kills, lost connections and NOTIFYs, held writers, standbys."""

from __future__ import annotations

import random
import signal
import threading
import time
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
from projections.read_models import ReadModels
from projections.runner import VIEWS, ProjectionRunner, read_positions, view_lock_key
from tests.builders import a_billable_client, a_cpf, a_reseller, some_activity
from tests.integration.workers import lock_owners, run_cli, start_worker, stop

CATCH_UP_SECONDS = 5


def head_of(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def positions(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return read_positions(conn, VIEWS)


def wait_until_caught_up(database_url: str, head: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if min(positions(database_url).values()) >= head:
            return
        time.sleep(0.05)
    pytest.fail(f"views did not reach {head}: {positions(database_url)}")


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
    for _ in range(3):
        worker = start_worker(fresh_database, "worker", log)
        time.sleep(rng.uniform(0.5, 1.5))
        stop(worker, signal.SIGKILL)
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
    first = start_worker(fresh_database, "first", tmp_path / "first.log")
    time.sleep(2)
    second = start_worker(fresh_database, "second", tmp_path / "second.log")
    try:
        time.sleep(2)
        keys = {view_lock_key(view)[1] for view in VIEWS}
        owners = lock_owners(fresh_database)
        assert {owners.get(key) for key in keys} == {"first"}
        stop(first, signal.SIGKILL)
        some_activity(fresh_ledger, 10, seed=2)
        head = head_of(fresh_ledger)
        wait_until_caught_up(fresh_database, head, timeout=CATCH_UP_SECONDS + 5)
        owners = lock_owners(fresh_database)
        assert {owners.get(key) for key in keys} == {"second"}
    finally:
        stop(first)
        stop(second)
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
            time.sleep(0.3)
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'runner-under-test'"
            )
    writer.join()
    head = fresh_ledger.recorder.max_notification_id()
    assert models.wait_for(head, CATCH_UP_SECONDS)
    assert runner.state.restarts >= 1
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
        time.sleep(1.5)
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
