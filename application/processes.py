"""Processes: what the ledger does on its own when some events happen.

Each process follows the log with its own tracking (see ``projections.followers``) and
makes only idempotent calls to the outside world, so that a restart, which replays
the event after the last one tracked, repeats nothing harmful.

* ``ChargeRegistration``: on ``Invoice.Issued``, register the charge with the partner
  (the invoice id is the idempotency key) and record ``Registered`` or
  ``RegistrationFailed`` (also when the charge cannot be encoded: a refusal, not a
  retry); an invoice due before today is then marked overdue. On
  ``Invoice.Cancelled``, cancel the partner's charge.
* ``InvoiceMailer``: e-mail the client each notice of an invoice once (the invoice
  when registered, a claimed reminder, the overdue notice, the receipt); a message
  refused for good is recorded and skipped.
* ``notice_sweep``: claim the reminders due today (the reseller's
  ``reminder_days_before_due``) and the overdue notices of invoices paid in part,
  for the mailer to send.
* ``overdue_sweep``: mark overdue every invoice still awaiting a payment that was due
  before today.
* ``DailyJob`` / ``run_daily``: the day's work (automatic billing, the overdue sweep,
  dunning, and whatever else is daily) as a list of named jobs run for one São
  Paulo date by the service's sweep and by ``ledger tick``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

from application.actors import Actor, acting_as, acting_for_itself
from application.documents import DocumentRenderer, invoice_document
from application.gateway import ChargeRefusedError, ChargeRequest, PaymentGateway
from application.ledger import Ledger
from application.mail import MailRefusedError, MailSender, build_message
from application.notices import notice_mail
from domain.errors import DomainError, InvalidTransitionError
from domain.invoices import (
    MAX_REASON_LENGTH,
    UNPAID,
    Invoice,
    InvoiceStatus,
    NoticeKind,
)

log = logging.getLogger(__name__)


class ChargeRegistration:
    """Registers issued invoices with the partner; cancels cancelled ones."""

    name = "charge_registration"

    def __init__(self, ledger: Ledger, gateway: PaymentGateway) -> None:
        self.ledger = ledger
        self.gateway = gateway

    def handles(self, event: object) -> bool:
        """Only issued (or retried) and cancelled invoices concern this process."""
        # A retried invoice is processing again: it is registered as if just issued.
        return isinstance(
            event, Invoice.Issued | Invoice.RegistrationRetried | Invoice.Cancelled
        )

    @acting_for_itself
    def react(self, event: Any) -> None:  # noqa: ANN401 - a handled event
        """Register or cancel; a partner outage raises and is retried later."""
        if isinstance(event, Invoice.Cancelled):
            self.gateway.cancel(event.originator_id)
            return
        invoice = self.ledger.find_invoice(event.originator_id)
        if invoice.status is not InvoiceStatus.PROCESSING:
            return  # registered before a restart, or cancelled before registration
        reseller = self.ledger.get_reseller(invoice.reseller_id)
        client = self.ledger.get_client(invoice.reseller_id, invoice.client_id)
        request = ChargeRequest(
            invoice_id=invoice.id,
            reseller_id=invoice.reseller_id,
            code=invoice.code,
            amount_cents=invoice.amount_cents,
            due_date=invoice.due_date,
            description=invoice.description,
            payee_name=reseller.name,
            payee_document=reseller.document,
            payer_name=client.name,
            payer_document=client.document,
            payer_email=client.email,
            fine_percent=invoice.fine_percent,
            interest_monthly_percent=invoice.interest_monthly_percent,
        )
        try:
            charge = self.gateway.register(request)
        except ChargeRefusedError as refusal:
            self._refused(invoice.id, refusal.reason)
            return
        except (DomainError, ValueError) as error:
            # The charge cannot be encoded (a Pix field with nothing left once
            # transliterated, say): trying again would fail the same way forever.
            self._refused(invoice.id, _reason(f"the charge cannot be encoded: {error}"))
            return
        self._record(
            lambda: self.ledger.record_registration(invoice.id, charge, loaded=invoice)
        )
        today = self.ledger.today()
        if invoice.due_date < today:  # else marking it would load it for nothing
            self.ledger.mark_overdue(invoice.id, today)

    def _refused(self, invoice_id: UUID, reason: str) -> None:
        self._record(
            lambda: self.ledger.record_registration_failure(invoice_id, reason)
        )

    @staticmethod
    def _record(command: Callable[[], object]) -> None:
        try:
            command()
        except InvalidTransitionError:
            log.info("registration outcome already recorded or overtaken")


def _reason(text: str) -> str:
    """``text`` as a recordable reason: printable, and not too long."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    return printable[:MAX_REASON_LENGTH]


