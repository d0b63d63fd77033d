"""Outbound webhooks: which ledger events API clients hear of, and what they get.

A tenant registers endpoints (a URL and the event types it wants). Following the
log, ``OutboundEvents`` turns each ledger event that matters to API clients into
an outbound event (``invoice.paid``, ``contract.changed``, ...) and queues one
delivery of it for every endpoint of the tenant that subscribed to its type; the
dispatcher (``adapters.outbound``) sends them. Queueing happens in the follower's
transaction, together with its position (``projections.outbox``), so each event is
queued exactly once per endpoint; a slow endpoint holds up only its own queue.

The body is ``{id, type, created_at, position, data}``, with ``data`` the
resource as its ``GET`` shows it *after that event* (loaded at the event's
version), built once when queued, so every retry sends the same bytes. The public
shape of a resource belongs to the API layer; it is handed in as ``Resources``
rather than imported, so this layer does not depend on ``api`` and the shape is
defined once.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit
from uuid import UUID

from application.ledger import Ledger
from domain.base import derived_id
from domain.contracts import Contract
from domain.credits import Credit
from domain.errors import InvalidInputError
from domain.invoices import Invoice, InvoiceStatus


class OutboundType(StrEnum):
    """The event types an endpoint may subscribe to (API.md, Outbound webhooks)."""

    INVOICE_ISSUED = "invoice.issued"
    INVOICE_REGISTERED = "invoice.registered"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PARTIALLY_PAID = "invoice.partially_paid"
    INVOICE_OVERDUE = "invoice.overdue"
    INVOICE_CANCELLED = "invoice.cancelled"
    INVOICE_REFUNDED = "invoice.refunded"
    INVOICE_FAILED = "invoice.failed"
    CONTRACT_CHANGED = "contract.changed"
    CREDIT_CREATED = "credit.created"


class DeliveryStatus(StrEnum):
    """Where one delivery stands: retried while ``pending``, kept when ``failing``."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILING = "failing"


_T = OutboundType
_INVOICE_TYPES: dict[type, OutboundType] = {
    Invoice.Issued: _T.INVOICE_ISSUED,
    Invoice.Registered: _T.INVOICE_REGISTERED,
    Invoice.Paid: _T.INVOICE_PAID,
    Invoice.BecameOverdue: _T.INVOICE_OVERDUE,
    Invoice.Cancelled: _T.INVOICE_CANCELLED,
    Invoice.Refunded: _T.INVOICE_REFUNDED,
    Invoice.RegistrationFailed: _T.INVOICE_FAILED,
}
_PAYMENT_TYPES = {
    InvoiceStatus.PAID: _T.INVOICE_PAID,
    InvoiceStatus.PARTIALLY_PAID: _T.INVOICE_PARTIALLY_PAID,
}
_CONTRACT_TOPICS = "revenda.Contract."
"""Every contract event, those added later included, is a ``contract.changed``."""


MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})


