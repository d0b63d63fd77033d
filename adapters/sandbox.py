"""The sandbox payment partner: a real adapter that behaves like one.

It keeps its charges in its own PostgreSQL tables, registers each invoice once
(idempotent by invoice id) with a valid FEBRABAN boleto and a valid Pix BR Code built
by the domain codecs, refuses what a partner would refuse, can cancel a charge, and
simulates a client paying by queueing a signed webhook in a durable outbox that a
delivery worker sends over HTTP, retried with backoff until acknowledged. When the
webhook comes back, it checks the ``Ledger-Signature`` and translates the payload
into a ``PartnerEvent``, as the adapter of a real partner does.

Business times (an event's ``created_at``, a payment's default ``paid_at``) come
from the injected clock, the ledger's; signature timestamps stay on real time.
Operators can inject transient failures (``sandbox_faults``) to exercise retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import httpx
from psycopg_pool import ConnectionPool
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from application.gateway import (
    ChargeRefusedError,
    ChargeRequest,
    GatewayUnavailableError,
    PartnerEvent,
    PartnerEventKind,
    WebhookMalformedError,
    WebhookUnauthenticatedError,
)
from domain.boleto import FIRST_FACTOR_DATE, Boleto
from domain.errors import ConflictError, InvalidInputError
from domain.invoices import Charge
from domain.money import format_amount, parse_amount
from domain.periods import check_date_range
from domain.pix import PixCode
from domain.text import has_control_characters

log = logging.getLogger(__name__)

BANK_CODE = "001"
AGREEMENT = 1234567
"""The sandbox's fictitious 7-digit agreement (convênio) at its bank."""
WALLET = 17
MIN_BOLETO_CENTS = 500
SIGNATURE_HEADER = "Ledger-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
DELIVERY_TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 60.0
LEASE_SECONDS = 30
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Ledger-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within the tolerance."""
    if not header:
        return False
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    # A Unix time has ten digits until the year 2286: anything longer is refused
    # before ``int()`` (thousands of digits would raise, or cost a CPU).
    if _TIMESTAMP.fullmatch(timestamp) is None or not signature:
        return False
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = sign(secret, int(timestamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), signature.encode())


class NoChargeError(ConflictError):
    """The invoice has no registered charge to pay."""


def _cents(value: object) -> int:
    if isinstance(value, float):  # a JSON number: read by its decimal text
        value = Decimal(repr(value))
    try:
        return parse_amount(value)
    except InvalidInputError as error:
        raise ValueError(error.message) from None


def _plain(value: str) -> str:
    if has_control_characters(value):
        msg = "must not contain control characters"
        raise ValueError(msg)
    return value


def _in_range(value: datetime) -> datetime:
    try:
        check_date_range(value, "timestamp")
    except InvalidInputError as error:
        raise ValueError(error.message) from None
    return value


Amount = Annotated[int, BeforeValidator(_cents)]
"""Decimal text (or a JSON number) of BRL, read as centavos."""
Identifier = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_plain)]
"""An id of the partner's: the ledger records it, so it must be storable text."""
Timestamp = Annotated[datetime, AfterValidator(_in_range)]


class WebhookData(BaseModel):
    """What a sandbox event says about a charge."""

    model_config = ConfigDict(extra="ignore")

    charge_id: Identifier | None = None
    invoice_id: UUID | None = None
    amount: Amount | None = None
    paid_at: Timestamp | None = None
    method: Literal["boleto", "pix"] | None = None


class WebhookEvent(BaseModel):
    """A sandbox event, as the outbox delivers it."""

    model_config = ConfigDict(extra="ignore")

    id: Identifier
    type: Literal["payment.received", "payment.overdue", "payment.refunded"]
    created_at: Timestamp
    data: WebhookData


