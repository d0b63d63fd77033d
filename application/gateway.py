"""The payment partner port: register and cancel charges, read the partner's webhooks.

Adapters map a real partner (or the sandbox) onto this port; the registration
process calls it, with the invoice id as idempotency key, so that a retry after a
crash never creates a second charge. Each adapter also authenticates its partner's
webhooks and translates them into a partner-neutral ``PartnerEvent``, which the
webhook use case (``application.webhooks``) records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from domain.invoices import Charge


@dataclass(frozen=True)
class ChargeRequest:
    """What the partner needs to register an invoice."""

    invoice_id: UUID
    reseller_id: UUID
    code: int
    amount_cents: int
    due_date: date
    description: str
    payee_name: str
    payee_document: str
    payer_name: str
    payer_document: str
    payer_email: str
    fine_percent: Decimal = Decimal("0.00")
    """Copied from the invoice: the partner charges it on a late payment."""
    interest_monthly_percent: Decimal = Decimal("0.00")


class ChargeRefusedError(Exception):
    """The partner will not register this charge (a business refusal)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayUnavailableError(Exception):
    """The partner could not be reached or failed; try again later."""


class PartnerEventKind(StrEnum):
    """What a partner event means for the ledger."""

    PAYMENT = "payment"
    REFUND = "refund"
    OVERDUE = "overdue"
    OTHER = "other"
    """Anything else the partner reports: acknowledged and logged, nothing recorded."""


@dataclass(frozen=True)
class PartnerEvent:
    """One webhook, authenticated and translated out of the partner's vocabulary."""

    event_id: str
    """The partner's id of the event: a redelivery repeats it."""
    kind: PartnerEventKind
    type: str
    """The partner's own name of the event (kept in the webhook log)."""
    occurred_at: datetime
    invoice_id: UUID | None = None
    charge_id: str | None = None
    amount_cents: int | None = None
    paid_at: datetime | None = None
    method: str | None = None


class WebhookUnauthenticatedError(Exception):
    """The webhook's signature is missing, wrong or stale."""


class WebhookMalformedError(Exception):
    """The webhook is authentic but its body cannot be read."""

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class PaymentGateway(Protocol):
    """A payment partner."""

    name: str
    minimum_amount_cents: int
    """The smallest charge the partner registers: smaller ones are refused at issue."""

    def register(self, request: ChargeRequest) -> Charge:
        """Register (or return the already registered) charge for an invoice."""
        ...

    def cancel(self, invoice_id: UUID) -> None:
        """Cancel the invoice's charge, if it has one; repeating is harmless."""
        ...

    def invoice_for_charge(self, charge_id: str) -> UUID | None:
        """The invoice a charge id belongs to."""
        ...

    def read_webhook(
        self, headers: Mapping[str, str], body: bytes, now: float
    ) -> PartnerEvent:
        """Authenticate a webhook received at ``now`` (Unix time) and translate it.

        Raises ``WebhookUnauthenticatedError`` or ``WebhookMalformedError``.
        """
        ...