def check_endpoint_url(url: str, *, allow_local: bool) -> str:
    """``url`` if an endpoint may be there, else ``InvalidInputError`` on ``url``.

    http or https, a host, no credentials, bounded, no blanks or control
    characters. Unless ``allow_local`` (development), a host that names this
    machine or a private network is refused: the ledger must not be pointed at
    what only it can reach.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInputError("url", f"must have at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidInputError("url", "must not contain blanks or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise InvalidInputError("url", "is not a valid URL") from None
    if parts.scheme not in {"http", "https"}:
        raise InvalidInputError("url", "must be an http or https URL")
    if not host or len(host) > MAX_HOST_LENGTH:
        raise InvalidInputError("url", "must name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError("url", "must not carry credentials")
    if not allow_local and _is_local(host):
        raise InvalidInputError("url", "must not point at a local or private address")
    return url


def _is_local(host: str) -> bool:
    if host.lower().rstrip(".") in _LOCAL_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


class Resources(Protocol):
    """The public shape of each resource, as its ``GET`` shows it (the API's)."""

    def invoice(self, invoice: Invoice) -> dict[str, Any]:
        """An invoice's JSON."""
        ...

    def contract(self, contract: Contract) -> dict[str, Any]:
        """A contract's JSON."""
        ...

    def credit(self, credit: Credit) -> dict[str, Any]:
        """A credit's JSON."""
        ...


@dataclass(frozen=True)
class QueuedDelivery:
    """One outbound event to send to one endpoint."""

    endpoint_id: UUID
    event_id: UUID
    position: int
    type: str
    body: bytes


class Outbox(Protocol):
    """Where deliveries wait (``adapters.outbound.OutboundStore``)."""

    def subscribers(
        self,
        cursor: Any,  # noqa: ANN401 - a database cursor
        reseller_id: UUID,
        event_types: Sequence[str],
        position: int,
    ) -> Sequence[UUID]:
        """The tenant's endpoints wanting any of ``event_types`` at ``position``."""
        ...

    def queue(self, cursor: Any, deliveries: Sequence[QueuedDelivery]) -> None:  # noqa: ANN401 - a database cursor
        """Queue deliveries (one already queued is left as it is)."""
        ...

    def any_endpoint(self, cursor: Any) -> bool:  # noqa: ANN401 - a database cursor
        """Whether any tenant has an endpoint (else there is nothing to queue)."""
        ...


def outbound_event_id(position: int, event_type: str) -> UUID:
    """The id of the outbound event for the ledger event at ``position``."""
    return derived_id("outbound-event", position, event_type)


class OutboundEvents:
    """Queues a delivery of each matching ledger event for each subscribed endpoint."""

    name = "outbound_webhooks"

    def __init__(self, ledger: Ledger, outbox: Outbox, resources: Resources) -> None:
        self.ledger = ledger
        self.outbox = outbox
        self.resources = resources

    def handles(self, event: object) -> bool:
        """Invoice, contract and credit events may concern API clients."""
        return (
            type(event) in _INVOICE_TYPES
            or isinstance(event, Invoice.PaymentReceived | Credit.Created)
            or getattr(event, "TOPIC", "").startswith(_CONTRACT_TOPICS)
        )

    def enqueue(self, cursor: Any, position: int, event: Any) -> int:  # noqa: ANN401 - a cursor, a handled event
        """Queue the event for its subscribers, in ``cursor``'s transaction.

        Returns how many deliveries were queued. Nothing is loaded unless some
        endpoint of the tenant wants the event's type.
        """
        if not self.outbox.any_endpoint(cursor):
            return 0
        candidates = self._types_of(event)
        tenant = event.reseller_id
        if not candidates or not self.outbox.subscribers(
            cursor, tenant, candidates, position
        ):
            return 0
        aggregate: Any = self.ledger.repository.get(
            event.originator_id, version=event.originator_version
        )
        event_type = candidates[0]
        if isinstance(event, Invoice.PaymentReceived):
            # Paid or partly paid: the invoice's status after the payment says.
            found = _PAYMENT_TYPES.get(aggregate.status)
            if found is None:
                return 0
            event_type = found
        endpoints = self.outbox.subscribers(cursor, tenant, [event_type], position)
        if not endpoints:
            return 0
        event_id = outbound_event_id(position, event_type)
        body = json.dumps(
            {
                "id": str(event_id),
                "type": event_type.value,
                "created_at": event.timestamp.isoformat(),
                "position": position,
                "data": self._data(aggregate),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        self.outbox.queue(
            cursor,
            [
                QueuedDelivery(endpoint, event_id, position, event_type.value, body)
                for endpoint in endpoints
            ],
        )
        return len(endpoints)

    @staticmethod
    def _types_of(event: Any) -> list[OutboundType]:  # noqa: ANN401 - a handled event
        """The outbound types the event may be (a payment: paid or partly paid)."""
        if isinstance(event, Invoice.PaymentReceived):
            # Only money towards the invoice changes it: all credit is credit.created.
            if event.principal_cents == 0 and event.fees_cents == 0:
                return []
            return [_T.INVOICE_PAID, _T.INVOICE_PARTIALLY_PAID]
        if isinstance(event, Credit.Created):
            return [_T.CREDIT_CREATED]
        if getattr(event, "TOPIC", "").startswith(_CONTRACT_TOPICS):
            return [_T.CONTRACT_CHANGED]
        found = _INVOICE_TYPES.get(type(event))
        return [] if found is None else [found]

    def _data(self, aggregate: object) -> dict[str, Any]:
        if isinstance(aggregate, Invoice):
            return self.resources.invoice(aggregate)
        if isinstance(aggregate, Contract):
            return self.resources.contract(aggregate)
        if isinstance(aggregate, Credit):
            return self.resources.credit(aggregate)
        msg = f"no public shape for {type(aggregate).__name__}"
        raise TypeError(msg)
