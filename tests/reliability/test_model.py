"""Model-based: random command sequences against a plain in-memory model.

A Hypothesis state machine drives the application (clients, contracts, issue,
register, pay, duplicate pay, overdue, cancel, late pay, refund) and, after every
step, checks the tenant's totals in the views against the model: open receivables
equal unpaid invoices (a failed one is not open), paid amounts equal the payments
recorded, a payment of a paid or refunded invoice is a credit, codes are gapless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from application.ledger import Ledger, NotificationResult
from domain.errors import ConflictError
from domain.invoices import Charge
from projections.read_models import ReadModels
from tests.builders import a_billable_client, a_reseller, today

ISSUED_ON = today() - timedelta(days=2)
DUE_ON = today() + timedelta(days=10)
PAID_AT = datetime.combine(ISSUED_ON, time(12), tzinfo=UTC)
CHARGE = Charge("ch", "001", "1", "0" * 44, "0" * 47, "000201")
OPEN = {"processing", "awaiting_payment", "overdue"}
CANCELLABLE = {*OPEN, "failed"}


@dataclass
class ModelInvoice:
    """What the model believes about one invoice."""

    amount_cents: int
    status: str = "processing"
    paid_cents: int = 0
    credit_cents: int = 0
    payment_events: list[str] = field(default_factory=list)


class LedgerMachine(RuleBasedStateMachine):
    """The application and its views against a dictionary of invoices."""

    ledger: Ledger
    views: ReadModels

    def __init__(self) -> None:
        super().__init__()
        self.invoices: dict[UUID, ModelInvoice] = {}
        self.position = 0

    @initialize()
    def a_tenant(self) -> None:
        registered = a_reseller(self.ledger)
        self.reseller_id = registered.reseller.id
        self.clients = [a_billable_client(self.ledger, self.reseller_id).id]
        self.position = self.ledger.recorder.max_notification_id() or 0

    def _settle(self, position: int | None) -> None:
        if position is not None:
            self.position = max(self.position, position)

    def _with(self, status: set[str]) -> list[UUID]:
        # In the order issued, never sorted by id: ids are random, and Hypothesis
        # replays a case expecting the same draws to pick the same invoices.
        return [i for i, m in self.invoices.items() if m.status in status]

    @rule()
    def add_client(self) -> None:
        client = a_billable_client(self.ledger, self.reseller_id)
        self.clients.append(client.id)
        self._settle(self.ledger.recorder.max_notification_id())

    @rule(
        amount=st.integers(min_value=1, max_value=10_000_00), client=st.integers(0, 50)
    )
    def issue(self, amount: int, client: int) -> None:
        recorded = self.ledger.issue_invoice(
            self.reseller_id,
            client_id=self.clients[client % len(self.clients)],
            description="Mensalidade",
            amount_cents=amount,
            due_date=DUE_ON,
            reference_month=f"{DUE_ON.month:02d}",
            reference_year=str(DUE_ON.year),
            issue_date=ISSUED_ON,
        )
        self.invoices[recorded.aggregate.id] = ModelInvoice(amount)
        self._settle(recorded.position)

    @precondition(lambda self: self._with({"processing"}))
    @rule(data=st.data(), refuse=st.booleans())
    def register(self, data: st.DataObject, refuse: bool) -> None:
        invoice_id = data.draw(st.sampled_from(self._with({"processing"})))
        if refuse:
            recorded = self.ledger.record_registration_failure(invoice_id, "recusada")
            self.invoices[invoice_id].status = "failed"
        else:
            recorded = self.ledger.record_registration(invoice_id, CHARGE)
            self.invoices[invoice_id].status = "awaiting_payment"
        self._settle(recorded.position)

    def _pay(self, invoice_id: UUID, event_id: str) -> None:
        model = self.invoices[invoice_id]
        result = self.ledger.record_payment(
            provider="sandbox",
            provider_event_id=event_id,
            invoice_id=invoice_id,
            amount_cents=model.amount_cents,
            paid_at=PAID_AT,
            method="pix",
        )
        if event_id in model.payment_events:
            assert result.result is NotificationResult.DUPLICATE
        elif model.status in {"paid", "refunded"}:  # a duplicate payment: credit
            assert result.result is NotificationResult.APPLIED
            model.credit_cents += model.amount_cents
        else:  # every payment is recorded; this one pays the whole amount
            assert result.result is NotificationResult.APPLIED
            model.status, model.paid_cents = "paid", model.amount_cents
        model.payment_events.append(event_id)
        self._settle(result.position)

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        invoice_id = data.draw(st.sampled_from(list(self.invoices)))
        self._pay(invoice_id, f"evt_{uuid4().hex}")

    @precondition(lambda self: any(m.payment_events for m in self.invoices.values()))
    @rule(data=st.data())
    def duplicate_pay(self, data: st.DataObject) -> None:
        paid = [i for i, m in self.invoices.items() if m.payment_events]
        invoice_id = data.draw(st.sampled_from(paid))
        self._pay(invoice_id, self.invoices[invoice_id].payment_events[0])

    @precondition(lambda self: self._with({"awaiting_payment"}))
    @rule(data=st.data())
    def overdue(self, data: st.DataObject) -> None:
        invoice_id = data.draw(st.sampled_from(self._with({"awaiting_payment"})))
        recorded = self.ledger.mark_overdue(invoice_id, DUE_ON + timedelta(days=1))
        self.invoices[invoice_id].status = "overdue"
        self._settle(recorded.position)

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        invoice_id = data.draw(st.sampled_from(list(self.invoices)))
        model = self.invoices[invoice_id]
        try:
            recorded = self.ledger.cancel_invoice(self.reseller_id, invoice_id, "x")
        except ConflictError:
            assert model.status not in CANCELLABLE
            return
        assert model.status in CANCELLABLE
        model.status = "cancelled"
        self._settle(recorded.position)

    @precondition(lambda self: self._with({"cancelled"}))
    @rule(data=st.data())
    def late_pay(self, data: st.DataObject) -> None:
        invoice_id = data.draw(st.sampled_from(self._with({"cancelled"})))
        self._pay(invoice_id, f"evt_{uuid4().hex}")

    @precondition(lambda self: self._with({"paid"}))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        invoice_id = data.draw(st.sampled_from(self._with({"paid"})))
        result = self.ledger.record_refund(
            provider="sandbox",
            provider_event_id=f"evt_{uuid4().hex}",
            invoice_id=invoice_id,
            amount_cents=None,
            refunded_at=PAID_AT,
        )
        assert result.result is NotificationResult.APPLIED
        self.invoices[invoice_id].status = "refunded"
        self._settle(result.position)

    @invariant()
    def the_views_add_up_to_the_model(self) -> None:
        if not hasattr(self, "reseller_id"):
            return
        caught_up = self.views.wait_for(self.position, 20)
        assert caught_up, (
            f"views at {self.views.watcher.positions}, want {self.position}"
        )
        totals = self.views.receivables.query(self.reseller_id, ISSUED_ON).totals
        models = self.invoices.values()
        assert totals["count"] == len(self.invoices)
        assert totals["amount_open"] == sum(
            m.amount_cents for m in models if m.status in OPEN
        )
        assert totals["amount_paid"] == sum(m.paid_cents for m in models)
        codes = [
            row["code"]
            for row in self.views.invoices.query(self.reseller_id, limit=200).items
        ]
        assert sorted(codes) == list(range(1, len(self.invoices) + 1))
        open_amount = sum(
            c["open_amount_cents"]
            for c in self.views.customers.query(self.reseller_id, limit=200).items
        )
        assert open_amount == sum(m.amount_cents for m in models if m.status in OPEN)
        credit_rows = self.views.credits.query(self.reseller_id, limit=200).items
        assert sum(c["amount_cents"] for c in credit_rows) == sum(
            m.credit_cents for m in models
        )


@pytest.fixture
def machine(ledger: Ledger, read_models: ReadModels) -> Any:
    LedgerMachine.ledger = ledger
    LedgerMachine.views = read_models
    return LedgerMachine


def test_the_application_agrees_with_a_plain_model(machine: Any) -> None:
    runner = machine.TestCase()
    runner.settings = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    runner.runTest()
