"""Billing runs on real PostgreSQL: one invoice per contract and month, whatever
races or crashes, with the gapless code sequence intact."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest

from application.ledger import Ledger
from domain.base import LedgerAggregate
from domain.billing_runs import BillingReference, billing_invoice_id
from domain.contracts import Plan
from domain.invoices import Invoice
from tests.builders import a_client, a_reseller, an_active_contract, an_invoice

PLAN = Plan("Plano Mensal", 9_990, 15)
REFERENCE = "2099-01"


def planned_contracts(ledger: Ledger, reseller_id: UUID, count: int) -> list[UUID]:
    ids = []
    for _ in range(count):
        client = a_client(ledger, reseller_id)
        contract = an_active_contract(ledger, reseller_id, client.id)
        ledger.change_contract_plan(reseller_id, contract.id, PLAN)
        ids.append(contract.id)
    return ids


def billed_once_each(
    ledger: Ledger, reseller_id: UUID, contract_ids: list[UUID]
) -> list[Invoice]:
    """The month's invoice of every contract; the codes must be 1..n, no gap."""
    reference = BillingReference.parse(REFERENCE)
    invoices = [
        ledger.get_invoice(reseller_id, billing_invoice_id(contract_id, reference))
        for contract_id in contract_ids
    ]
    assert [i.contract_id for i in invoices] == contract_ids
    return invoices


def test_two_concurrent_runs_in_two_processes_issue_one_invoice_per_contract(
    ledger: Ledger, ledger_env: dict[str, str]
) -> None:
    other = Ledger(ledger_env, passwords=ledger.passwords)
    try:
        reseller_id = a_reseller(ledger).reseller.id
        contracts = planned_contracts(ledger, reseller_id, 30)
        apps = [ledger, other, ledger, other]
        with ThreadPoolExecutor(max_workers=len(apps)) as pool:
            runs = list(
                pool.map(
                    lambda app: app.run_billing(
                        reseller_id, REFERENCE, contracts, batch_size=4
                    ),
                    apps,
                )
            )
    finally:
        other.close()
    outcomes = [run.aggregate for run in runs if run is not None]
    assert len(outcomes) == len(apps)
    assert sum(run.issued for run in outcomes) == len(contracts)
    issued = [i for run in outcomes for i in run.invoice_ids]
    assert len(set(issued)) == len(contracts)
    invoices = billed_once_each(ledger, reseller_id, contracts)
    assert sorted(i.code for i in invoices) == list(range(1, len(contracts) + 1))
    assert ledger.get_reseller(reseller_id).last_invoice_code == len(contracts)


def test_a_run_racing_hand_issued_invoices_keeps_the_codes_gapless(
    ledger: Ledger,
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    contracts = planned_contracts(ledger, reseller_id, 12)
    client = a_client(ledger, reseller_id)
    an_active_contract(ledger, reseller_id, client.id)
    with ThreadPoolExecutor(max_workers=4) as pool:
        run = pool.submit(
            ledger.run_billing, reseller_id, REFERENCE, contracts, batch_size=3
        )
        by_hand = [
            pool.submit(an_invoice, ledger, reseller_id, client.id) for _ in range(6)
        ]
        recorded = run.result()
        codes = [future.result().code for future in by_hand]
    assert recorded is not None
    invoices = billed_once_each(ledger, reseller_id, contracts)
    codes += [invoice.code for invoice in invoices]
    assert sorted(codes) == list(range(1, 19))


class CrashError(Exception):
    """The process died here."""


class CrashingLedger(Ledger):
    """Dies on its ``crash_at``-th save of a billing batch."""

    name = "ledger"  # the same events table as the ledger's
    crash_at = 3
    saves = 0

    def _save_all(
        self,
        *aggregates: LedgerAggregate,
        expected_versions: Mapping[UUID, int] | None = None,
    ) -> int | None:
        if any(isinstance(a, Invoice) for a in aggregates):
            self.saves += 1
            if self.saves == self.crash_at:
                raise CrashError
        return super()._save_all(*aggregates, expected_versions=expected_versions)


def test_a_run_interrupted_midway_and_run_again_bills_each_contract_once(
    ledger: Ledger, ledger_env: dict[str, str]
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    contracts = planned_contracts(ledger, reseller_id, 10)
    crashing = CrashingLedger(ledger_env, passwords=ledger.passwords)
    try:
        with pytest.raises(CrashError):
            crashing.run_billing(reseller_id, REFERENCE, contracts, batch_size=3)
    finally:
        crashing.close()
    # Two whole batches were saved before the crash, nothing of the third.
    assert ledger.get_reseller(reseller_id).last_invoice_code == 6
    again = ledger.run_billing(reseller_id, REFERENCE, contracts, batch_size=3)
    assert again is not None
    assert (again.aggregate.issued, again.aggregate.skipped) == (4, 6)
    invoices = billed_once_each(ledger, reseller_id, contracts)
    assert sorted(i.code for i in invoices) == list(range(1, 11))
    third = ledger.run_billing(reseller_id, REFERENCE, contracts)
    assert third is not None
    assert (third.aggregate.issued, third.aggregate.skipped) == (0, 10)
