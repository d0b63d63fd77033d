"""Receivables as of a past day equal what the live list showed at the end of it.

A ledger with a controlled clock lives through several business days: issues,
partial and full payments, a refusal by the partner and its retry, a refund,
cancellations and overdue items. At the end of each day the live answers (pages
and totals, with several filters) are recorded; afterwards each past day is asked
for with ``as_of`` and must answer exactly the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from api import presenters
from application.ledger import Ledger
from application.passwords import Passwords
from domain.invoices import Charge
from projections.common import SAO_PAULO
from projections.read_models import ReadModels
from tests.builders import a_cpf, a_reseller, an_active_contract, today


class Clock:
    """The business clock of the ledger under test, moved by hand."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> datetime:
        return datetime.combine(self.day, time(12, 0), SAO_PAULO)


@pytest.fixture
def clock() -> Clock:
    return Clock(today())


@pytest.fixture
def timed_ledger(
    ledger_env: dict[str, str], clock: Clock, read_models: ReadModels
) -> Iterator[Ledger]:
    """A second ledger on the session database (the session views follow it)."""
    del read_models  # started first: its runner follows what this ledger records
    app = Ledger(ledger_env, clock=clock, passwords=Passwords.fast_for_tests())
    try:
        yield app
    finally:
        app.close()


FILTERS: list[dict[str, Any]] = [
    {},
    {"situation": "open"},
    {"situation": "settled"},
    {"overdue": True},
    {"overdue": False},
    {"customer": "Bruna"},
]


def snapshot(
    views: ReadModels, reseller_id: UUID, day: date, as_of: date | None
) -> list[Any]:
    """Every filter's pages (two items each) and totals, in their public shape."""
    answers: list[Any] = []
    for filters in FILTERS:
        cursor: str | None = None
        while True:
            page = views.receivables.query(
                reseller_id, day, limit=2, cursor=cursor, as_of=as_of, **filters
            )
            answers.append(
                (
                    filters,
                    [presenters.receivable_row(r).model_dump() for r in page.items],
                    page.totals,
                    page.next_cursor,
                )
            )
            cursor = page.next_cursor
            if cursor is None:
                break
    return answers


class Books:
    """A tenant living through business days, its live answers kept each night."""

    def __init__(self, ledger: Ledger, views: ReadModels, clock: Clock) -> None:
        self.ledger = ledger
        self.views = views
        self.clock = clock
        self.reseller_id = a_reseller(ledger).reseller.id
        self.clients: dict[str, UUID] = {}
        for name in ("Ana Lima", "Bruna Reis"):
            client = ledger.register_client(
                self.reseller_id, name=name, document=a_cpf(), email="c@example.com"
            ).aggregate
            an_active_contract(ledger, self.reseller_id, client.id)
            self.clients[name] = client.id
        self.live: dict[date, list[Any]] = {}

    def issue(
        self, name: str, amount_cents: int, due_in: int, *, register: bool = True
    ) -> UUID:
        day = self.clock.day
        invoice = self.ledger.issue_invoice(
            self.reseller_id,
            client_id=self.clients[name],
            description=f"Mensalidade {amount_cents}",
            amount_cents=amount_cents,
            due_date=day + timedelta(days=due_in),
            reference_month=f"{day.month:02d}",
            reference_year=str(day.year),
        ).aggregate
        if register:
            self.register(invoice.id)
        return invoice.id

    def register(self, invoice_id: UUID) -> None:
        charge = Charge(f"ch_{invoice_id.hex[:8]}", "001", "1", "0" * 44, "0", "x")
        self.ledger.record_registration(invoice_id, charge)

    def pay(self, invoice_id: UUID, amount_cents: int) -> None:
        self.ledger.record_payment(
            provider="sandbox",
            provider_event_id=f"evt_{uuid4().hex}",
            invoice_id=invoice_id,
            amount_cents=amount_cents,
            paid_at=self.clock(),
            method="pix",
        )

    def refund(self, invoice_id: UUID) -> None:
        self.ledger.record_refund(
            provider="sandbox",
            provider_event_id=f"evt_{uuid4().hex}",
            invoice_id=invoice_id,
            amount_cents=None,
            refunded_at=self.clock(),
        )

    def cancel(self, invoice_id: UUID) -> None:
        self.ledger.cancel_invoice(self.reseller_id, invoice_id, "desistiu")

    def end_of_day(self) -> None:
        """Keep what the live list shows now, then move the clock to tomorrow."""
        head = self.ledger.recorder.max_notification_id() or 0
        assert self.views.wait_for(head, 10), "views did not catch up"
        day = self.clock.day
        self.live[day] = snapshot(self.views, self.reseller_id, day, None)
        self.clock.day += timedelta(days=1)

    def as_of(self, day: date) -> list[Any]:
        return snapshot(self.views, self.reseller_id, self.clock.day, day)


def test_each_past_day_answers_what_the_live_list_showed_at_its_end(
    timed_ledger: Ledger, read_models: ReadModels, clock: Clock
) -> None:
    books = Books(timed_ledger, read_models, clock)
    start = clock.day
    a = books.issue("Ana Lima", 10000, due_in=2)
    b = books.issue("Bruna Reis", 5000, due_in=1)
    c = books.issue("Ana Lima", 8000, due_in=5)
    books.issue("Bruna Reis", 3000, due_in=3, register=False)  # stays processing
    books.end_of_day()  # day 0: four open items, one still processing

    books.pay(a, 4000)  # partly paid
    books.pay(b, 5000)  # settled
    # The partner refuses a charge the moment it is registered, the day it is
    # issued: a refusal carries no business date of its own.
    f = books.issue("Bruna Reis", 2000, due_in=3, register=False)
    timed_ledger.record_registration_failure(f, "recusada pelo parceiro")
    books.end_of_day()  # day 1

    books.refund(b)
    books.cancel(c)
    timed_ledger.retry_invoice(books.reseller_id, f)
    e = books.issue("Bruna Reis", 2500, due_in=0)
    books.end_of_day()  # day 2

    books.register(f)
    timed_ledger.mark_overdue(a, clock.day)
    timed_ledger.mark_overdue(e, clock.day)
    books.pay(e, 1000)  # an overdue item partly paid
    books.end_of_day()  # day 3: a and e overdue

    books.pay(a, 6000)  # a settled at last
    books.cancel(e)
    books.issue("Ana Lima", 1500, due_in=10)
    books.end_of_day()  # day 4

    books.end_of_day()  # day 5: nothing happened

    assert len(books.live) == 6
    assert books.live[start] != books.live[start + timedelta(days=4)]
    for day, answers in books.live.items():
        asked = books.as_of(day)
        assert len(asked) == len(answers), f"as_of={day}: not as many pages"
        for got, shown in zip(asked, answers, strict=True):
            assert got == shown, f"as_of={day} differs from the live list that day"
    before = books.as_of(start - timedelta(days=1))
    assert all(not items and totals["count"] == 0 for _, items, totals, _ in before)
