"""Issuing invoices on real PostgreSQL: gapless codes, active contracts only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import project_aggregate

from application.ledger import Ledger
from domain.errors import (
    ClientNotFoundError,
    InvalidInputError,
    NoActiveContractError,
)
from domain.invoices import InvoiceStatus
from tests.builders import a_billable_client, a_client, a_reseller, an_invoice


def test_24_concurrent_issues_for_one_reseller_get_codes_1_to_24(
    ledger: Ledger,
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    with ThreadPoolExecutor(max_workers=24) as pool:
        futures = [
            pool.submit(an_invoice, ledger, reseller_id, client.id) for _ in range(24)
        ]
        invoices = [future.result() for future in futures]
    assert sorted(invoice.code for invoice in invoices) == list(range(1, 25))
    assert ledger.get_reseller(reseller_id).last_invoice_code == 24
    for invoice in invoices:
        stored = ledger.get_invoice(reseller_id, invoice.id)
        assert stored.code == invoice.code


def test_two_ledger_processes_share_one_gapless_sequence(
    ledger: Ledger, ledger_env: dict[str, str]
) -> None:
    other = Ledger(ledger_env, passwords=ledger.passwords)
    try:
        reseller_id = a_reseller(ledger).reseller.id
        client = a_billable_client(ledger, reseller_id)
        apps = [ledger, other] * 6
        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(
                pool.map(lambda app: an_invoice(app, reseller_id, client.id).code, apps)
            )
    finally:
        other.close()
    assert sorted(codes) == list(range(1, 13))


def test_each_reseller_numbers_its_invoices_from_one(ledger: Ledger) -> None:
    first = a_reseller(ledger).reseller.id
    second = a_reseller(ledger).reseller.id
    for reseller_id in (first, second):
        client = a_billable_client(ledger, reseller_id)
        codes = [an_invoice(ledger, reseller_id, client.id).code for _ in range(3)]
        assert codes == [1, 2, 3]


def _contract_in(ledger: Ledger, reseller_id: UUID, status: str) -> UUID:
    client = a_client(ledger, reseller_id)
    if status == "none":
        return client.id
    contract = ledger.open_contract(reseller_id, client.id).aggregate
    if status in {"suspended", "active"}:
        ledger.activate_contract(reseller_id, contract.id)
    if status == "suspended":
        ledger.suspend_contract(reseller_id, contract.id)
    if status == "cancelled":
        ledger.cancel_contract(reseller_id, contract.id)
    return client.id


@pytest.mark.parametrize("status", ["none", "trial", "suspended", "cancelled"])
def test_issuing_without_an_active_contract_is_refused_and_records_nothing(
    ledger: Ledger, status: str
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client_id = _contract_in(ledger, reseller_id, status)
    before = ledger.recorder.max_notification_id()
    with pytest.raises(NoActiveContractError, match=status):
        an_invoice(ledger, reseller_id, client_id)
    assert ledger.recorder.max_notification_id() == before
    assert ledger.get_reseller(reseller_id).last_invoice_code == 0


def test_an_invalid_invoice_is_refused_before_anything_is_loaded(
    ledger: Ledger,
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    today = ledger.today()
    before = ledger.recorder.max_notification_id()
    with pytest.raises(InvalidInputError, match="due_date"):
        ledger.issue_invoice(
            reseller_id,
            client_id=client.id,
            description="Mensalidade",
            amount_cents=100,
            due_date=today - timedelta(days=1),
            reference_month="01",
            reference_year="2026",
        )
    with pytest.raises(InvalidInputError, match="reference_month"):
        ledger.issue_invoice(
            reseller_id,
            client_id=client.id,
            description="Mensalidade",
            amount_cents=100,
            due_date=today,
            reference_month="13",
            reference_year="2026",
        )
    assert ledger.recorder.max_notification_id() == before


def test_another_tenants_client_cannot_be_billed(ledger: Ledger) -> None:
    owner = a_reseller(ledger).reseller.id
    intruder = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, owner)
    with pytest.raises(ClientNotFoundError):
        an_invoice(ledger, intruder, client.id)


def test_an_issued_invoice_is_processing_with_todays_sao_paulo_date(
    ledger: Ledger,
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    invoice = an_invoice(ledger, reseller_id, client.id, amount_cents=12345)
    stored = ledger.get_invoice(reseller_id, invoice.id)
    assert stored.status is InvoiceStatus.PROCESSING
    assert stored.issue_date == ledger.today()
    assert stored.amount_cents == 12345
    assert stored == invoice


def test_the_sequence_is_snapshotted_so_loading_it_stays_short(ledger: Ledger) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    for _ in range(120):
        an_invoice(ledger, reseller_id, client.id)
    assert ledger.snapshots is not None
    snapshots = list(ledger.snapshots.get(reseller_id, desc=True, limit=1))
    assert snapshots, "the reseller should have been snapshotted"
    assert snapshots[0].originator_version == 100
    events_after_snapshot = list(
        ledger.events.get(reseller_id, gt=snapshots[0].originator_version)
    )
    assert len(events_after_snapshot) == 21
    reseller = ledger.get_reseller(reseller_id)
    assert reseller.last_invoice_code == 120
    assert reseller.version == 121


def _snapshot_is_the_replay(ledger: Ledger, reseller_id: UUID, version: int) -> None:
    assert ledger.snapshots is not None
    (snapshot,) = ledger.snapshots.get(reseller_id, desc=True, limit=1)
    assert snapshot.originator_version == version
    replayed = project_aggregate(None, ledger.events.get(reseller_id, lte=version))
    restored = project_aggregate(None, [snapshot])
    assert replayed is not None
    assert restored is not None
    assert vars(restored) == vars(replayed)


def test_a_snapshot_taken_on_save_is_the_state_its_events_replay_to(
    ledger: Ledger,
) -> None:
    """The snapshot comes from the reseller just saved, not from a reload."""
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    for _ in range(100):
        an_invoice(ledger, reseller_id, client.id)
    _snapshot_is_the_replay(ledger, reseller_id, 100)


def test_a_save_past_the_interval_snapshots_the_version_it_saved(
    ledger: Ledger,
) -> None:
    """A batch that crosses version 100 is snapshotted as saved, at 103."""
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    for _ in range(97):
        an_invoice(ledger, reseller_id, client.id)
    reseller = ledger.get_reseller(reseller_id)
    assert reseller.version == 98
    for _ in range(5):
        reseller.assign_invoice_code(uuid4())
    ledger.save(reseller)
    _snapshot_is_the_replay(ledger, reseller_id, 103)
