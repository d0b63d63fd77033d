"""Processes: what the ledger does on its own when some events happen.

Each process follows the log with its own tracking (see ``projections.followers``) and
makes only idempotent calls to the outside world, so that a restart, which replays
the event after the last one tracked, repeats nothing harmful.

* ``ChargeRegistration``: on ``Invoice.Issued``, register the charge with the partner
  (the invoice id is the idempotency key) and record ``Registered`` or
  ``RegistrationFailed`` (also when the charge cannot be encoded: a refusal, not a
  retry); an invoice due before today is then marked overdue. On
  ``Invoice.Cancelled``, cancel the partner's charge.
* ``InvoiceMailer``: on ``Invoice.Registered``, e-mail the client the invoice; a
  message refused for good is recorded and skipped.
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
from datetime import date
from email.message import EmailMessage
from typing import Any, LiteralString
from uuid import UUID

from psycopg_pool import ConnectionPool

from application.documents import DocumentRenderer, invoice_document
from application.gateway import ChargeRefusedError, ChargeRequest, PaymentGateway
from application.ledger import Ledger
from application.mail import MailRefusedError, MailSender, invoice_message
from domain.errors import DomainError, InvalidTransitionError
from domain.invoices import MAX_REASON_LENGTH, Invoice, InvoiceStatus

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
        self._record(lambda: self.ledger.record_registration(invoice.id, charge))
        self.ledger.mark_overdue(invoice.id, self.ledger.today())

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
    """E-mails each registered invoice to its client, once: HTML body, PDF attached.

    A sent invoice is remembered in ``mail_sent``; a crash between sending and
    remembering would send that one message again (at least once, never lost). A
    message refused for good (an SMTP 5xx) is remembered in ``mail_failed`` with the
    reason and never sent again; the next messages go on. A transient failure is
    retried with the message already rendered (kept in memory, by invoice).
    """

    name = "invoice_mailer"
    MAX_PENDING = 100
    """Rendered messages kept for a retry; beyond, the oldest is rendered again."""

    def __init__(
        self,
        ledger: Ledger,
        renderer: DocumentRenderer,
        sender: MailSender,
        pool: ConnectionPool[Any],
        mail_from: str,
    ) -> None:
        self.ledger = ledger
        self.renderer = renderer
        self.sender = sender
        self.pool = pool
        self.mail_from = mail_from
        self._pending: dict[UUID, tuple[str, EmailMessage]] = {}
        with pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS mail_sent (invoice_id uuid PRIMARY KEY,"
                " recipient text NOT NULL, sent_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS mail_failed (invoice_id uuid PRIMARY KEY,"
                " recipient text NOT NULL, reason text NOT NULL,"
                " failed_at timestamptz NOT NULL DEFAULT now())"
            )

    def handles(self, event: object) -> bool:
        """Only registrations are mailed."""
        return isinstance(event, Invoice.Registered)

    def react(self, event: Any) -> None:  # noqa: ANN401 - a handled event
        """Send the invoice unless done already; transient errors are retried."""
        invoice_id: UUID = event.originator_id
        with self.pool.connection() as conn:
            done = conn.execute(
                "SELECT 1 FROM mail_sent WHERE invoice_id = %s UNION ALL "
                "SELECT 1 FROM mail_failed WHERE invoice_id = %s",
                (invoice_id, invoice_id),
            ).fetchone()
        if done is not None:
            return
        recipient, message = self._pending.get(invoice_id) or self._render(invoice_id)
        try:
            self.sender.send(message)
        except MailRefusedError as refusal:
            self._pending.pop(invoice_id, None)
            log.warning("mail of invoice %s refused: %s", invoice_id, refusal.reason)
            self._remember(
                "INSERT INTO mail_failed (invoice_id, recipient, reason)"
                " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (invoice_id, recipient, refusal.reason),
            )
            return
        except Exception:
            self._keep(invoice_id, recipient, message)
            raise
        self._pending.pop(invoice_id, None)
        self._remember(
            "INSERT INTO mail_sent (invoice_id, recipient) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (invoice_id, recipient),
        )

    def _render(self, invoice_id: UUID) -> tuple[str, EmailMessage]:
        invoice = self.ledger.find_invoice(invoice_id)
        document = invoice_document(self.ledger, invoice)
        message = invoice_message(
            sender=self.mail_from,
            to=document.client_email,
            subject=f"Fatura {document.code} de {document.reseller_name}",
            html=self.renderer.html(document),
            pdf=self.renderer.pdf(document),
            filename=f"fatura-{document.code}.pdf",
        )
        return document.client_email, message

    def _keep(self, invoice_id: UUID, recipient: str, message: EmailMessage) -> None:
        self._pending[invoice_id] = (recipient, message)
        while len(self._pending) > self.MAX_PENDING:
            del self._pending[next(iter(self._pending))]

    def _remember(self, statement: LiteralString, params: tuple[object, ...]) -> None:
        # PostgreSQL text refuses NUL, which a hostile address may hold.
        cleaned = tuple(
            p.replace("\x00", "\\x00") if isinstance(p, str) else p for p in params
        )
        with self.pool.connection() as conn:
            conn.execute(statement, cleaned)


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
                self.task()
            except Exception:
                log.warning(
                    "%s failed; it runs again next time", self.name, exc_info=True
                )