class InvoiceMailer:
    """E-mails the client each notice of an invoice, once.

    The invoice when registered, the reminder when claimed (``notice_sweep``),
    the overdue notice when it became overdue, the receipt when paid.

    Each outcome is an event on the invoice (``NoticeSent``, ``NoticeFailed``), so a
    replay after a restart finds it and sends nothing; a crash between sending and
    recording would send that one message again (at least once, never lost). A
    message refused for good (an SMTP 5xx) is recorded with the reason and never
    sent again; the next messages go on. A transient failure is retried with the
    message already rendered (kept in memory, by invoice and kind). A notice that
    no longer applies when its turn comes (a reminder for an invoice paid since)
    is not sent.
    """

    name = "invoice_mailer"
    MAX_PENDING = 100
    """Rendered messages kept for a retry; beyond, the oldest is rendered again."""

    def __init__(
        self,
        ledger: Ledger,
        renderer: DocumentRenderer,
        sender: MailSender,
        mail_from: str,
    ) -> None:
        self.ledger = ledger
        self.renderer = renderer
        self.sender = sender
        self.mail_from = mail_from
        self._pending: dict[tuple[UUID, NoticeKind], EmailMessage] = {}

    def handles(self, event: object) -> bool:
        """Registrations, claimed reminders, overdue invoices and payments."""
        return isinstance(
            event,
            Invoice.Registered
            | Invoice.NoticeRequested
            | Invoice.BecameOverdue
            | Invoice.PaymentReceived
            | Invoice.Paid,
        )

    @staticmethod
    def kind_of(event: object) -> NoticeKind:
        """The notice an event calls for."""
        if isinstance(event, Invoice.NoticeRequested):
            return NoticeKind(event.kind)
        if isinstance(event, Invoice.BecameOverdue):
            return NoticeKind.OVERDUE
        if isinstance(event, Invoice.PaymentReceived | Invoice.Paid):
            return NoticeKind.RECEIPT
        return NoticeKind.INVOICE

    @acting_for_itself
    def react(self, event: Any) -> None:  # noqa: ANN401 - a handled event
        """Send the notice unless done or moot; transient errors are retried."""
        kind = self.kind_of(event)
        invoice = self.ledger.find_invoice(event.originator_id)
        if invoice.notice_done(kind) or not applies(kind, invoice):
            return
        key = (invoice.id, kind)
        message = self._pending.get(key) or self._render(invoice, kind)
        try:
            self.sender.send(message)
        except MailRefusedError as refusal:
            self._pending.pop(key, None)
            log.warning(
                "%s of invoice %s refused: %s", kind, invoice.id, refusal.reason
            )
            self.ledger.record_notice_failed(invoice.id, kind, refusal.reason)
            return
        except Exception:
            self._keep(key, message)
            raise
        self._pending.pop(key, None)
        self.ledger.record_notice_sent(invoice.id, kind)

    def _render(self, invoice: Invoice, kind: NoticeKind) -> EmailMessage:
        document = invoice_document(self.ledger, invoice)
        return build_message(
            notice_mail(kind, document, self.renderer),
            mail_from=self.mail_from,
            sender_name=document.reseller_name,
            reply_to=document.reseller_email or None,
            to=document.client_email,
            sent_at=datetime.now(UTC),  # the real time: the mail's Date header
        )

    def _keep(self, key: tuple[UUID, NoticeKind], message: EmailMessage) -> None:
        self._pending[key] = message
        while len(self._pending) > self.MAX_PENDING:
            del self._pending[next(iter(self._pending))]


