"""Receiving a payment partner's webhook: authenticate, translate, record, log.

The route hands over the provider's name, the headers and the raw body; the
partner's adapter (a ``PaymentGateway``) authenticates it and translates it into a
``PartnerEvent``; this use case maps that event onto the ledger's commands and keeps
the delivery in the webhook log. A new partner is a new adapter registered under
its name, with no change here nor in the route.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from application.actors import Actor, acting_as
from application.gateway import (
    PartnerEvent,
    PartnerEventKind,
    PaymentGateway,
    WebhookMalformedError,
)
from application.ledger import Ledger, NotificationRecorded, NotificationResult
from domain.errors import DomainError

log = logging.getLogger(__name__)


class WebhookLog(Protocol):
    """The raw log of partner webhooks, kept as they came."""

    def keep(  # noqa: PLR0913 - the parts of one delivery
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        result: str,
        *,
        event_id: str | None = None,
        kind: str | None = None,
    ) -> int:
        """Append one authenticated delivery, raw; the id of its entry."""
        ...

    def settle(self, entry: int, result: str, error: str | None = None) -> None:
        """Record what the delivery kept as ``entry`` did."""
        ...


RECEIVED = "received"
"""An entry's result while its delivery is being applied (or if that was cut off)."""
MALFORMED = "malformed"
"""An authentic delivery whose body could not be read."""
REPLAY_HEADER = "x-ledger-replay-of"
"""Kept with a replayed delivery: the log entry it replays."""
_HEADERS_KEPT = ("content-type", "user-agent", "content-length")


