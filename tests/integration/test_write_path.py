"""The fast write path keeps every invariant: one-round-trip appends, issues served
from this process's cache with the versions they read checked in the append, and
concurrent issues of a tenant grouped into one save."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.chain import ChainedRecorder, audit_tenant
from application.ledger import Ledger
from domain.errors import InvalidInputError, NoActiveContractError
from tests.builders import a_billable_client, a_reseller, an_invoice


def test_an_issue_from_a_stale_cache_is_refused_when_the_contract_moved_on(
    ledger: Ledger, ledger_env: dict[str, str]
) -> None:
    """Another process suspends the contract this one has cached as active."""
    other = Ledger(ledger_env, passwords=ledger.passwords)
    try:
        reseller_id = a_reseller(ledger).reseller.id
        client = a_billable_client(ledger, reseller_id)
        an_invoice(ledger, reseller_id, client.id)  # the issue path is now cached
        contract = ledger.current_contract(reseller_id, client.id)
        assert contract is not None
        other.suspend_contract(reseller_id, contract.id)
        before = ledger.recorder.max_notification_id()
        with pytest.raises(NoActiveContractError):
            an_invoice(ledger, reseller_id, client.id)
        assert ledger.recorder.max_notification_id() == before
        assert ledger.get_reseller(reseller_id).last_invoice_code == 1
    finally:
        other.close()


def test_an_issue_from_a_stale_sequence_takes_the_next_code(
    ledger: Ledger, ledger_env: dict[str, str]
) -> None:
    other = Ledger(ledger_env, passwords=ledger.passwords)
    try:
        reseller_id = a_reseller(ledger).reseller.id
        client = a_billable_client(ledger, reseller_id)
        codes = [an_invoice(ledger, reseller_id, client.id).code]  # cached here
        codes += [an_invoice(other, reseller_id, client.id).code for _ in range(2)]
        codes.append(an_invoice(ledger, reseller_id, client.id).code)
    finally:
        other.close()
    assert codes == [1, 2, 3, 4]
    assert audit_tenant(ledger.recorder, ledger.mapper, reseller_id).ok


def test_concurrent_issues_share_saves_and_keep_codes_gapless(ledger: Ledger) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    clients = [a_billable_client(ledger, reseller_id) for _ in range(4)]
    an_invoice(ledger, reseller_id, clients[0].id)
    queue = ledger._issues._queue(reseller_id)
    # The tenant's lock held here: the first issue's batch waits for it and the
    # other fifteen queue up behind that batch meanwhile.
    with ThreadPoolExecutor(16) as pool:
        with ledger._sequence_lock(reseller_id):
            futures = [
                pool.submit(an_invoice, ledger, reseller_id, clients[n % 4].id)
                for n in range(16)
            ]
            deadline = time.monotonic() + 30
            while len(queue.pending) < 15 and time.monotonic() < deadline:
                time.sleep(0.001)
            queued = len(queue.pending)
        codes = [future.result().code for future in futures]
    assert queued == 15
    assert sorted(codes) == list(range(2, 18))
    # Registered, the first invoice, the first batch (one), then the fifteen.
    assert _transactions_of(ledger, reseller_id) == 4
    assert audit_tenant(ledger.recorder, ledger.mapper, reseller_id).ok


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
    ledger: Ledger,
) -> None:
    recorder = ledger.recorder
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


def test_a_conflicting_append_leaves_the_connection_usable(ledger: Ledger) -> None:
    recorder = ledger.recorder
    assert isinstance(recorder, ChainedRecorder)
    event = StoredEvent(uuid4(), 1, "t", b"{}")
    recorder.insert_events([event])
    for _ in range(12):  # more than the pool's connections
        with pytest.raises(IntegrityError):
            recorder.insert_events([event])
    assert recorder.insert_events([StoredEvent(uuid4(), 1, "t", b"{}")])


def _transactions_of(ledger: Ledger, reseller_id: object) -> int:
    """How many transactions wrote the tenant's code assignments."""
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        row = cursor.execute(
            "SELECT count(DISTINCT xmin::text) AS n FROM ledger_events "
            "WHERE originator_id = %s",
            (reseller_id,),
        ).fetchone()
    assert row is not None
    return int(row["n"])
