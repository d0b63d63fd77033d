"""Billing runs and plans: the rules of one run, on the in-memory ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from application.ledger import Ledger
from application.passwords import Passwords
from domain.billing_runs import (
    BillingReference,
    automatic_run_id,
    billing_description,
    billing_due_date,
    billing_invoice_id,
)
from domain.contracts import Contract, ContractStatus, Plan, SuspensionReason
from domain.errors import InvalidInputError, InvalidTransitionError
from domain.invoices import Invoice
from tests.builders import a_client, a_reseller, an_active_contract

PLAN = Plan("Plano Mensal", 10_000, 10)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        passwords=Passwords.fast_for_tests(),
    )


# -- the month, the due date, the description ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01", (2026, 1)), ("2026-12", (2026, 12)), ("2000-01", (2000, 1))],
)
def test_a_reference_is_a_month_as_yyyy_mm(
    text: str, expected: tuple[int, int]
) -> None:
    reference = BillingReference.parse(text)
    assert (reference.year, reference.month) == expected
    assert str(reference) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "26-01",
        "2026-01-01",
        "1999-12",
        "0000-01",
        "2100-01",
        "",
        7,
        None,
    ],
)
def test_anything_else_is_refused(text: object) -> None:
    with pytest.raises(InvalidInputError) as refused:
        BillingReference.parse(text)
    assert refused.value.field == "reference"


@pytest.mark.parametrize(
    ("reference", "due_day", "issued_on", "due"),
    [
        # The plan's day of the reference month while it has not passed.
        ("2026-03", 10, date(2026, 3, 1), date(2026, 3, 10)),
        ("2026-03", 10, date(2026, 3, 10), date(2026, 3, 10)),
        ("2026-03", 10, date(2026, 2, 20), date(2026, 3, 10)),
        # Once it has: the issue date.
        ("2026-03", 10, date(2026, 3, 11), date(2026, 3, 11)),
        ("2026-03", 1, date(2026, 3, 31), date(2026, 3, 31)),
        ("2026-01", 28, date(2026, 2, 5), date(2026, 2, 5)),
        # The 28th exists in every month, February of leap and common years.
        ("2026-02", 28, date(2026, 2, 1), date(2026, 2, 28)),
        ("2028-02", 28, date(2028, 2, 1), date(2028, 2, 28)),
        ("2026-12", 28, date(2026, 12, 1), date(2026, 12, 28)),
    ],
)
def test_an_invoice_is_due_on_the_plan_day_or_on_the_issue_date_once_past(
    reference: str, due_day: int, issued_on: date, due: date
) -> None:
    plan = Plan("Plano", 100, due_day)
    assert billing_due_date(plan, BillingReference.parse(reference), issued_on) == due


@pytest.mark.parametrize(
    ("reference", "day", "expected"),
    [
        ("2026-02", 31, date(2026, 2, 28)),
        ("2028-02", 31, date(2028, 2, 29)),
        ("2026-04", 31, date(2026, 4, 30)),
        ("2026-01", 31, date(2026, 1, 31)),
    ],
)
def test_a_day_past_the_end_of_a_month_is_its_last_day(
    reference: str, day: int, expected: date
) -> None:
    assert BillingReference.parse(reference).day(day) == expected


def test_the_description_names_the_plan_and_the_month() -> None:
    reference = BillingReference.parse("2027-01")
    assert billing_description(PLAN, reference) == "Plano Mensal - 01/2027"


def test_ids_are_deterministic_per_contract_and_month() -> None:
    contract, other = UUID(int=1), UUID(int=2)
    march, april = BillingReference(2026, 3), BillingReference(2026, 4)
    assert billing_invoice_id(contract, march) == billing_invoice_id(contract, march)
    assert (
        len(
            {
                billing_invoice_id(contract, march),
                billing_invoice_id(contract, april),
                billing_invoice_id(other, march),
            }
        )
        == 3
    )
    assert automatic_run_id(contract, march) != billing_invoice_id(contract, march)


# -- plans ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "amount", "due_day", "field"),
    [
        ("", 100, 10, "plan.description"),
        ("x" * 201, 100, 10, "plan.description"),
        ("a\x00b", 100, 10, "plan.description"),
        ("Plano", 0, 10, "plan.amount"),
        ("Plano", 10_000_000_000, 10, "plan.amount"),
        ("Plano", 100, 0, "plan.due_day"),
        ("Plano", 100, 29, "plan.due_day"),
        ("Plano", 100, True, "plan.due_day"),
    ],
)
def test_a_plan_out_of_range_is_refused(
    description: str, amount: int, due_day: int, field: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        Plan.parse(description, amount, due_day)
    assert refused.value.field == field


def test_a_plan_is_set_changed_and_removed_by_events() -> None:
    contract = Contract.open(UUID(int=9), UUID(int=8), 1)
    assert contract.change_plan(PLAN)
    assert not contract.change_plan(PLAN)  # the same plan again records nothing
    contract.change_plan(Plan("Plano Anual", 99_000, 5))
    contract.change_plan(None)
    kinds = [type(e).__name__ for e in contract.collect_events()]
    assert kinds == ["Opened", "PlanChanged", "PlanChanged", "PlanRemoved"]
    assert contract.plan is None


def test_a_cancelled_contract_takes_no_plan() -> None:
    contract = Contract.open(UUID(int=9), UUID(int=8), 1)
    contract.cancel(datetime.now(UTC))
    with pytest.raises(InvalidTransitionError):
        contract.change_plan(PLAN)


# -- suspension reasons -------------------------------------------------------------


def test_only_a_contract_suspended_for_overdue_debts_is_reinstated() -> None:
    now = datetime.now(UTC)
    by_hand = Contract.open(UUID(int=9), UUID(int=8), 1)
    by_hand.activate(now)
    by_hand.suspend(now)
    assert by_hand.suspension_reason is SuspensionReason.MANUAL
    with pytest.raises(InvalidTransitionError):
        by_hand.reinstate(now)
    dunned = Contract.open(UUID(int=9), UUID(int=7), 1)
    dunned.activate(now)
    dunned.suspend(now, SuspensionReason.OVERDUE)
    assert dunned.suspension_reason is SuspensionReason.OVERDUE
    dunned.reinstate(now)
    after: tuple[object, object] = (dunned.status, dunned.suspension_reason)
    assert after == (ContractStatus.ACTIVE, None)
    with pytest.raises(InvalidTransitionError):
        dunned.reinstate(now)


# -- a run on the ledger ------------------------------------------------------------


def _contracts(ledger: Ledger, reseller_id: UUID) -> dict[str, Contract]:
    """One contract in each situation a run must tell apart."""
    contracts: dict[str, Contract] = {}
    for name in ("planned", "planned_too", "trial", "suspended", "cancelled", "none"):
        client = a_client(ledger, reseller_id)
        contract = an_active_contract(ledger, reseller_id, client.id)
        if name != "none":
            ledger.change_contract_plan(reseller_id, contract.id, PLAN)
        contracts[name] = contract
    trial_client = a_client(ledger, reseller_id)
    trial = ledger.open_contract(reseller_id, trial_client.id, PLAN).aggregate
    contracts["trial"] = trial
    ledger.suspend_contract(reseller_id, contracts["suspended"].id)
    ledger.cancel_contract(reseller_id, contracts["cancelled"].id)
    return contracts


def test_a_run_bills_each_active_planned_contract_once(ledger: Ledger) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    contracts = _contracts(ledger, reseller_id)
    every = [contract.id for contract in contracts.values()]
    today = ledger.today()
    reference = f"{today.year:04d}-{today.month:02d}"
    run = ledger.run_billing(reseller_id, reference, every, batch_size=1)
    assert run is not None
    assert (run.aggregate.issued, run.aggregate.skipped) == (2, 0)
    billed = {ledger.find_invoice(i).contract_id for i in run.aggregate.invoice_ids}
    assert billed == {contracts["planned"].id, contracts["planned_too"].id}
    invoice = ledger.find_invoice(run.aggregate.invoice_ids[0])
    assert invoice.billing_reference == reference
    assert invoice.description == f"Plano Mensal - {today.month:02d}/{today.year}"
    assert invoice.amount_cents == PLAN.amount_cents
    assert (invoice.reference_month, invoice.reference_year) == (
        f"{today.month:02d}",
        str(today.year),
    )
    assert invoice.due_date == max(today.replace(day=10), today)
    again = ledger.run_billing(reseller_id, reference, every)
    assert again is not None
    assert (again.aggregate.issued, again.aggregate.skipped) == (0, 2)
    assert ledger.get_reseller(reseller_id).last_invoice_code == 2


def test_another_tenants_contracts_are_not_billed(ledger: Ledger) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    other_id = a_reseller(ledger).reseller.id
    client = a_client(ledger, other_id)
    contract = an_active_contract(ledger, other_id, client.id)
    ledger.change_contract_plan(other_id, contract.id, PLAN)
    run = ledger.run_billing(reseller_id, "2026-11", [contract.id])
    assert run is not None
    assert (run.aggregate.issued, run.aggregate.skipped) == (0, 0)


def test_an_automatic_run_happens_once_a_month(ledger: Ledger) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_client(ledger, reseller_id)
    contract = an_active_contract(ledger, reseller_id, client.id)
    ledger.change_contract_plan(reseller_id, contract.id, PLAN)
    run_id = automatic_run_id(reseller_id, BillingReference(2026, 11))
    first = ledger.run_billing(reseller_id, "2026-11", [contract.id], run_id=run_id)
    assert first is not None
    assert first.aggregate.issued == 1
    assert (
        ledger.run_billing(reseller_id, "2026-11", [contract.id], run_id=run_id) is None
    )


def test_a_run_issues_with_the_fees_of_the_settings(ledger: Ledger) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    ledger.change_billing_settings(
        reseller_id, {"fine_percent": "2.00", "interest_monthly_percent": "1.00"}
    )
    client = a_client(ledger, reseller_id)
    contract = an_active_contract(ledger, reseller_id, client.id)
    ledger.change_contract_plan(reseller_id, contract.id, PLAN)
    issued_on = ledger.today() + timedelta(days=3)
    run = ledger.run_billing(
        reseller_id, "2099-12", [contract.id], issue_date=issued_on
    )
    assert run is not None
    invoice = ledger.find_invoice(run.aggregate.invoice_ids[0])
    assert isinstance(invoice, Invoice)
    assert (str(invoice.fine_percent), str(invoice.interest_monthly_percent)) == (
        "2.00",
        "1.00",
    )
    assert (invoice.issue_date, invoice.due_date) == (issued_on, date(2099, 12, 10))
