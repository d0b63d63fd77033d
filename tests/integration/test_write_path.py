"""The fast write path keeps every invariant: one-round-trip appends, issues served
from this process's cache with the versions they read checked in the append, and
concurrent issues of a tenant grouped into one save."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.actors import TenantStoredEvent
from application.chain import (
    GENESIS,
    ChainedRecorder,
    audit_tenant,
    chain_hash,
    stored_bytes,
    verify_tenant,
)
from application.ledger import ISSUES, Ledger
from domain.errors import (
    InvalidInputError,
    InvalidTransitionError,
    NoActiveContractError,
)
from domain.invoices import Charge, InvoiceStatus
from tests.builders import a_billable_client, a_reseller, an_invoice

A_CHARGE = Charge("ch_1", "001", "00000000001", "0" * 44, "0" * 47, "pix")


def test_an_issue_from_a_stale_cache_is_refused_when_the_contract_moved_on(
    ledger: Ledger, other_ledger: Ledger
) -> None:
    """Another process suspends the contract this one has cached as active."""
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    an_invoice(ledger, reseller_id, client.id)  # the issue path is now cached
    contract = ledger.current_contract(reseller_id, client.id)
    assert contract is not None
    other_ledger.suspend_contract(reseller_id, contract.id)
    before = ledger.recorder.max_notification_id()
    with pytest.raises(NoActiveContractError):
        an_invoice(ledger, reseller_id, client.id)
    assert ledger.recorder.max_notification_id() == before
    assert ledger.get_reseller(reseller_id).last_invoice_code == 1


def test_an_issue_from_a_stale_sequence_takes_the_next_code(
    ledger: Ledger, other_ledger: Ledger
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    codes = [an_invoice(ledger, reseller_id, client.id).code]  # cached here
    codes += [an_invoice(other_ledger, reseller_id, client.id).code for _ in range(2)]
    codes.append(an_invoice(ledger, reseller_id, client.id).code)
    assert codes == [1, 2, 3, 4]
    assert audit_tenant(ledger.recorder, ledger.mapper, reseller_id).ok


def test_concurrent_issues_share_saves_and_keep_codes_gapless(
    ledger: Ledger, database_url: str
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    clients = [a_billable_client(ledger, reseller_id) for _ in range(4)]
    an_invoice(ledger, reseller_id, clients[0].id)
    with _queued_behind_a_held_table_lock(ledger, database_url, 16) as submit:
        futures = [
            submit(an_invoice, ledger, reseller_id, clients[n % 4].id)
            for n in range(16)
        ]
    codes = [future.result().code for future in futures]
    assert sorted(codes) == list(range(2, 18))
    # Registered, the first invoice, the first batch (one), then the fifteen.
    assert _transactions_of(ledger, [reseller_id]) == 4
    assert audit_tenant(ledger.recorder, ledger.mapper, reseller_id).ok


def test_issues_of_several_tenants_share_one_save(
    ledger: Ledger, database_url: str
) -> None:
    tenants = [a_reseller(ledger).reseller.id for _ in range(4)]
    clients = [a_billable_client(ledger, tenant) for tenant in tenants]
    with _queued_behind_a_held_table_lock(ledger, database_url, 8) as submit:
        futures = [
            submit(an_invoice, ledger, tenants[n % 4], clients[n % 4].id)
            for n in range(8)
        ]
    invoices = [future.result() for future in futures]
    for tenant in tenants:
        codes = sorted(i.code for i in invoices if i.reseller_id == tenant)
        assert codes == [1, 2]
        assert audit_tenant(ledger.recorder, ledger.mapper, tenant).ok
    # Four registrations, then the first batch (one invoice), then the seven.
    assert _transactions_of(ledger, tenants) == 4 + 2


def test_a_busy_tenant_does_not_hold_up_another_tenants_issue(ledger: Ledger) -> None:
    busy = a_reseller(ledger).reseller.id
    other = a_reseller(ledger).reseller.id
    busy_client = a_billable_client(ledger, busy)
    other_client = a_billable_client(ledger, other)
    with ThreadPoolExecutor(2) as pool:
        with ledger._sequence_lock(busy):  # as a billing run of ``busy`` would
            waiting = pool.submit(an_invoice, ledger, busy, busy_client.id)
            # Issued while ``busy``'s lock is held, whoever leads the batch (a
            # batch that waited for ``busy`` would time out here, not hang).
            issued = pool.submit(an_invoice, ledger, other, other_client.id)
            assert issued.result(timeout=30).code == 1
            assert not waiting.done()
        assert waiting.result(timeout=30).code == 1


def test_a_refused_request_in_a_batch_fails_alone_and_takes_no_code(
    ledger: Ledger,
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    an_invoice(ledger, reseller_id, client.id)
    today = ledger.today()
    start = threading.Barrier(8)

    def issue(number: int) -> int | str:
        start.wait()
        try:
            return ledger.issue_invoice(
                reseller_id,
                client_id=client.id,
                description="Mensalidade",
                amount_cents=15000,
                # Odd requests are due before they are issued: refused.
                due_date=today + timedelta(days=-5 if number % 2 else 10),
                reference_month=f"{today.month:02d}",
                reference_year=str(today.year),
            ).aggregate.code
        except InvalidInputError as error:
            return error.field

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(issue, range(8)))
    assert outcomes.count("due_date") == 4
    assert sorted(o for o in outcomes if isinstance(o, int)) == [2, 3, 4, 5]
    assert ledger.get_reseller(reseller_id).last_invoice_code == 5


def test_an_append_whose_read_versions_moved_on_stores_nothing(
    fresh_ledger: Ledger,
) -> None:
    """(On a database of its own: its events have no code to decode them.)"""
    recorder = fresh_ledger.recorder
    assert isinstance(recorder, ChainedRecorder)
    read = uuid4()
    recorder.insert_events([StoredEvent(read, 1, "t", b"{}")])
    recorder.insert_events([StoredEvent(read, 2, "t", b"{}")])
    before = recorder.max_notification_id()
    new = StoredEvent(uuid4(), 1, "t", b"{}")
    with pytest.raises(IntegrityError):
        recorder.insert_events([new], expected_versions={read: 1})
    assert recorder.max_notification_id() == before
    assert recorder.select_events(new.originator_id) == []
    positions = recorder.insert_events([new], expected_versions={read: 2})
    assert positions is not None
    assert len(positions) == 1
    assert positions[0] > (before or 0)


def test_an_append_stores_any_topic_and_state_exactly_and_chains_each_tenant(
    fresh_ledger: Ledger,
) -> None:
    """The append's arguments are written into its SQL as literals: awkward text
    and every byte value come back as given, and two tenants' events interleaved
    in one append each extend their own tenant's chain, in order."""
    recorder = fresh_ledger.recorder
    assert isinstance(recorder, ChainedRecorder)
    first, second = uuid4(), uuid4()
    topics = ["it's", "back\\slash\\x00", "ção %s {}", 'quo"te,\t']
    ids = [uuid4() for _ in topics]
    events = [
        TenantStoredEvent(
            ids[number], number + 1, topic, bytes(range(256)) + topic.encode(), tenant
        )
        for number, (topic, tenant) in enumerate(
            zip(topics, [first, second, first, first], strict=True)
        )
    ]
    positions = recorder.insert_events(events[:1])
    assert positions is not None
    more = recorder.insert_events(events[1:])
    assert more is not None
    assert len(more) == 3
    for event in events:
        (stored,) = recorder.select_events(event.originator_id)
        assert (stored.topic, stored.state) == (event.topic, event.state)
        assert stored.originator_version == event.originator_version
    for tenant, mine in ((first, [0, 2, 3]), (second, [1])):
        head = GENESIS
        for index in mine:
            event = events[index]
            head = chain_hash(
                head,
                stored_bytes(
                    ids[index],
                    event.originator_version,
                    event.topic,
                    event.state,
                ),
            )
        verification = verify_tenant(recorder, tenant)
        assert verification.ok, verification.problem
        assert (verification.events, verification.head) == (len(mine), head.hex())


