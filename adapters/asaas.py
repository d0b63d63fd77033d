"""The Asaas payment partner (API v3), behind the ``PaymentGateway`` port.

Registering an invoice: find the customer by CPF/CNPJ (or create it), create a
``BOLETO`` payment (Asaas adds Pix to it) whose ``externalReference`` is our invoice
id, then read its linha digitável (``identificationField``) and its Pix payload
(``pixQrCode``). Every call is safe to repeat: a payment is first looked up by its
``externalReference``, so a retry after a timeout (the payment may have been created)
finds it instead of creating a second one. Transient failures (connection errors,
timeouts, 429, 5xx) are retried with exponential backoff up to a cap, then reported
as ``GatewayUnavailableError`` (the registration process tries again later); any
other 4xx is Asaas refusing, a ``ChargeRefusedError`` with its own description.

Webhooks carry the static token configured in Asaas in the ``asaas-access-token``
header (compared in constant time). Asaas delivers at least once, so the ledger
deduplicates by the event ``id``; the payment events are keyed by the Asaas payment
instead, because ``PAYMENT_CONFIRMED`` then ``PAYMENT_RECEIVED`` report one payment.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from uuid import UUID

import httpx
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
from domain.boleto import barcode_to_line, format_line, line_to_barcode
from domain.errors import InvalidInputError
from domain.invoices import SAO_PAULO, Charge
from domain.money import format_amount, parse_amount
from domain.periods import check_date_range
from domain.text import has_control_characters

log = logging.getLogger(__name__)
T = TypeVar("T")

SANDBOX_URL = "https://api-sandbox.asaas.com/v3"
PRODUCTION_URL = "https://api.asaas.com/v3"
TOKEN_HEADER = "asaas-access-token"  # noqa: S105 - a header name, not a secret
MIN_BOLETO_CENTS = 500
"""Asaas's smallest boleto (R$ 5,00)."""
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ATTEMPTS = 4
BASE_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
TOO_MANY_REQUESTS = 429
NOT_FOUND = 404
MAX_REASON_CHARS = 400

PAYMENT_EVENTS = frozenset(
    {"PAYMENT_CONFIRMED", "PAYMENT_RECEIVED", "PAYMENT_RECEIVED_IN_CASH"}
)
KINDS: dict[str, PartnerEventKind] = {
    "PAYMENT_CONFIRMED": PartnerEventKind.PAYMENT,
    "PAYMENT_RECEIVED": PartnerEventKind.PAYMENT,
    "PAYMENT_RECEIVED_IN_CASH": PartnerEventKind.PAYMENT,
    "PAYMENT_OVERDUE": PartnerEventKind.OVERDUE,
    "PAYMENT_REFUNDED": PartnerEventKind.REFUND,
    "PAYMENT_DELETED": PartnerEventKind.CANCELLED,
    "PAYMENT_RECEIVED_IN_CASH_UNDONE": PartnerEventKind.PAYMENT_UNDONE,
}
"""What each Asaas event means for the ledger; every other one is ``OTHER``."""


class _Transient(Exception):  # noqa: N818 - internal signal, never escapes
    """A failure worth retrying."""


def _cents(value: object) -> int:
    try:
        return parse_amount(value)
    except InvalidInputError as error:
        raise ValueError(error.message) from None


def _plain(value: str) -> str:
    if has_control_characters(value):
        msg = "must not contain control characters"
        raise ValueError(msg)
    return value


def _in_range(value: date) -> date:
    try:
        check_date_range(value, "date")
    except InvalidInputError as error:
        raise ValueError(error.message) from None
    return value


def _timestamp(value: str) -> str:
    # "2024-06-12 16:45:03", São Paulo time; far years are refused like any date.
    try:
        _in_range(datetime.fromisoformat(value).date())
    except ValueError as error:
        msg = f"must be a date and time between 2000 and 2099 ({error})"
        raise ValueError(msg) from None
    return value


Amount = Annotated[int, BeforeValidator(_cents)]
Day = Annotated[date, AfterValidator(_in_range)]
Identifier = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_plain)]


class AsaasPayment(BaseModel):
    """The payment object of a webhook (the fields the ledger reads)."""

    model_config = ConfigDict(extra="ignore")

    id: Identifier
    value: Amount | None = None
    billingType: str | None = None  # noqa: N815 - Asaas's name
    externalReference: str | None = None  # noqa: N815
    paymentDate: Day | None = None  # noqa: N815
    clientPaymentDate: Day | None = None  # noqa: N815
    confirmedDate: Day | None = None  # noqa: N815


