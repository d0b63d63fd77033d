"""Processes: what the ledger does on its own when some events happen.

Each process follows the log with its own tracking (see ``projections.followers``) and
makes only idempotent calls to the outside world, so that a restart, which replays
the event after the last one tracked, repeats nothing harmful.

* ``ChargeRegistration``: on ``Invoice.Issued``, register the charge with the partner
  (the invoice id is the idempotency key) and record ``Registered`` or
  ``RegistrationFailed``; an invoice due before today is then marked overdue. On
  ``Invoice.Cancelled``, cancel the partner's charge.
* ``InvoiceMailer``: on ``Invoice.Registered``, e-mail the client the invoice.
* ``overdue_sweep``: mark overdue every invoice still awaiting a payment that was due
  before today.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from application.documents import DocumentRenderer, invoice_document
from application.gateway import ChargeRefusedError, ChargeRequest, PaymentGateway
from application.ledger import Ledger
from application.mail import MailSender, invoice_message
from domain.errors import InvalidTransitionError
from domain.invoices import Invoice, InvoiceStatus

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
        )
        try:
            charge = self.gateway.register(request)
        except ChargeRefusedError as refusal:
            reason = refusal.reason
            self._record(
                lambda: self.ledger.record_registration_failure(invoice.id, reason)
            )
            return
        self._record(lambda: self.ledger.record_registration(invoice.id, charge))
        self.ledger.mark_overdue(invoice.id, self.ledger.today())

    @staticmethod
    def _record(command: Callable[[], object]) -> None:
        try:
            command()
        except InvalidTransitionError:
            log.info("registration outcome already recorded or overtaken")


class InvoiceMailer:
    """E-mails each registered invoice to its client, once: HTML body, PDF attached.

    A sent invoice is remembered in ``mail_sent``; a crash between sending and
    remembering would send that one message again (at least once, never lost).
    """

    name = "invoice_mailer"

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
        with pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS mail_sent (invoice_id uuid PRIMARY KEY,"
                " recipient text NOT NULL, sent_at timestamptz NOT NULL DEFAULT now())"
            )

    def handles(self, event: object) -> bool:
        """Only registrations are mailed."""
        return isinstance(event, Invoice.Registered)

    def react(self, event: Any) -> None:  # noqa: ANN401 - a handled event
        """Send the invoice unless it was sent already; SMTP errors are retried."""
        invoice_id: UUID = event.originator_id
        with self.pool.connection() as conn:
            sent = conn.execute(
                "SELECT 1 FROM mail_sent WHERE invoice_id = %s", (invoice_id,)
            ).fetchone()
        if sent is not None:
            return
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
        self.sender.send(message)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO mail_sent (invoice_id, recipient) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (invoice_id, document.client_email),
            )


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