KINDS = {
    "payment.received": PartnerEventKind.PAYMENT,
    "payment.refunded": PartnerEventKind.REFUND,
    "payment.overdue": PartnerEventKind.OVERDUE,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def read_event(body: bytes) -> PartnerEvent:
    """Translate a sandbox webhook body, or raise ``WebhookMalformedError``."""
    try:
        event = WebhookEvent.model_validate_json(body)
    except ValidationError as error:
        errors = [
            {"loc": ["body", *map(str, issue["loc"])], "msg": issue["msg"]}
            for issue in error.errors()
        ]
        raise WebhookMalformedError("the webhook body is malformed", errors) from None
    data = event.data
    if event.type == "payment.received" and (
        data.amount is None or data.method is None
    ):
        raise WebhookMalformedError(
            "payment.received needs data.amount and data.method",
            [{"loc": ["body", "data"], "msg": "amount and method required"}],
        )
    return PartnerEvent(
        event_id=event.id,
        kind=KINDS[event.type],
        type=event.type,
        occurred_at=event.created_at,
        invoice_id=data.invoice_id,
        charge_id=data.charge_id,
        amount_cents=data.amount,
        paid_at=data.paid_at,
        method=data.method,
    )


@dataclass
class SandboxGateway:
    """The sandbox partner, on its own tables in the ledger's database."""

    pool: ConnectionPool[Any]
    webhook_secret: str = field(repr=False)
    clock: Callable[[], datetime] = _utc_now
    """Business time (the ledger's clock), for event and payment times."""
    name: str = "sandbox"
    city: str = "SAO PAULO"
    minimum_amount_cents: int = MIN_BOLETO_CENTS

    def read_webhook(
        self, headers: Mapping[str, str], body: bytes, now: float
    ) -> PartnerEvent:
        """Check the ``Ledger-Signature`` at ``now`` (Unix time), then translate."""
        signature = _header(headers, SIGNATURE_HEADER)
        if not verify(self.webhook_secret, signature, body, now):
            msg = "the webhook signature is missing, wrong or stale"
            raise WebhookUnauthenticatedError(msg)
        return read_event(body)

    def translate_webhook(self, body: bytes) -> PartnerEvent:
        """Translate a body authenticated before (a replay from the log)."""
        return read_event(body)

    def create_tables(self) -> None:
        """Create the sandbox's tables if missing."""
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(7342, 1)")
            conn.execute("CREATE SEQUENCE IF NOT EXISTS sandbox_our_number")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sandbox_charges ("
                " invoice_id uuid PRIMARY KEY, charge_id text UNIQUE NOT NULL,"
                " reseller_id uuid NOT NULL, our_number text NOT NULL,"
                " amount_cents bigint NOT NULL, due_date date NOT NULL,"
                " barcode text NOT NULL, digitable_line text NOT NULL,"
                " pix_emv text NOT NULL, status text NOT NULL,"
                " created_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sandbox_faults ("
                " operation text PRIMARY KEY, remaining integer NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sandbox_outbox ("
                " id bigserial PRIMARY KEY, event_id text UNIQUE NOT NULL,"
                " payload jsonb NOT NULL, attempts integer NOT NULL DEFAULT 0,"
                " next_attempt_at timestamptz NOT NULL DEFAULT now(),"
                " delivered_at timestamptz, last_error text,"
                " created_at timestamptz NOT NULL DEFAULT now())"
            )

    def _injected_failure(self, operation: str) -> None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "UPDATE sandbox_faults SET remaining = remaining - 1 "
                "WHERE operation = %s AND remaining > 0 RETURNING remaining",
                (operation,),
            ).fetchone()
        if row is not None:
            msg = f"sandbox: injected failure of {operation}"
            raise GatewayUnavailableError(msg)

    def register(self, request: ChargeRequest) -> Charge:
        """Register the invoice's charge once; later calls return the same one."""
        self._injected_failure("register")
        if request.amount_cents < MIN_BOLETO_CENTS:
            msg = "valor mínimo para boleto é R$ 5,00"
            raise ChargeRefusedError(msg)
        if request.due_date < FIRST_FACTOR_DATE:
            msg = "data de vencimento inválida para boleto"
            raise ChargeRefusedError(msg)
        with self.pool.connection() as conn:
            existing = self._charge(conn, request.invoice_id)
            if existing is not None:
                return existing
            row = conn.execute("SELECT nextval('sandbox_our_number')").fetchone()
            number = int(row[0]) if row else 0
            our_number = f"{AGREEMENT:07d}{number:010d}"
            free_field = f"000000{our_number}{WALLET:02d}"
            boleto = Boleto.create(
                BANK_CODE, request.due_date, request.amount_cents, free_field
            )
            pix = PixCode(
                key=request.payee_document,
                merchant_name=request.payee_name,
                merchant_city=self.city,
                amount_cents=request.amount_cents,
                txid=f"FAT{request.invoice_id.hex[:22]}",
            ).encode()
            conn.execute(
                "INSERT INTO sandbox_charges (invoice_id, charge_id, reseller_id,"
                " our_number, amount_cents, due_date, barcode, digitable_line,"
                " pix_emv, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " 'registered') ON CONFLICT (invoice_id) DO NOTHING",
                (
                    request.invoice_id,
                    f"sbx_{request.invoice_id.hex[:24]}",
                    request.reseller_id,
                    our_number,
                    request.amount_cents,
                    request.due_date,
                    boleto.barcode,
                    boleto.digitable_line,
                    pix,
                ),
            )
            charge = self._charge(conn, request.invoice_id)
        assert charge is not None  # noqa: S101 - inserted or already there
        return charge

    @staticmethod
    def _charge(conn: Any, invoice_id: UUID) -> Charge | None:  # noqa: ANN401
        row = conn.execute(
            "SELECT charge_id, our_number, barcode, digitable_line, pix_emv "
            "FROM sandbox_charges WHERE invoice_id = %s",
            (invoice_id,),
        ).fetchone()
        if row is None:
            return None
        charge_id, our_number, barcode, line, pix = row
        return Charge(charge_id, BANK_CODE, our_number, barcode, line, pix)

    def cancel(self, invoice_id: UUID) -> None:
        """Mark the charge cancelled; a payment may still arrive, as at a bank."""
        self._injected_failure("cancel")
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE sandbox_charges SET status = 'cancelled' WHERE invoice_id = %s",
                (invoice_id,),
            )

    def invoice_for_charge(self, charge_id: str) -> UUID | None:
        """The invoice of a sandbox charge id."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT invoice_id FROM sandbox_charges WHERE charge_id = %s",
                (charge_id,),
            ).fetchone()
        return None if row is None else UUID(str(row[0]))

    def status_of(self, invoice_id: UUID) -> str | None:
        """The sandbox's status of an invoice's charge."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT status FROM sandbox_charges WHERE invoice_id = %s",
                (invoice_id,),
            ).fetchone()
        return None if row is None else str(row[0])

    def inject_failures(self, operation: str, count: int) -> None:
        """Make the next ``count`` calls of ``operation`` fail (drills, tests)."""
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO sandbox_faults VALUES (%s, %s) ON CONFLICT (operation) "
                "DO UPDATE SET remaining = EXCLUDED.remaining",
                (operation, count),
            )

    def simulate_payment(
        self,
        invoice_id: UUID,
        method: str,
        amount_cents: int | None = None,
        paid_at: datetime | None = None,
        owed: Callable[[datetime], int] | None = None,
    ) -> str:
        """Queue the ``payment.received`` webhook a real partner would send.

        Without ``amount_cents`` the client pays what it ``owed`` on ``paid_at``
        (the ledger knows: balance plus late fees), or the charge's amount when
        nothing is owed any more (a duplicate payment).
        """
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT charge_id, amount_cents FROM sandbox_charges "
                "WHERE invoice_id = %s",
                (invoice_id,),
            ).fetchone()
            if row is None:
                msg = f"invoice {invoice_id} has no charge registered with the sandbox"
                raise NoChargeError(msg)
            charge_id, charge_amount = row
            event_id = f"evt_{uuid4().hex}"
            now = self.clock()
            paid_at = paid_at or now
            if amount_cents is None:
                amount_cents = (owed(paid_at) if owed else 0) or charge_amount
            payload = {
                "id": event_id,
                "type": "payment.received",
                "created_at": now.isoformat(),
                "data": {
                    "charge_id": charge_id,
                    "invoice_id": str(invoice_id),
                    "amount": format_amount(amount_cents),
                    "paid_at": paid_at.isoformat(),
                    "method": method,
                },
            }
            conn.execute(
                "INSERT INTO sandbox_outbox (event_id, payload) VALUES (%s, %s)",
                (event_id, json.dumps(payload)),
            )
            conn.execute(
                "UPDATE sandbox_charges SET status = 'paid' WHERE invoice_id = %s",
                (invoice_id,),
            )
        return event_id