def _of_interest(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth keeping with a delivery: its type and signature."""
    return {
        name.lower(): value
        for name, value in headers.items()
        if name.lower() in _HEADERS_KEPT or "signature" in name.lower()
    }


def _refusal(error: Exception) -> str:
    if isinstance(error, WebhookMalformedError):
        return MALFORMED
    if isinstance(error, NoInvoiceForEventError):
        return "unknown_invoice"
    if isinstance(error, DomainError):
        return "refused"
    return "failed"


class UnknownProviderError(LookupError):
    """No payment partner of that name is configured."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"unknown payment provider {provider!r}")
        self.provider = provider


class NoInvoiceForEventError(LookupError):
    """Neither the event's invoice id nor its charge id names an invoice."""

    def __init__(self) -> None:
        super().__init__("no invoice or charge matches this event")


@dataclass(frozen=True)
class WebhookReceipt:
    """What a webhook did, and the log position of what it recorded (if anything)."""

    result: NotificationResult
    position: int | None


class WebhookReceiver:
    """The one use case behind ``POST /v1/webhooks/{provider}``."""

    def __init__(
        self,
        ledger: Ledger,
        gateways: Mapping[str, PaymentGateway],
        log: WebhookLog,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.gateways = dict(gateways)
        self.log = log
        # Signatures are checked against real time, never the ledger's business
        # clock: a development clock offset must not make every webhook stale.
        self.wall_clock = wall_clock

    def receive(
        self, provider: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookReceipt:
        """Authenticate, keep raw, then apply one delivery, and log what it did.

        An authentic delivery is kept before anything is applied, so the log has
        it whatever happens next; one that cannot be read is kept as malformed.
        """
        gateway = self.gateways.get(provider)
        if gateway is None:
            raise UnknownProviderError(provider)
        kept = _of_interest(headers)
        try:
            event = gateway.read_webhook(headers, body, self.wall_clock())
        except WebhookMalformedError:
            self.log.keep(provider, kept, body, MALFORMED)
            raise
        entry = self.log.keep(
            provider, kept, body, RECEIVED, event_id=event.event_id, kind=event.type
        )
        return self._settled(gateway, provider, event, entry)

    def replay(self, provider: str, body: bytes, of: int) -> WebhookReceipt:
        """Apply a delivery kept in the log (entry ``of``) again, as it came.

        It was authenticated when received (only such deliveries are kept), so it is
        translated without its token or signature, which may be stale by now. The
        ledger processes each event at most once: replaying one that was applied
        answers ``duplicate`` and changes nothing. The replay is logged too.
        """
        gateway = self.gateways.get(provider)
        if gateway is None:
            raise UnknownProviderError(provider)
        kept = {REPLAY_HEADER: str(of)}
        try:
            event = gateway.translate_webhook(body)
        except WebhookMalformedError:
            self.log.keep(provider, kept, body, MALFORMED)
            raise
        entry = self.log.keep(
            provider, kept, body, RECEIVED, event_id=event.event_id, kind=event.type
        )
        return self._settled(gateway, provider, event, entry)

    def _settled(
        self, gateway: PaymentGateway, provider: str, event: PartnerEvent, entry: int
    ) -> WebhookReceipt:
        try:
            with acting_as(Actor.partner(provider)):
                receipt = self._apply(gateway, provider, event)
        except Exception as error:
            # Nothing was recorded: the refusal (or the failure) is answered as such.
            self._settle(entry, _refusal(error), str(error))
            raise
        self._settle(entry, receipt.result.value)
        return receipt

    def _apply(
        self, gateway: PaymentGateway, provider: str, event: PartnerEvent
    ) -> WebhookReceipt:
        if event.kind is PartnerEventKind.OTHER:
            return WebhookReceipt(NotificationResult.IGNORED, None)
        recorded = self._record(provider, event, self._invoice_of(gateway, event))
        return WebhookReceipt(recorded.result, recorded.position)

    def _settle(self, entry: int, result: str, error: str | None = None) -> None:
        # The ledger has already decided: a failure to note the result must not
        # turn the answer into a 5xx, which the partner would retry forever.
        try:
            self.log.settle(entry, result, error)
        except Exception:
            log.exception("webhook log entry %s not settled as %s", entry, result)

    @staticmethod
    def _invoice_of(gateway: PaymentGateway, event: PartnerEvent) -> UUID:
        invoice_id = event.invoice_id
        if invoice_id is None and event.charge_id is not None:
            invoice_id = gateway.invoice_for_charge(event.charge_id)
        if invoice_id is None:
            raise NoInvoiceForEventError
        return invoice_id

    def _record(
        self, provider: str, event: PartnerEvent, invoice_id: UUID
    ) -> NotificationRecorded:
        ledger = self.ledger
        if event.kind is PartnerEventKind.PAYMENT:
            if event.amount_cents is None or event.method is None:
                # Adapters refuse such events themselves, in their partner's terms.
                raise WebhookMalformedError(
                    "a payment event needs an amount and a method",
                    errors=[{"loc": ["body"], "msg": "amount and method required"}],
                )
            return ledger.record_payment(
                provider=provider,
                provider_event_id=event.key,
                invoice_id=invoice_id,
                amount_cents=event.amount_cents,
                paid_at=event.paid_at or event.occurred_at,
                method=event.method,
            )
        if event.kind is PartnerEventKind.REFUND:
            return ledger.record_refund(
                provider=provider,
                provider_event_id=event.key,
                invoice_id=invoice_id,
                amount_cents=event.amount_cents,
                refunded_at=event.occurred_at,
            )
        if event.kind is PartnerEventKind.CANCELLED:
            return ledger.record_partner_cancellation(
                provider=provider,
                provider_event_id=event.key,
                invoice_id=invoice_id,
                cancelled_at=event.occurred_at,
            )
        if event.kind is PartnerEventKind.PAYMENT_UNDONE:
            return ledger.record_payment_undone(
                provider=provider,
                provider_event_id=event.key,
                invoice_id=invoice_id,
                undone_at=event.occurred_at,
            )
        return ledger.record_overdue_notice(
            provider=provider,
            provider_event_id=event.key,
            invoice_id=invoice_id,
            as_of=ledger.today(),
        )