class AsaasEvent(BaseModel):
    """A webhook delivery: ``{id, event, dateCreated, payment}``."""

    model_config = ConfigDict(extra="ignore")

    id: Identifier
    event: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_plain)]
    dateCreated: (  # noqa: N815
        Annotated[str, Field(max_length=40), AfterValidator(_timestamp)] | None
    ) = None
    payment: AsaasPayment | None = None


def amount_number(cents: int) -> float:
    """An amount as the JSON number Asaas reads (BRL with two places).

    ``float`` only at this boundary: amounts have at most 11 significant digits,
    which a double and its shortest ``repr`` carry exactly (``123.45`` stays
    ``123.45`` in the JSON text).
    """
    return float(format_amount(cents))


def percent_number(percent: Decimal) -> float:
    """A percentage (two places at most) as a JSON number."""
    return float(percent)


def _occurred_at(text: str | None, fallback: datetime) -> datetime:
    # Asaas writes "2024-06-12 16:45:03", local time of São Paulo (validated).
    if not text:
        return fallback
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=SAO_PAULO)


def _paid_at(payment: AsaasPayment, occurred_at: datetime) -> datetime:
    """When the client paid, on the payment's date (São Paulo).

    At the event's time when that is the same day, else at noon: Asaas gives
    only the date.
    """
    day = payment.clientPaymentDate or payment.paymentDate or payment.confirmedDate
    if day is None or day == occurred_at.astimezone(SAO_PAULO).date():
        return occurred_at
    return datetime.combine(day, clock_time(12), tzinfo=SAO_PAULO)


def _invoice_id(reference: str | None) -> UUID | None:
    if not reference:
        return None
    try:
        return UUID(reference)
    except ValueError:
        return None  # a charge created outside the ledger


def _method(billing_type: str | None) -> str:
    # The ledger creates BOLETO charges, which the client may pay by Pix (Asaas then
    # reports PIX); a cash receipt keeps the charge's BOLETO.
    return "pix" if billing_type == "PIX" else "boleto"


