"""An aggregate reloaded from PostgreSQL equals the live one, after any commands."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.ledger import Ledger, Recorded
from domain.base import LedgerAggregate
from domain.errors import ConflictError
from domain.invoices import Charge
from tests.builders import a_billable_client, a_reseller, an_invoice

PAID_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHARGE = Charge("ch", "001", "1", "0" * 44, "0" * 47, "000201")

COMMANDS = st.sampled_from(
    [
        "update_client",
        "suspend",
        "activate",
        "cancel_contract",
        "open_contract",
        "issue",
        "register",
        "fail",
        "overdue",
        "pay",
        "duplicate_pay",
        "cancel_invoice",
        "refund",
    ]
)


class Scenario:
    """Runs commands against the ledger, remembering each live aggregate."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.reseller_id = a_reseller(ledger).reseller.id
        client = a_billable_client(ledger, self.reseller_id)
        self.client_id = client.id
        contract = ledger.current_contract(self.reseller_id, client.id)
        assert contract is not None
        self.live: dict[object, LedgerAggregate] = {
            client.id: client,
            contract.id: contract,
        }
        self.contract_id = contract.id
        self.invoice_id = an_invoice(ledger, self.reseller_id, client.id).id
        self.payment_event = f"evt_{uuid4().hex}"

    def run(self, command: str) -> None:  # noqa: C901 - one branch per command
        ledger, reseller_id = self.ledger, self.reseller_id
        result: Recorded[Any]
        match command:
            case "update_client":
                name = f"Cliente {uuid4().hex[:6]}"
                result = ledger.update_client(
                    reseller_id, self.client_id, {"name": name}
                )
            case "suspend":
                result = ledger.suspend_contract(reseller_id, self.contract_id)
            case "activate":
                result = ledger.activate_contract(reseller_id, self.contract_id)
            case "cancel_contract":
                result = ledger.cancel_contract(reseller_id, self.contract_id)
            case "open_contract":
                result = ledger.open_contract(reseller_id, self.client_id)
                self.contract_id = result.aggregate.id
            case "issue":
                invoice = an_invoice(ledger, reseller_id, self.client_id)
                self.invoice_id = invoice.id
                self.payment_event = f"evt_{uuid4().hex}"
                self.live[invoice.id] = invoice
                return
            case "register":
                result = ledger.record_registration(self.invoice_id, CHARGE)
            case "fail":
                result = ledger.record_registration_failure(self.invoice_id, "recusada")
            case "overdue":
                result = ledger.mark_overdue(self.invoice_id, date(2100, 1, 1))
            case "pay" | "duplicate_pay":
                event_id = (
                    self.payment_event
                    if command == "duplicate_pay"
                    else f"evt_{uuid4().hex}"
                )
                paid = ledger.record_payment(
                    provider="sandbox",
                    provider_event_id=event_id,
                    invoice_id=self.invoice_id,
                    amount_cents=15000,
                    paid_at=PAID_AT,
                    method="boleto",
                )
                self.live[paid.invoice.id] = paid.invoice
                return
            case "cancel_invoice":
                result = ledger.cancel_invoice(reseller_id, self.invoice_id, "motivo")
            case "refund":
                refunded = ledger.record_refund(
                    provider="sandbox",
                    provider_event_id=f"evt_{uuid4().hex}",
                    invoice_id=self.invoice_id,
                    amount_cents=None,
                    refunded_at=PAID_AT,
                )
                self.live[refunded.invoice.id] = refunded.invoice
                return
        self.live[result.aggregate.id] = result.aggregate

    def check(self) -> None:
        for aggregate_id, live in self.live.items():
            reloaded: object = self.ledger.repository.get(aggregate_id)  # type: ignore[arg-type]
            assert reloaded == live, f"{type(live).__name__} differs after reload"


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(commands=st.lists(COMMANDS, min_size=1, max_size=12))
def test_reloaded_aggregates_equal_the_live_ones(
    ledger: Ledger, commands: list[str]
) -> None:
    scenario = Scenario(ledger)
    for command in commands:
        # A refused transition records nothing; the check below proves it.
        with contextlib.suppress(ConflictError):
            scenario.run(command)
        scenario.check()
