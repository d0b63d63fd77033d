"""No centavo appears or disappears: random payments against every view's totals.

Each example is a new tenant with a few invoices (late fees on: 2 % fine, 1 % a
month), then a random sequence of payments under, exactly at and over what is owed,
on time and late, redelivered event ids, cancellations, partner refunds and refunds
of credits. After every sequence: the money the partner said it received equals
principal + fees + credits, per invoice and for the tenant, and every view agrees.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from application.ledger import Ledger, NotificationResult
from domain.errors import ConflictError
from domain.invoices import Charge, Invoice
from projections.read_models import ReadModels
from tests.builders import a_billable_client, a_reseller

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
CHARGE = Charge("ch", "001", "1", "0" * 44, "0" * 47, "000201")
INVOICES = 3
AMOUNTS = (500, 8990, 10000)

STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "under",
                "exact",
                "over",
                "duplicate",
                "late_under",
                "late_exact",
                "late_over",
                "cancel",
                "refund",
                "refund_credit",
            ]
        ),
        st.integers(min_value=0, max_value=INVOICES - 1),
        st.integers(min_value=1, max_value=20000),
    ),
    min_size=1,
    max_size=10,
)


@dataclass
class Books:
    """One tenant's invoices and what the test itself saw the partner pay."""

    ledger: Ledger
    reseller_id: UUID
    invoices: list[UUID]
    received: dict[UUID, int] = field(default_factory=dict)
    last_event: dict[UUID, str] = field(default_factory=dict)

    @classmethod
    def open(cls, ledger: Ledger) -> Books:
        reseller_id = a_reseller(ledger).reseller.id
        client = a_billable_client(ledger, reseller_id)
        today = ledger.today()
        invoices = []
        for index, amount in enumerate(AMOUNTS):
            invoice = ledger.issue_invoice(
                reseller_id,
                client_id=client.id,
                description="Mensalidade",
                amount_cents=amount,
                issue_date=today - timedelta(days=30),
                due_date=today - timedelta(days=20),
                reference_month="01",
                reference_year="2030",
                fine_percent="2.00",
                interest_monthly_percent="1.00",
            ).aggregate
            if index == INVOICES - 1:  # the partner refused this one
                ledger.record_registration_failure(invoice.id, "recusada")
            else:
                ledger.record_registration(invoice.id, CHARGE)
            invoices.append(invoice.id)
        return cls(ledger, reseller_id, invoices)

    def invoice(self, invoice_id: UUID) -> Invoice:
        return self.ledger.get_invoice(self.reseller_id, invoice_id)

    def pay(self, invoice_id: UUID, amount: int, paid_at: datetime, event: str) -> None:
        recorded = self.ledger.record_payment(
            provider="sandbox",
            provider_event_id=event,
            invoice_id=invoice_id,
            amount_cents=amount,
            paid_at=paid_at,
            method="pix",
        )
        if recorded.result is NotificationResult.APPLIED:
            self.received[invoice_id] = self.received.get(invoice_id, 0) + amount
        else:
            assert recorded.result is NotificationResult.DUPLICATE
        self.last_event[invoice_id] = event

    def run(self, step: str, index: int, extra: int, credit_ids: list[UUID]) -> None:
        invoice_id = self.invoices[index]
        invoice = self.invoice(invoice_id)
        late = step.startswith("late_")
        on_due_date = datetime.combine(invoice.due_date, time(12), SAO_PAULO)
        paid_at = self.ledger.clock() if late else on_due_date
        owed = invoice.owed_cents(paid_at)
        match step.removeprefix("late_"):
            case "under":
                self.pay(invoice_id, max(1, min(extra, owed - 1)), paid_at, _event())
            case "exact":
                self.pay(invoice_id, owed or extra, paid_at, _event())
            case "over":
                self.pay(invoice_id, owed + extra, paid_at, _event())
            case "duplicate":  # the partner delivers the same event again
                event = self.last_event.get(invoice_id, _event())
                self.pay(invoice_id, extra, paid_at, event)
            case "cancel":
                with contextlib.suppress(ConflictError):
                    self.ledger.cancel_invoice(self.reseller_id, invoice_id, "motivo")
            case "refund":
                self.ledger.record_refund(
                    provider="sandbox",
                    provider_event_id=_event(),
                    invoice_id=invoice_id,
                    amount_cents=None,
                    refunded_at=self.ledger.clock(),
                )
            case "refund_credit":
                if credit_ids:
                    credit_id = credit_ids[extra % len(credit_ids)]
                    with contextlib.suppress(ConflictError):
                        self.ledger.refund_credit(self.reseller_id, credit_id, "Pix")


