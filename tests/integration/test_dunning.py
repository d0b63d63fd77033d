"""Dunning and automatic billing as the daily jobs run them: real views as the
candidates, decisions on the log, days chosen by the caller (no clock needed)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from api.bootstrap import ViewBillingQueries
from application.dunning import Reinstatement, automatic_billing, dunning
from application.ledger import Ledger
from domain.contracts import ContractStatus, Plan, SuspensionReason
from projections.read_models import ReadModels
from tests.builders import a_client, a_reseller, an_active_contract, an_invoice
from tests.integration.test_views import PAID_AT, charge_for

DAYS = 30


@pytest.fixture
def queries(read_models: ReadModels) -> ViewBillingQueries:
    return ViewBillingQueries(read_models)


def settle(ledger: Ledger, read_models: ReadModels) -> None:
    head = ledger.recorder.max_notification_id() or 0
    assert read_models.wait_for(head, 10), "views did not catch up"


def late_client(ledger: Ledger, reseller_id: UUID) -> tuple[UUID, UUID]:
    """An active contract and its invoice, awaiting payment, due in 10 days."""
    client = a_client(ledger, reseller_id)
    contract = an_active_contract(ledger, reseller_id, client.id)
    invoice = an_invoice(ledger, reseller_id, client.id, amount_cents=10_000)
    ledger.record_registration(invoice.id, charge_for(invoice.id))
    return contract.id, invoice.id


def status_of(ledger: Ledger, reseller_id: UUID, contract_id: UUID) -> tuple[str, str]:
    contract = ledger.get_contract(reseller_id, contract_id)
    return contract.status.value, str(contract.suspension_reason)


def test_the_sweep_suspends_from_the_nth_day_late_and_reinstates_when_settled(
    ledger: Ledger, read_models: ReadModels, queries: ViewBillingQueries
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    ledger.change_billing_settings(reseller_id, {"suspend_after_days_overdue": DAYS})
    late, late_invoice = late_client(ledger, reseller_id)
    by_hand, _ = late_client(ledger, reseller_id)
    ledger.suspend_contract(reseller_id, by_hand)
    due = ledger.find_invoice(late_invoice).due_date
    settle(ledger, read_models)

    dunning(ledger, queries, due + timedelta(days=DAYS - 1))
    assert status_of(ledger, reseller_id, late) == ("active", "None")
    dunning(ledger, queries, due + timedelta(days=DAYS))
    assert status_of(ledger, reseller_id, late) == ("suspended", "overdue")
    assert status_of(ledger, reseller_id, by_hand) == ("suspended", "manual")
    settle(ledger, read_models)
    again = dunning(ledger, queries, due + timedelta(days=DAYS))
    assert again == {"suspended": 0, "reinstated": 0}

    # Cancelling the late invoice settles the debt: the sweep reinstates.
    ledger.cancel_invoice(reseller_id, late_invoice, "negociado")
    settle(ledger, read_models)
    done = dunning(ledger, queries, due + timedelta(days=DAYS + 1))
    assert done["reinstated"] >= 1
    assert status_of(ledger, reseller_id, late) == ("active", "None")
    assert status_of(ledger, reseller_id, by_hand) == ("suspended", "manual")


def test_a_payment_reinstates_only_when_nothing_else_is_past_due(
    ledger: Ledger, read_models: ReadModels, queries: ViewBillingQueries
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    contract_id, first = late_client(ledger, reseller_id)
    client_id = ledger.get_contract(reseller_id, contract_id).client_id
    second = an_invoice(ledger, reseller_id, client_id, amount_cents=5_000).id
    ledger.record_registration(second, charge_for(second))
    ledger.suspend_contract(reseller_id, contract_id, SuspensionReason.OVERDUE)
    # Both fall due in 10 days: judged as of 40 days on, both are past due.
    process = Reinstatement(
        ledger, queries, today=lambda: ledger.today() + timedelta(days=40)
    )

    def pay(invoice_id: UUID, amount_cents: int) -> None:
        ledger.record_payment(
            provider="sandbox",
            provider_event_id=f"evt-{invoice_id}",
            invoice_id=invoice_id,
            amount_cents=amount_cents,
            paid_at=PAID_AT,
            method="pix",
        )
        settle(ledger, read_models)
        payment = ledger.history(invoice_id)[-1]
        assert process.handles(payment)
        process.react(payment)

    pay(first, 10_000)
    assert status_of(ledger, reseller_id, contract_id) == ("suspended", "overdue")
    pay(second, 5_000)
    assert status_of(ledger, reseller_id, contract_id) == ("active", "None")
    assert ledger.get_contract(reseller_id, contract_id).status is (
        ContractStatus.ACTIVE
    )


def test_automatic_billing_bills_on_the_day_once(
    ledger: Ledger, read_models: ReadModels, queries: ViewBillingQueries
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    day = ledger.today() + timedelta(days=400)
    day = day.replace(day=min(day.day, 28))
    ledger.change_billing_settings(reseller_id, {"auto_billing_day": day.day})
    client = a_client(ledger, reseller_id)
    contract = an_active_contract(ledger, reseller_id, client.id)
    ledger.change_contract_plan(reseller_id, contract.id, Plan("Plano", 5_000, 28))
    settle(ledger, read_models)

    assert automatic_billing(ledger, queries, day - timedelta(days=1)) == 0
    assert automatic_billing(ledger, queries, day) == 1
    assert automatic_billing(ledger, queries, day) == 0
    settle(ledger, read_models)
    (run,) = read_models.billing.runs(reseller_id).items
    assert (run["reference"], run["issue_date"], run["automatic"]) == (
        f"{day.year:04d}-{day.month:02d}",
        day,
        True,
    )
