"""Set-aside events: a view or process that cannot apply an event goes on without it."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg_pool import ConnectionPool

from adapters.sandbox import SandboxGateway
from api.bootstrap import reader_of
from application.documents import InvoiceDocument
from application.ledger import Ledger
from application.mail import MailRefusedError
from application.processes import ChargeRegistration, InvoiceMailer
from domain.clients import Client
from domain.invoices import Invoice, InvoiceStatus, NoticeKind
from projections import maintenance, set_aside
from projections.followers import (
    Pacing,
    ProcessFollower,
    ProjectionRunner,
    retry_process,
)
from projections.panel_clients import PanelClients
from projections.read_models import VIEWS
from projections.set_aside import SetAsideEvent
from tests import poison
from tests.builders import a_billable_client, a_client, a_reseller, an_invoice
from tests.integration.test_views import charge_for
from tests.integration.workers import wait_until
from tests.reliability.test_runner_faults import head_of, wait_until_caught_up

FAST = Pacing(check_interval_seconds=0.05, restart_pause_seconds=0.01)


def listed(database_url: str) -> list[SetAsideEvent]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return set_aside.listed(conn)


def set_aside_at(database_url: str) -> dict[int, set[str]]:
    """Which views or processes set aside the event at each position."""
    found: dict[int, set[str]] = {}
    for item in listed(database_url):
        found.setdefault(item.position, set()).add(item.follower)
    return found


def panel_client_ids(database_url: str, reseller_id: UUID) -> set[UUID]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id FROM view_panel_clients.clients WHERE reseller_id = %s",
            (reseller_id,),
        ).fetchall()
    return {row[0] for row in rows}


def assert_verify_clean(database_url: str, ledger: Ledger) -> None:
    for view in VIEWS:
        differences = maintenance.verify(database_url, reader_of(ledger), view)
        assert differences.count == 0, (view.name, differences)


@pytest.fixture
def runner(fresh_ledger: Ledger, fresh_database: str) -> Iterator[ProjectionRunner]:
    started = ProjectionRunner(reader_of(fresh_ledger), fresh_database, pacing=FAST)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_a_nul_in_an_email_is_set_aside_and_every_other_event_applied(
    fresh_ledger: Ledger, fresh_database: str, runner: ProjectionRunner
) -> None:
    poisoned = a_reseller(fresh_ledger).reseller.id
    other = a_reseller(fresh_ledger).reseller.id
    client = a_billable_client(fresh_ledger, poisoned)
    wait_until_caught_up(fresh_database, head_of(fresh_ledger))
    position = poison.nul_email(fresh_ledger, client.id)
    later = a_client(fresh_ledger, poisoned)  # the tenant's later events apply
    others = {a_client(fresh_ledger, other).id for _ in range(3)}
    wait_until_caught_up(fresh_database, head_of(fresh_ledger))
    assert runner.state.alive
    assert set_aside_at(fresh_database) == {
        position: {"panel_clients", "erp_customers", "audit"}
    }
    (item, *_) = listed(fresh_database)
    assert (item.reseller_id, item.aggregate_id) == (poisoned, client.id)
    assert item.attempts == set_aside.VIEW_ATTEMPTS
    assert "NUL" in item.error or "\\u0000" in item.error
    assert panel_client_ids(fresh_database, other) == others
    assert panel_client_ids(fresh_database, poisoned) == {client.id, later.id}
    assert_verify_clean(fresh_database, fresh_ledger)
    # Retrying an event that still fails keeps it, and counts the attempt.
    results = maintenance.retry(fresh_database, reader_of(fresh_ledger))
    assert results["panel_clients"].failed == [position]
    assert {i.attempts for i in listed(fresh_database)} == {set_aside.VIEW_ATTEMPTS + 1}


def test_an_event_no_code_can_decode_is_set_aside_by_every_view_and_process(
    fresh_ledger: Ledger, fresh_database: str, runner: ProjectionRunner
) -> None:
    """A topic this release does not know (a newer release's, or a bad repair)."""
    reseller = a_reseller(fresh_ledger).reseller.id
    wait_until_caught_up(fresh_database, head_of(fresh_ledger))
    (position,) = fresh_ledger.recorder.insert_events(
        [StoredEvent(uuid4(), 1, "revenda.FromTheFuture", b"{}")]
    ) or [0]
    picky = Picky()
    follower = ProcessFollower(
        reader_of(fresh_ledger), fresh_database, picky, pacing=FAST, max_attempts=2
    )
    follower.start()
    try:
        later = a_client(fresh_ledger, reseller)
        wait_until_caught_up(fresh_database, head_of(fresh_ledger))
        wait_until(lambda: later.id in picky.seen, 30, "the process goes on")
    finally:
        follower.stop()
    assert runner.state.alive
    assert panel_client_ids(fresh_database, reseller) == {later.id}
    followers = set_aside_at(fresh_database)[position]
    assert followers == {view.name for view in VIEWS} | {"picky"}
    assert all("revenda.FromTheFuture" in item.error for item in listed(fresh_database))


def test_a_batch_holding_poison_applies_all_its_other_events(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    reseller = a_reseller(fresh_ledger).reseller.id
    clients = [a_billable_client(fresh_ledger, reseller) for _ in range(3)]
    invoice = an_invoice(fresh_ledger, reseller, clients[0].id)
    bad_email = poison.nul_email(fresh_ledger, clients[1].id)
    bad_payment = poison.paid_in_year_one(fresh_ledger, invoice.id, 15000)
    clients += [a_client(fresh_ledger, reseller) for _ in range(3)]
    runner = ProjectionRunner(reader_of(fresh_ledger), fresh_database, pacing=FAST)
    runner.start()  # the whole log is one batch
    try:
        wait_until_caught_up(fresh_database, head_of(fresh_ledger))
    finally:
        runner.stop()
    assert set_aside_at(fresh_database) == {
        bad_email: {"panel_clients", "erp_customers", "audit"},
        bad_payment: {"erp_receivables"},
    }
    assert panel_client_ids(fresh_database, reseller) == {c.id for c in clients}
    assert_verify_clean(fresh_database, fresh_ledger)
    # A rebuild sets the same events aside, and verification stays clean.
    before = {(i.follower, i.position) for i in listed(fresh_database)}
    maintenance.rebuild(fresh_database, reader_of(fresh_ledger), VIEWS)
    assert {(i.follower, i.position) for i in listed(fresh_database)} == before
    assert_verify_clean(fresh_database, fresh_ledger)


def test_retry_applies_an_event_whose_cause_was_fixed(
    fresh_ledger: Ledger,
    fresh_database: str,
    runner: ProjectionRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reseller = a_reseller(fresh_ledger).reseller.id
    handler = PanelClients.handlers[Client.Registered]
    original = getattr(PanelClients, handler.method)

    def broken(self: PanelClients, rows: Any, event: Any, position: int) -> None:
        msg = "a bug in the view"
        raise RuntimeError(msg)

    monkeypatch.setattr(PanelClients, handler.method, broken)
    client = a_client(fresh_ledger, reseller)
    wait_until_caught_up(fresh_database, head_of(fresh_ledger))
    (item,) = listed(fresh_database)
    assert (item.follower, item.error) == (
        "panel_clients",
        "RuntimeError: a bug in the view",
    )
    assert panel_client_ids(fresh_database, reseller) == set()
    monkeypatch.setattr(PanelClients, handler.method, original)  # the fix
    results = maintenance.retry(fresh_database, reader_of(fresh_ledger))
    assert results["panel_clients"].applied == [item.position]
    assert listed(fresh_database) == []
    assert panel_client_ids(fresh_database, reseller) == {client.id}
    assert_verify_clean(fresh_database, fresh_ledger)


def test_an_event_with_later_events_is_left_for_a_rebuild(
    fresh_ledger: Ledger,
    fresh_database: str,
    runner: ProjectionRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reseller = a_reseller(fresh_ledger).reseller.id
    handler = PanelClients.handlers[Client.Registered]
    original = getattr(PanelClients, handler.method)

    def broken(self: PanelClients, rows: Any, event: Any, position: int) -> None:
        msg = "a bug in the view"
        raise RuntimeError(msg)

    monkeypatch.setattr(PanelClients, handler.method, broken)
    client = a_client(fresh_ledger, reseller)
    fresh_ledger.update_client(reseller, client.id, {"name": "Nome Novo"})
    wait_until_caught_up(fresh_database, head_of(fresh_ledger))
    (item,) = listed(fresh_database)
    monkeypatch.setattr(PanelClients, handler.method, original)  # the fix
    results = maintenance.retry(fresh_database, reader_of(fresh_ledger))
    assert results["panel_clients"].superseded == [item.position]
    assert listed(fresh_database) == [item]
    maintenance.rebuild(fresh_database, reader_of(fresh_ledger), [PanelClients])
    assert listed(fresh_database) == []
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT name FROM view_panel_clients.clients WHERE id = %s", (client.id,)
        ).fetchone()
    assert row == ("Nome Novo",)


class Picky:
    """A process that fails on one client's registration until it is fixed."""

    name = "picky"

    def __init__(self) -> None:
        self.poison: UUID | None = None
        self.seen: list[UUID] = []

    def handles(self, event: object) -> bool:
        return isinstance(event, Client.Registered)

    def react(self, event: Any) -> None:
        if event.originator_id == self.poison:
            msg = "cannot handle this client"
            raise ValueError(msg)
        self.seen.append(event.originator_id)


def test_a_process_sets_an_event_aside_after_a_few_failures_and_goes_on(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    reseller = a_reseller(fresh_ledger).reseller.id
    picky = Picky()
    bad = a_client(fresh_ledger, reseller)
    picky.poison = bad.id
    good = a_client(fresh_ledger, reseller)
    follower = ProcessFollower(
        reader_of(fresh_ledger), fresh_database, picky, pacing=FAST, max_attempts=3
    )
    follower.start()
    try:
        wait_until(lambda: good.id in picky.seen, 30, "the later event is handled")
    finally:
        follower.stop()
    assert follower.state.restarts == 2  # two retries, then set aside
    (item,) = listed(fresh_database)
    assert (item.follower, item.aggregate_id, item.attempts) == ("picky", bad.id, 3)
    assert item.error == "ValueError: cannot handle this client"
    still = maintenance_retry_process(fresh_ledger, fresh_database, picky)
    assert still.failed == [item.position]
    picky.poison = None
    fixed = maintenance_retry_process(fresh_ledger, fresh_database, picky)
    assert fixed.applied == [item.position]
    assert picky.seen == [good.id, bad.id]
    assert listed(fresh_database) == []


def maintenance_retry_process(
    ledger: Ledger, database_url: str, reactor: Picky
) -> set_aside.RetryResult:
    return retry_process(reader_of(ledger), database_url, reactor)


def test_set_aside_counts_are_per_view_or_process(fresh_database: str) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        assert set_aside.counts(conn) == {}  # before the table exists
        with conn.transaction(), conn.cursor() as cursor:
            set_aside.create(cursor)
            for follower, position in (("audit", 5), ("audit", 7), ("picky", 5)):
                set_aside.record(
                    cursor,
                    SetAsideEvent(follower, position, None, None, "Error: \x00", 1),
                )
        assert set_aside.counts(conn) == {"audit": 2, "picky": 1}


@pytest.fixture
def pool(fresh_database: str) -> Iterator[ConnectionPool[Any]]:
    opened: ConnectionPool[Any] = ConnectionPool(fresh_database, max_size=4, open=True)
    try:
        yield opened
    finally:
        opened.close()


def test_a_charge_that_cannot_be_encoded_is_a_recorded_refusal(
    fresh_ledger: Ledger, pool: ConnectionPool[Any]
) -> None:
    gateway = SandboxGateway(pool, "w" * 40, clock=fresh_ledger.clock)
    gateway.create_tables()
    registration = ChargeRegistration(fresh_ledger, gateway)
    outcomes: dict[str, Invoice] = {}
    for name in ("東京商事株式会社", "Revenda Exemplo Ltda"):  # no Latin letter, some
        reseller = a_reseller(fresh_ledger, name=name).reseller.id
        client = a_billable_client(fresh_ledger, reseller)
        invoice = an_invoice(fresh_ledger, reseller, client.id)
        registration.react(fresh_ledger.history(invoice.id)[0])  # never raises
        outcomes[name] = fresh_ledger.find_invoice(invoice.id)
    refused = outcomes["東京商事株式会社"]
    assert refused.status is InvoiceStatus.FAILED
    assert refused.failure_reason is not None
    assert refused.failure_reason.startswith("the charge cannot be encoded: ")
    assert isinstance(fresh_ledger.history(refused.id)[-1], Invoice.RegistrationFailed)
    assert outcomes["Revenda Exemplo Ltda"].status is InvoiceStatus.AWAITING_PAYMENT


class CountingRenderer:
    """Renders a trivial document and counts the PDFs made."""

    def __init__(self) -> None:
        self.pdfs = 0

    def html(self, document: InvoiceDocument) -> str:
        return f"<p>{document.code}</p>"

    def pdf(self, document: InvoiceDocument) -> bytes:
        self.pdfs += 1
        return b"%PDF-1.4 " + str(document.code).encode()

    def mail_html(self, document: InvoiceDocument, intro: str) -> str:
        return f"<p>{intro}</p>{self.html(document)}"

    def images(self, document: InvoiceDocument) -> dict[str, bytes]:  # noqa: ARG002 - none
        return {}


class ScriptedSender:
    """Fails as scripted (one outcome per call), then sends."""

    def __init__(self, *outcomes: Exception) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        if self.outcomes:
            raise self.outcomes.pop(0)
        self.sent.append(message)


def registered_invoice(ledger: Ledger) -> Any:
    reseller = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller)
    invoice = an_invoice(ledger, reseller, client.id)
    ledger.record_registration(invoice.id, charge_for(invoice.id))
    return ledger.history(invoice.id)[-1]


def test_a_transient_mail_failure_is_retried_without_rendering_again(
    fresh_ledger: Ledger,
) -> None:
    renderer = CountingRenderer()
    sender = ScriptedSender(smtplib.SMTPServerDisconnected("gone"), TimeoutError())
    mailer = InvoiceMailer(fresh_ledger, renderer, sender, "f@example.com")
    registered = registered_invoice(fresh_ledger)
    for _ in range(2):
        with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError)):
            mailer.react(registered)
    mailer.react(registered)
    mailer.react(registered)  # replayed: recorded as sent, not sent again
    assert (renderer.pdfs, len(sender.sent)) == (1, 1)
    invoice = fresh_ledger.find_invoice(registered.originator_id)
    assert [(n.kind, n.sent_at is not None) for n in invoice.notices] == [
        (NoticeKind.INVOICE, True)
    ]


def test_a_mail_refused_for_good_is_recorded_and_skipped(
    fresh_ledger: Ledger,
) -> None:
    sender = ScriptedSender(MailRefusedError("550 5.1.1 no such user"))
    mailer = InvoiceMailer(fresh_ledger, CountingRenderer(), sender, "f@example.com")
    refused, later = registered_invoice(fresh_ledger), registered_invoice(fresh_ledger)
    mailer.react(refused)  # no raise: nothing to retry
    mailer.react(later)
    mailer.react(refused)  # replayed after a restart: not sent again
    later_invoice = fresh_ledger.find_invoice(later.originator_id)
    subject = (
        f"Fatura {later_invoice.code} de Revenda Exemplo Ltda: R$ 150,00,"
        f" vence em {later_invoice.due_date:%d/%m/%Y}"
    )
    assert [str(m["Subject"]) for m in sender.sent] == [subject]
    (failed,) = fresh_ledger.find_invoice(refused.originator_id).notices
    assert (failed.kind, failed.reason) == (
        NoticeKind.INVOICE,
        "550 5.1.1 no such user",
    )
    assert failed.sent_at is None
    assert failed.failed_at is not None
    assert [n.kind for n in later_invoice.notices] == [NoticeKind.INVOICE]
