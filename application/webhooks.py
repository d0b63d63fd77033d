"""Receiving a payment partner's webhook: authenticate, translate, record, log.

The route hands over the provider's name, the headers and the raw body; the
partner's adapter (a ``PaymentGateway``) authenticates it and translates it into a
``PartnerEvent``; this use case maps that event onto the ledger's commands and keeps
the delivery in the webhook log. A new partner is a new adapter registered under
its name, with no change here nor in the route.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from application.gateway import (
    PartnerEvent,
    PartnerEventKind,
    PaymentGateway,
    WebhookMalformedError,
)
from application.ledger import Ledger, NotificationRecorded, NotificationResult


class WebhookLog(Protocol):
    """The raw log of partner webhooks, kept as they came."""

    def keep(
        self,
        provider: str,
        event_id: str,
        kind: str,
        payload: object,
        result: str,
    ) -> None:
        """Append one accepted delivery and what it did."""
        ...


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
        """Authenticate, translate and record one delivery; log it if accepted."""
        gateway = self.gateways.get(provider)
        if gateway is None:
            raise UnknownProviderError(provider)
        event = gateway.read_webhook(headers, body, self.wall_clock())
        if event.kind is PartnerEventKind.OTHER:
            receipt = WebhookReceipt(NotificationResult.IGNORED, None)
        else:
            recorded = self._record(provider, event, self._invoice_of(gateway, event))
            receipt = WebhookReceipt(recorded.result, recorded.position)
        self.log.keep(
            provider, event.event_id, event.type, event.payload, receipt.result.value
        )
        return receipt

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
                provider_event_id=event.event_id,
                invoice_id=invoice_id,
                amount_cents=event.amount_cents,
                paid_at=event.paid_at or event.occurred_at,
                method=event.method,
            )
        if event.kind is PartnerEventKind.REFUND:
            return ledger.record_refund(
                provider=provider,
                provider_event_id=event.event_id,
                invoice_id=invoice_id,
                amount_cents=event.amount_cents,
                refunded_at=event.occurred_at,
            )
        return ledger.record_overdue_notice(
            provider=provider,
            provider_event_id=event.event_id,
            invoice_id=invoice_id,
            as_of=ledger.today(),
        )
