"""Outbound webhooks against a real HTTP receiver that fails, hangs and recovers.

The follower and the dispatcher run as the service runs them, on a database of
their own, with short timeouts and backoff so that retries take a fraction of a
second.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import ConnectionPool

from adapters.outbound import Dispatcher, DispatchSettings, OutboundStore
from adapters.sandbox import SIGNATURE_HEADER, verify
from api.bootstrap import reader_of
from api.presenters import PublicResources
from application.ledger import Ledger
from application.outbound import OutboundEvents
from domain.invoices import Charge, Invoice
from projections.followers import Pacing
from projections.outbox import OutboxFollower, retry_queuer
from tests.builders import a_billable_client, a_reseller
from tests.receiver import Receiver, running_receiver

FAST = DispatchSettings(
    timeout_seconds=0.5,
    base_backoff_seconds=0.1,
    max_backoff_seconds=0.4,
    give_up_seconds=3600,
    concurrency=4,
    poll_seconds=0.05,
)
QUICK_PACING = Pacing(check_interval_seconds=0.2, restart_pause_seconds=0.05)


@dataclass
class Outbound:
    """The ledger, the store, and the running follower and dispatcher."""

    ledger: Ledger
    store: OutboundStore
    pool: ConnectionPool[Any]
    database: str
    follower: OutboxFollower
    dispatcher: Dispatcher
    settings: DispatchSettings

    def start_dispatcher(self, settings: DispatchSettings | None = None) -> None:
        self.dispatcher = Dispatcher(self.pool, settings or self.settings)
        self.follower.on_queued = self.dispatcher.wake
        self.dispatcher.start()

    def endpoint(
        self, reseller_id: UUID, url: str, events: list[str]
    ) -> tuple[UUID, str]:
        head = self.ledger.recorder.max_notification_id() or 0
        endpoint, secret = self.store.create_endpoint(reseller_id, url, events, head)
        return endpoint.id, secret

    def statuses(self, endpoint_id: UUID) -> list[str]:
        rows = self.store.deliveries(endpoint_id, 100)
        return [row["status"] for row in reversed(rows)]


@pytest.fixture
def outbound(fresh_ledger: Ledger, fresh_database: str) -> Iterator[Outbound]:
    pool: ConnectionPool[Any] = ConnectionPool(
        fresh_database, min_size=1, max_size=10, open=True
    )
    store = OutboundStore(pool)
    store.create_tables()
    events = OutboundEvents(fresh_ledger, store, PublicResources(fresh_ledger))
    dispatcher = Dispatcher(pool, FAST)
    follower = OutboxFollower(
        reader_of(fresh_ledger),
        fresh_database,
        events,
        on_queued=dispatcher.wake,
        pacing=QUICK_PACING,
    )
    parts = Outbound(
        fresh_ledger, store, pool, fresh_database, follower, dispatcher, FAST
    )
    dispatcher.start()
    follower.start()
    try:
        yield parts
    finally:
        parts.follower.stop()
        parts.dispatcher.stop()
        pool.close()


def charge(invoice_id: UUID) -> Charge:
    return Charge(f"ch_{invoice_id.hex[:8]}", "001", "1", "0" * 44, "0" * 47, "x")


def issue(ledger: Ledger, reseller_id: UUID, client_id: UUID) -> UUID:
    today = ledger.today()
    return ledger.issue_invoice(
        reseller_id,
        client_id=client_id,
        description="Mensalidade",
        amount_cents=10000,
        due_date=today + timedelta(days=10),
        reference_month=f"{today.month:02d}",
        reference_year=str(today.year),
    ).aggregate.id


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition on the database, polling."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def waited(receiver: Receiver, condition: Callable[[], bool], timeout: float) -> None:
    assert receiver.wait(condition, timeout), "the receiver did not get it in time"


def test_deliveries_arrive_signed_in_log_order_after_retries_with_backoff(
    outbound: Outbound,
) -> None:
    ledger = outbound.ledger
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    with running_receiver() as receiver:
        url = receiver.behave("/hook", fail=3)  # three 500s, then it recovers
        endpoint_id, secret = outbound.endpoint(
            reseller_id,
            url,
            ["invoice.issued", "invoice.registered", "invoice.cancelled"],
        )
        invoice_id = issue(ledger, reseller_id, client.id)
        ledger.record_registration(invoice_id, charge(invoice_id))
        cancelled = ledger.cancel_invoice(reseller_id, invoice_id, "desistiu")
        waited(receiver, lambda: len(receiver.at("/hook")) == 3, 10)

    delivered = receiver.at("/hook")
    bodies = [r.json for r in delivered]
    assert [b["type"] for b in bodies] == [
        "invoice.issued",
        "invoice.registered",
        "invoice.cancelled",
    ]
    positions = [b["position"] for b in bodies]
    assert positions == sorted(positions)
    assert positions[-1] == cancelled.position
    assert [b["data"]["status"] for b in bodies] == [
        "processing",
        "awaiting_payment",
        "cancelled",
    ]
    assert {b["data"]["id"] for b in bodies} == {str(invoice_id)}
    assert bodies[1]["data"]["boleto"]["bank_code"] == "001"
    assert len({b["id"] for b in bodies}) == 3
    for request in delivered:
        signature = request.headers[SIGNATURE_HEADER.lower()]
        assert verify(secret, signature, request.body, time.time())
        assert not verify("whsec_other", signature, request.body, time.time())

    # The first event was tried four times, each wait about twice the one before;
    # the later events waited for it (order), never overtook it.
    tries = receiver.at("/hook", delivered=False)
    first = [r for r in tries if r.json["type"] == "invoice.issued"]
    assert [r.answered for r in first] == [500, 500, 500, 200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(first)]
    assert gaps[0] >= FAST.base_backoff_seconds * 0.9
    assert gaps[1] >= FAST.base_backoff_seconds * 2 * 0.9
    assert all(r.at >= first[-1].at for r in tries if r not in first)
    # The dispatcher records the answer just after the receiver has it.
    eventually(lambda: outbound.statuses(endpoint_id) == ["delivered"] * 3)
    (issued,) = [
        row
        for row in outbound.store.deliveries(endpoint_id, 10)
        if row["type"] == "invoice.issued"
    ]
    assert (issued["attempts"], issued["last_status_code"]) == (4, 200)
    assert issued["next_attempt_at"] is None


def test_a_dead_endpoint_holds_up_neither_another_endpoint_nor_the_ledger(
    outbound: Outbound,
) -> None:
    timeout = 2.0
    outbound.dispatcher.stop()
    outbound.start_dispatcher(
        DispatchSettings(timeout_seconds=timeout, concurrency=4, poll_seconds=0.05)
    )
    ledger = outbound.ledger
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    events = ["invoice.issued", "invoice.registered"]
    with running_receiver() as receiver:
        dead = receiver.behave("/dead", hang=timeout + 1)  # never answers in time
        dead_id, _ = outbound.endpoint(reseller_id, dead, events)
        issue(ledger, reseller_id, client.id)
        waited(receiver, lambda: len(receiver.arrivals) == 1, 5)
        hung_at = receiver.arrivals[0][1]  # the dead endpoint holds a request now
        outbound.endpoint(reseller_id, receiver.behave("/live"), events)
        started = time.monotonic()
        invoices = []
        for _ in range(3):
            invoice_id = issue(ledger, reseller_id, client.id)
            ledger.record_registration(invoice_id, charge(invoice_id))
            invoices.append(invoice_id)
        recording = time.monotonic() - started
        waited(receiver, lambda: len(receiver.at("/live")) == 6, 5)
        last_live = receiver.at("/live")[-1].at
        statuses = outbound.statuses(dead_id)

    # All six reached the live endpoint while the dead one still held its first
    # request: sent one at a time, they would have waited for its timeout.
    assert last_live < hung_at + timeout, last_live - hung_at
    assert recording < timeout  # the ledger only recorded; nothing waited on HTTP
    assert [r.json["data"]["id"] for r in receiver.at("/live")][::2] == [
        str(i) for i in invoices
    ]
    assert statuses == ["pending"] * 7
    assert [path for path, _ in receiver.arrivals].count("/dead") == 1


def test_a_delivery_retried_past_the_window_is_failing_and_the_next_goes_on(
    outbound: Outbound,
) -> None:
    outbound.dispatcher.stop()
    outbound.start_dispatcher(
        DispatchSettings(
            timeout_seconds=0.5,
            base_backoff_seconds=0.05,
            max_backoff_seconds=0.1,
            give_up_seconds=0.3,
            poll_seconds=0.05,
        )
    )
    ledger = outbound.ledger
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    with running_receiver() as receiver:
        url = receiver.behave("/hook", fail=1000)
        endpoint_id, _ = outbound.endpoint(
            reseller_id, url, ["invoice.issued", "invoice.cancelled"]
        )
        invoice_id = issue(ledger, reseller_id, client.id)
        waited(receiver, lambda: len(receiver.at("/hook", delivered=False)) >= 2, 5)
        ledger.cancel_invoice(reseller_id, invoice_id, "desistiu")
        eventually(lambda: outbound.statuses(endpoint_id)[:1] == ["failing"])
        receiver.behave("/hook")  # recovers, too late for the first
        waited(receiver, lambda: len(receiver.at("/hook")) == 1, 5)

    assert receiver.at("/hook")[0].json["type"] == "invoice.cancelled"
    eventually(lambda: outbound.statuses(endpoint_id) == ["failing", "delivered"])
    failing = outbound.store.deliveries(endpoint_id, 10)[-1]
    assert failing["last_status_code"] == 500
    assert failing["attempts"] >= 2
    assert failing["next_attempt_at"] is None


def test_restarted_dispatcher_and_follower_deliver_each_event_once(
    outbound: Outbound,
) -> None:
    ledger = outbound.ledger
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    other_reseller = a_reseller(ledger).reseller.id
    with running_receiver() as receiver:
        url = receiver.behave("/hook")
        endpoint_id, _ = outbound.endpoint(
            reseller_id, url, ["invoice.issued", "contract.changed"]
        )
        outbound.endpoint(other_reseller, receiver.behave("/other"), ["invoice.issued"])
        issue(ledger, reseller_id, client.id)
        waited(receiver, lambda: len(receiver.at("/hook")) == 1, 5)

        outbound.dispatcher.stop()
        outbound.follower.stop()
        for _ in range(3):
            issue(ledger, reseller_id, client.id)
        outbound.follower = OutboxFollower(
            reader_of(ledger),
            outbound.database,
            outbound.follower.queuer,
            pacing=QUICK_PACING,
        )
        outbound.follower.start()
        outbound.start_dispatcher()
        another = a_billable_client(ledger, reseller_id)  # contract.changed x2
        waited(receiver, lambda: len(receiver.at("/hook")) == 6, 10)
        eventually(lambda: outbound.statuses(endpoint_id) == ["delivered"] * 6)

    bodies = [r.json for r in receiver.at("/hook", delivered=False)]
    assert len(bodies) == 6, [(b["type"], b["position"]) for b in bodies]
    assert len({b["id"] for b in bodies}) == 6  # each event exactly once
    assert [b["type"] for b in bodies] == ["invoice.issued"] * 4 + [
        "contract.changed"
    ] * 2
    assert [b["data"]["status"] for b in bodies[-2:]] == ["trial", "active"]
    assert {b["data"]["client_id"] for b in bodies[-2:]} == {str(another.id)}
    assert receiver.at("/other", delivered=False) == []  # another tenant's events


class Flaky(PublicResources):
    """The public shapes, except that one invoice cannot be shown (until healed)."""

    def __init__(self, ledger: Ledger, broken: set[UUID]) -> None:
        super().__init__(ledger)
        self.broken = broken

    def invoice(self, aggregate: Invoice) -> dict[str, Any]:
        if aggregate.id in self.broken:
            msg = "this invoice cannot be shown"
            raise ValueError(msg)
        return super().invoice(aggregate)


def test_an_event_that_cannot_be_queued_is_set_aside_and_retried_later(
    outbound: Outbound,
) -> None:
    ledger = outbound.ledger
    outbound.follower.stop()
    broken: set[UUID] = set()
    queuer = OutboundEvents(ledger, outbound.store, Flaky(ledger, broken))
    outbound.follower = OutboxFollower(
        reader_of(ledger),
        outbound.database,
        queuer,
        on_queued=outbound.dispatcher.wake,
        pacing=Pacing(check_interval_seconds=0.1, restart_pause_seconds=0.01),
        max_attempts=2,
    )
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    with running_receiver() as receiver:
        url = receiver.behave("/hook")
        outbound.endpoint(reseller_id, url, ["invoice.issued"])
        poison = issue(ledger, reseller_id, client.id)
        broken.add(poison)
        after = issue(ledger, reseller_id, client.id)
        outbound.follower.start()
        waited(receiver, lambda: len(receiver.at("/hook")) == 1, 10)
        assert receiver.at("/hook")[0].json["data"]["id"] == str(after)

        broken.clear()  # the cause is fixed: `ledger projections retry`
        result = retry_queuer(reader_of(ledger), outbound.database, queuer)
        assert (len(result.applied), result.failed) == (1, [])
        outbound.dispatcher.wake()
        waited(receiver, lambda: len(receiver.at("/hook")) == 2, 10)

    assert receiver.at("/hook")[1].json["data"]["id"] == str(poison)
    again = retry_queuer(reader_of(ledger), outbound.database, queuer)
    assert (again.applied, again.failed) == ([], [])