def read_event(body: bytes, now: datetime) -> PartnerEvent:
    """Translate an Asaas webhook body, or raise ``WebhookMalformedError``."""
    try:
        raw = json.loads(body, parse_float=Decimal)
        event = AsaasEvent.model_validate(raw)
    except (ValueError, ValidationError) as error:
        errors = (
            [
                {"loc": ["body", *map(str, issue["loc"])], "msg": issue["msg"]}
                for issue in error.errors()
            ]
            if isinstance(error, ValidationError)
            else [{"loc": ["body"], "msg": "not JSON"}]
        )
        raise WebhookMalformedError("the webhook body is malformed", errors) from None
    kind = KINDS.get(event.event, PartnerEventKind.OTHER)
    occurred_at = _occurred_at(event.dateCreated, now)
    payment = event.payment
    invoice_id = _invoice_id(payment.externalReference) if payment else None
    if kind is PartnerEventKind.OTHER or payment is None or invoice_id is None:
        # Asaas pauses the whole queue after 15 failed deliveries: a charge made
        # outside the ledger (no invoice id as its reference) is acknowledged.
        return PartnerEvent(
            event_id=event.id,
            kind=PartnerEventKind.OTHER,
            type=event.event,
            occurred_at=occurred_at,
        )
    ledger_key: str | None = None
    if kind is PartnerEventKind.PAYMENT:
        if payment.value is None:
            raise WebhookMalformedError(
                f"{event.event} needs payment.value",
                [{"loc": ["body", "payment", "value"], "msg": "required"}],
            )
        if event.event != "PAYMENT_RECEIVED_IN_CASH":
            # Confirmed then received is one payment: keyed by the Asaas payment.
            # (A cash receipt keeps its event id: undone, it may be received again.)
            ledger_key = f"{payment.id}:paid"
    return PartnerEvent(
        event_id=event.id,
        kind=kind,
        type=event.event,
        occurred_at=occurred_at,
        invoice_id=invoice_id,
        charge_id=payment.id,
        # ``value`` is what the client paid, interest and fine included: the ledger
        # splits it (principal, fees, credit) as "Money received" says.
        amount_cents=payment.value if kind is PartnerEventKind.PAYMENT else None,
        paid_at=_paid_at(payment, occurred_at)
        if kind is PartnerEventKind.PAYMENT
        else None,
        method=_method(payment.billingType)
        if kind is PartnerEventKind.PAYMENT
        else None,
        ledger_key=ledger_key,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _reason(response: httpx.Response) -> str:
    """Asaas's own description of a refusal (``{"errors": [{code, description}]}``)."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(str(e.get("description") or e.get("code")) for e in errors)
    except (ValueError, AttributeError):
        text = ""
    text = text or f"HTTP {response.status_code}"
    printable = "".join(c if c.isprintable() else " " for c in text)
    return f"Asaas recusou a cobrança: {printable}"[:MAX_REASON_CHARS]


def _sao_paulo_now() -> datetime:
    return datetime.now(SAO_PAULO)


@dataclass
class AsaasGateway:
    """Asaas's REST API v3 and its webhooks."""

    api_key: str = field(repr=False)
    webhook_token: str = field(repr=False)
    base_url: str = SANDBOX_URL
    name: str = "asaas"
    minimum_amount_cents: int = MIN_BOLETO_CENTS
    max_attempts: int = MAX_ATTEMPTS
    base_backoff_seconds: float = BASE_BACKOFF_SECONDS
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS
    timeout: httpx.Timeout = field(default_factory=lambda: TIMEOUT)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = _sao_paulo_now
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    # -- the HTTP client -----------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """One pooled client per gateway, created on first use."""
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url.rstrip("/"),
                timeout=self.timeout,
                headers={
                    "access_token": self.api_key,
                    "user-agent": "revenda-ledger",
                    "accept": "application/json",
                },
            )
        return self._client

    def close(self) -> None:
        """Release the HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _retrying(self, step: Callable[[], T], what: str) -> T:
        """Run ``step`` again while it fails transiently, with capped backoff.

        A step that creates something starts with a lookup, so that running it
        again after a timeout (the creation may have happened) finds it.
        Raises ``GatewayUnavailableError`` once the attempts are spent.
        """
        last = ""
        for attempt in range(self.max_attempts):
            if attempt:
                delay = min(
                    self.max_backoff_seconds,
                    self.base_backoff_seconds * 2 ** (attempt - 1),
                )
                # Jitter: clients retrying together do not hit Asaas together.
                self.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - not crypto
            try:
                return step()
            except _Transient as failure:
                last = str(failure)
                log.info("asaas %s failed (%s), attempt %s", what, last, attempt + 1)
        msg = f"Asaas indisponível ({what}): {last}"
        raise GatewayUnavailableError(msg)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        allow_not_found: bool = False,
    ) -> dict[str, Any] | None:
        """A call safe to repeat (GET, DELETE), retried while it fails transiently.

        Returns the JSON body, or ``None`` for a 404 when ``allow_not_found``.
        Raises ``ChargeRefusedError`` on any other 4xx.
        """
        return self._retrying(
            lambda: self._once(method, path, params, None, allow_not_found),
            f"{method} {path}",
        )

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        allow_not_found: bool,  # noqa: FBT001 - internal
    ) -> dict[str, Any] | None:
        try:
            response = self.client.request(method, path, params=params, json=body)
        except httpx.TransportError as error:  # connection refused, reset, timeout
            raise _Transient(f"{type(error).__name__}: {error}") from None
        status = response.status_code
        if status == TOO_MANY_REQUESTS or status >= 500:  # noqa: PLR2004
            raise _Transient(f"HTTP {status}")
        if status == NOT_FOUND and allow_not_found:
            return None
        if status >= 400:  # noqa: PLR2004
            raise ChargeRefusedError(_reason(response))
        try:
            data = response.json()
        except ValueError:
            raise _Transient(f"HTTP {status} without JSON") from None
        if not isinstance(data, dict):
            raise _Transient(f"HTTP {status} with unexpected JSON")
        return data

    def _get(self, path: str, **params: str) -> dict[str, Any]:
        data = self._call("GET", path, params=params or None)
        assert data is not None  # noqa: S101 - only allow_not_found yields None
        return data

    def _get_once(self, path: str, **params: str) -> dict[str, Any]:
        data = self._once("GET", path, params, None, allow_not_found=False)
        assert data is not None  # noqa: S101 - only allow_not_found yields None
        return data

    def _post_once(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        data = self._once("POST", path, None, body, allow_not_found=False)
        assert data is not None  # noqa: S101 - only allow_not_found yields None
        return data

    # -- the port ------------------------------------------------------------------

    def register(self, request: ChargeRequest) -> Charge:
        """Create (or find) the invoice's payment and read its boleto and Pix."""
        if request.amount_cents < MIN_BOLETO_CENTS:
            msg = "valor mínimo para boleto é R$ 5,00"
            raise ChargeRefusedError(msg)
        payment = self._retrying(
            lambda: (
                self._payment_of(request.invoice_id, once=True)
                or self._create_payment(request, self._customer(request))
            ),
            "register",
        )
        payment_id = str(payment["id"])
        line = self._get(f"/payments/{payment_id}/identificationField")
        pix = self._get(f"/payments/{payment_id}/pixQrCode")
        barcode = str(line.get("barCode") or "")
        digitable = str(line.get("identificationField") or "")
        try:
            matches = line_to_barcode(digitable) == barcode
        except InvalidInputError:
            matches = False
        if not matches:
            # A charge the ledger cannot print: retried (Asaas may answer it right).
            msg = "Asaas devolveu uma linha digitável que não confere com o código"
            raise GatewayUnavailableError(msg)
        # Kept as the sandbox's (and a bank's) print it: "AAAAA.AAAAA BBBBB.BBBBBB ...".
        digitable = format_line(barcode_to_line(barcode))
        return Charge(
            charge_id=payment_id,
            bank_code=barcode[:3],
            our_number=str(line.get("nossoNumero") or payment.get("nossoNumero") or ""),
            barcode=barcode,
            digitable_line=digitable,
            pix_emv=str(pix.get("payload") or ""),
        )

    def _payment_of(
        self, invoice_id: UUID, *, once: bool = False
    ) -> dict[str, Any] | None:
        """The invoice's live payment at Asaas, if one was created already."""
        get = self._get_once if once else self._get
        found = get("/payments", externalReference=str(invoice_id))
        live = [p for p in found.get("data") or [] if not p.get("deleted")]
        return live[0] if live else None

    def _customer(self, request: ChargeRequest) -> str:
        """The id of the payer's customer at Asaas: found by CPF/CNPJ, or created.

        One attempt of each call: the caller retries the whole step, lookups first.
        """
        document = "".join(c for c in request.payer_document if c.isdigit())
        found = self._get_once("/customers", cpfCnpj=document)
        customers = [c for c in found.get("data") or [] if not c.get("deleted")]
        if customers:
            return str(customers[0]["id"])
        created = self._post_once(
            "/customers",
            {
                "name": request.payer_name,
                "cpfCnpj": document,
                "email": request.payer_email,
                # Asaas e-mails its own notices unless told not to: the ledger
                # sends the invoice itself.
                "notificationDisabled": True,
            },
        )
        return str(created["id"])

    def _create_payment(
        self, request: ChargeRequest, customer_id: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customer": customer_id,
            "billingType": "BOLETO",
            "value": amount_number(request.amount_cents),
            "dueDate": request.due_date.isoformat(),
            "description": request.description[:500],
            "externalReference": str(request.invoice_id),
        }
        if request.fine_percent:
            body["fine"] = {
                "value": percent_number(request.fine_percent),
                "type": "PERCENTAGE",
            }
        if request.interest_monthly_percent:
            # Asaas's interest is a percentage per month, as the invoice's.
            body["interest"] = {
                "value": percent_number(request.interest_monthly_percent)
            }
        return self._post_once("/payments", body)

    def cancel(self, invoice_id: UUID) -> None:
        """Delete the invoice's payment at Asaas, if it has a live one."""
        payment = self._payment_of(invoice_id)
        if payment is None:
            return
        try:
            self._call("DELETE", f"/payments/{payment['id']}", allow_not_found=True)
        except ChargeRefusedError as refusal:
            # Asaas keeps a payment it will not delete (one already received, say):
            # the invoice stays cancelled here, and a payment still notified is
            # recorded as money received.
            log.warning("asaas kept payment %s: %s", payment["id"], refusal.reason)

    def invoice_for_charge(self, charge_id: str) -> UUID | None:
        """The invoice whose ``externalReference`` the payment carries."""
        try:
            payment = self._call("GET", f"/payments/{charge_id}", allow_not_found=True)
        except ChargeRefusedError:
            return None
        return (
            None if payment is None else _invoice_id(payment.get("externalReference"))
        )

    def read_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        now: float,  # noqa: ARG002 - Asaas's token carries no time to check
    ) -> PartnerEvent:
        """Check the ``asaas-access-token`` header, then translate."""
        token = _header(headers, TOKEN_HEADER) or ""
        if not hmac.compare_digest(token.encode(), self.webhook_token.encode()):
            msg = "the asaas-access-token header is missing or wrong"
            raise WebhookUnauthenticatedError(msg)
        return read_event(body, self.clock())

    def translate_webhook(self, body: bytes) -> PartnerEvent:
        """Translate a body authenticated before (a replay from the log)."""
        return read_event(body, self.clock())