def applies(kind: NoticeKind, invoice: Invoice) -> bool:
    """Whether the notice still says something true when its turn comes."""
    if invoice.charge is None:
        return False  # nothing to pay with (never registered)
    if kind is NoticeKind.RECEIPT:
        return invoice.status is InvoiceStatus.PAID
    if kind is NoticeKind.INVOICE:
        return invoice.status is not InvoiceStatus.CANCELLED
    return invoice.status in UNPAID


def overdue_sweep(
    ledger: Ledger,
    candidates: Callable[[date], Iterable[UUID]],
    today: date | None = None,
) -> int:
    """Mark every invoice past due as of ``today``; return how many changed."""
    day = today or ledger.today()
    marked = 0
    for invoice_id in candidates(day):
        recorded = ledger.mark_overdue(invoice_id, day)
        marked += recorded.position is not None
    return marked


def notice_sweep(
    ledger: Ledger,
    candidates: Callable[[date], Iterable[tuple[UUID, UUID, date]]],
    today: date | None = None,
) -> int:
    """Claim the notices due as of ``today`` for the mailer; return how many.

    A reminder is due once the reseller's ``reminder_days_before_due`` is reached;
    the overdue notice of an invoice paid in part once its due date has passed (one
    awaiting payment gets it when it becomes overdue). ``candidates`` gives
    ``(invoice id, reseller id, due date)`` of unpaid invoices that may need one.
    """
    day = today or ledger.today()
    days_of: dict[UUID, int | None] = {}
    claimed = 0
    for invoice_id, reseller_id, due_date in candidates(day):
        if due_date < day:
            recorded = ledger.request_overdue_notice(invoice_id, day)
            claimed += recorded.position is not None
            continue
        if reseller_id not in days_of:
            reseller = ledger.get_reseller(reseller_id)
            days_of[reseller_id] = reseller.reminder_days_before_due
        days = days_of[reseller_id]
        if days is None or (due_date - day).days > days:
            continue
        recorded = ledger.request_reminder(invoice_id, day, days)
        claimed += recorded.position is not None
    return claimed


@dataclass(frozen=True, slots=True)
class DailyJob:
    """One piece of the day's work: run for a São Paulo date, safe to repeat.

    The service runs every job on each sweep (every ``overdue_sweep_seconds``) and
    ``ledger tick`` once, so a job must do nothing the second time on the same day
    (an automatic run has a deterministic id; a suspension is recorded once).
    """

    name: str
    run: Callable[[date], object]


def run_daily(jobs: Sequence[DailyJob], today: date) -> dict[str, object]:
    """Run every job for ``today``, in order; one job's failure stops no other.

    Returns each job's result (``None`` for one that failed, which is logged).
    """
    results: dict[str, object] = {}
    for job in jobs:
        try:
            results[job.name] = job.run(today)
        except Exception:
            log.exception("daily job %s failed for %s", job.name, today)
            results[job.name] = None
    return results


class Periodic:
    """Runs a task every ``interval_seconds`` in a thread, surviving its errors."""

    def __init__(
        self, name: str, interval_seconds: float, task: Callable[[], object]
    ) -> None:
        self.name = name
        self.interval_seconds = interval_seconds
        self.task = task
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current run."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_seconds):
            try:
                with acting_as(Actor.system(self.name)):
                    self.task()
            except Exception:
                log.warning(
                    "%s failed; it runs again next time", self.name, exc_info=True
                )