def test_the_version_check_probes_the_log_by_index_whatever_its_size(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    """Its plan, cached generic inside the function, reads no more than the read
    aggregates' latest rows: never a scan of the log, which would hold the table
    lock for longer with every event stored."""
    recorder = fresh_ledger.recorder
    assert isinstance(recorder, ChainedRecorder)
    read = uuid4()
    recorder.insert_events([StoredEvent(read, 1, "t", b"{}")])
    # A log like the ledger's: a few long-lived aggregates (resellers) with
    # thousands of versions each.
    busy = [uuid4() for _ in range(3)]
    recorder.insert_events(
        [
            StoredEvent(aggregate, version, "t", b"x" * 500)
            for aggregate in busy
            for version in range(1, 1001)
        ]
    )
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("ANALYZE ledger_events")
        try:
            conn.execute("LOAD 'auto_explain'")
        except psycopg.Error:
            pytest.skip("auto_explain is not installed on this server")
        for setting, value in {
            "log_min_duration": "0",
            "log_nested_statements": "on",
            "log_level": "notice",
            "log_format": "json",
        }.items():
            conn.execute(f"SET auto_explain.{setting} = '{value}'")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        plans: list[str] = []
        conn.add_notice_handler(
            lambda notice: plans.append(notice.message_primary or "")
        )
        new = StoredEvent(uuid4(), 1, "t", b"{}")
        conn.execute(recorder._append_query(conn, [new], {read: 1}))
    checks = [plan for plan in plans if "read_versions" in plan]
    assert checks, plans
    assert all("Seq Scan" not in plan for plan in checks), checks


def test_a_conflicting_append_leaves_the_connection_usable(
    fresh_ledger: Ledger,
) -> None:
    recorder = fresh_ledger.recorder
    assert isinstance(recorder, ChainedRecorder)
    event = StoredEvent(uuid4(), 1, "t", b"{}")
    recorder.insert_events([event])
    for _ in range(12):  # more than the pool's connections
        with pytest.raises(IntegrityError):
            recorder.insert_events([event])
    assert recorder.insert_events([StoredEvent(uuid4(), 1, "t", b"{}")])


def test_a_registration_on_a_copy_loaded_before_a_cancel_is_refused(
    ledger: Ledger,
) -> None:
    """The process's own copy saves only if nothing changed the invoice since."""
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    fresh = an_invoice(ledger, reseller_id, client.id, 1000)
    copy = ledger.find_invoice(fresh.id)
    registered = ledger.record_registration(fresh.id, A_CHARGE, loaded=copy)
    assert registered.aggregate is copy  # the copy itself, no second load
    assert ledger.find_invoice(fresh.id).status is InvoiceStatus.AWAITING_PAYMENT

    late = an_invoice(ledger, reseller_id, client.id, 2000)
    stale = ledger.find_invoice(late.id)
    ledger.cancel_invoice(reseller_id, late.id, "desistiu")
    with pytest.raises(InvalidTransitionError):
        # Saved from the stale copy it conflicts; reloaded, it is cancelled.
        ledger.record_registration(late.id, A_CHARGE, loaded=stale)
    assert ledger.find_invoice(late.id).status is InvoiceStatus.CANCELLED


def _transactions_of(ledger: Ledger, reseller_ids: list[UUID]) -> int:
    """How many transactions wrote the tenants' code sequences."""
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        row = cursor.execute(
            "SELECT count(DISTINCT xmin::text) AS n FROM ledger_events "
            "WHERE originator_id = ANY(%s)",
            (reseller_ids,),
        ).fetchone()
    assert row is not None
    return int(row["n"])


@contextmanager
def _queued_behind_a_held_table_lock(
    ledger: Ledger, database_url: str, count: int
) -> Iterator[Callable[..., Future[Any]]]:
    """Submit ``count`` issues while the events table is locked by hand.

    The first issue's batch waits in PostgreSQL for the lock; the rest queue up
    behind it in this process. The lock is let go once all of them are queued.
    """
    queue = ledger._issues._queue(ISSUES)
    # No callers of an earlier test to wait for: the first issue leads at once.
    queue.callers = 0
    with ThreadPoolExecutor(count) as pool, psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE ledger_events IN EXCLUSIVE MODE")
        yield pool.submit
        deadline = time.monotonic() + 30
        while len(queue.pending) < count - 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        queued = len(queue.pending)
        holder.rollback()
    assert queued == count - 1