class WebhookDelivery:
    """Delivers the sandbox's outbox over HTTP, signed, until acknowledged.

    Rows are leased (``next_attempt_at`` pushed forward) before the HTTP call, so a
    crash mid-delivery only delays the row; several workers never send one row at
    the same time. A failed attempt backs off exponentially up to a minute.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        url: str,
        secret: str,
        *,
        poll_seconds: float = 0.2,
        base_backoff_seconds: float = 1.0,
    ) -> None:
        self.pool = pool
        self.url = url
        self.secret = secret
        self.poll_seconds = poll_seconds
        self.base_backoff_seconds = base_backoff_seconds
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    def wake(self) -> None:
        """Look at the outbox now (a payment was just queued)."""
        self._wake.set()

    def start(self) -> None:
        """Deliver in a background thread."""
        self._thread = threading.Thread(
            target=self._run, name="webhook-delivery", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current delivery."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=DELIVERY_TIMEOUT_SECONDS + 2)

    def _run(self) -> None:
        with httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS) as client:
            while not self._stopping.is_set():
                try:
                    sent = self.deliver_due(client)
                except Exception:
                    log.warning("webhook delivery failed; retrying", exc_info=True)
                    sent = 0
                if not sent:
                    self._wake.wait(self.poll_seconds)
                    self._wake.clear()

    def _lease(self) -> list[tuple[int, int, dict[str, Any]]]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "UPDATE sandbox_outbox SET next_attempt_at = now() + "
                "make_interval(secs => %s) WHERE id IN (SELECT id FROM sandbox_outbox"
                " WHERE delivered_at IS NULL AND next_attempt_at <= now()"
                " ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED)"
                " RETURNING id, attempts, payload",
                (LEASE_SECONDS,),
            ).fetchall()
        return [(int(r[0]), int(r[1]), dict(r[2])) for r in rows]

    def deliver_due(self, client: httpx.Client) -> int:
        """Send every row that is due; return how many were acknowledged."""
        acknowledged = 0
        for row_id, attempts, payload in self._lease():
            body = json.dumps(payload).encode()
            headers = {
                "content-type": "application/json",
                SIGNATURE_HEADER: sign(self.secret, int(time.time()), body),
            }
            error: str | None = None
            try:
                response = client.post(self.url, content=body, headers=headers)
                if not response.is_success:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"
            self._record(row_id, attempts, error)
            acknowledged += error is None
        return acknowledged

    def _record(self, row_id: int, attempts: int, error: str | None) -> None:
        with self.pool.connection() as conn:
            if error is None:
                conn.execute(
                    "UPDATE sandbox_outbox SET delivered_at = now(),"
                    " attempts = attempts + 1, last_error = NULL WHERE id = %s",
                    (row_id,),
                )
                self.delivered += 1
                return
            backoff = min(MAX_BACKOFF_SECONDS, self.base_backoff_seconds * 2**attempts)
            conn.execute(
                "UPDATE sandbox_outbox SET attempts = attempts + 1, last_error = %s,"
                " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
                (error, backoff, row_id),
            )
        log.info(
            "webhook %s not acknowledged (%s); retry in %.1fs", row_id, error, backoff
        )