def _event() -> str:
    return f"evt_{uuid4().hex}"


def _all_pages(query: Any, **filters: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = query(limit=2, cursor=cursor, **filters)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def check(books: Books, views: ReadModels) -> None:
    assert views.wait_for(books.ledger.recorder.max_notification_id() or 0, 10)
    tenant = books.reseller_id
    invoices = [books.invoice(invoice_id) for invoice_id in books.invoices]
    credit_rows = _all_pages(lambda **f: views.credits.query(tenant, **f))
    for invoice in invoices:
        payments = invoice.payments
        received = books.received.get(invoice.id, 0)
        assert sum(p.amount_cents for p in payments) == received
        parts = [p.principal_cents + p.fees_cents + p.credit_cents for p in payments]
        assert parts == [p.amount_cents for p in payments]
        assert invoice.amount_paid_cents == sum(
            p.principal_cents + p.fees_cents for p in payments
        )
        assert invoice.principal_paid_cents <= invoice.amount_cents
        credited = sum(
            c["amount_cents"] for c in credit_rows if c["invoice_id"] == invoice.id
        )
        assert credited == sum(p.credit_cents for p in payments)
        row = views.invoices.get(tenant, invoice.id)
        assert row is not None
        assert (
            row["status"],
            row["principal_paid_cents"],
            row["amount_fees_cents"],
        ) == (
            invoice.status,
            invoice.principal_paid_cents,
            invoice.amount_fees_cents,
        )
    paid = sum(invoice.amount_paid_cents for invoice in invoices)
    credit_total = sum(c["amount_cents"] for c in credit_rows)
    assert sum(books.received.values()) == paid + credit_total
    balances = sum(invoice.balance_cents for invoice in invoices)
    today = books.ledger.today()
    totals = views.receivables.query(tenant, today).totals
    assert (totals["amount_paid"], totals["amount_open"]) == (paid, balances)
    customers = _all_pages(lambda **f: views.customers.query(tenant, **f))
    assert sum(c["open_amount_cents"] for c in customers) == balances
    available = sum(
        c["amount_cents"] for c in credit_rows if c["status"] == "available"
    )
    assert sum(c["credit_amount_cents"] for c in customers) == available
    aging = views.receivables.aging(tenant, today)
    assert sum(row["total"] for row in aging) == balances


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
@example(  # every kind of step at least once, whatever the random draw
    steps=[
        ("late_over", 0, 50),
        ("duplicate", 0, 70),
        ("refund", 0, 1),
        ("over", 0, 100),
        ("under", 1, 3000),
        ("cancel", 1, 1),
        ("late_exact", 1, 1),
        ("exact", 2, 1),
        ("late_under", 2, 100),
        ("refund_credit", 0, 1),
    ]
)
def test_money_received_is_principal_plus_fees_plus_credits_in_every_view(
    ledger: Ledger, read_models: ReadModels, steps: list[tuple[str, int, int]]
) -> None:
    books = Books.open(ledger)
    for step, index, extra in steps:
        credit_ids: list[UUID] = []
        if step == "refund_credit":
            assert read_models.wait_for(ledger.recorder.max_notification_id() or 0, 10)
            page = read_models.credits.query(books.reseller_id, limit=200)
            credit_ids = [c["id"] for c in page.items]
        books.run(step, index, extra, credit_ids)
    check(books, read_models)
