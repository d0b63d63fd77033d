"""The payment partner port: register a charge (boleto and Pix), cancel it.

Adapters map a real partner (or the sandbox) onto this port; the registration
process calls it, with the invoice id as idempotency key, so that a retry after a
crash never creates a second charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol
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


class ChargeRefusedError(Exception):
    """The partner will not register this charge (a business refusal)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayUnavailableError(Exception):
    """The partner could not be reached or failed; try again later."""


class PaymentGateway(Protocol):
    """A payment partner."""

    name: str

    def register(self, request: ChargeRequest) -> Charge:
        """Register (or return the already registered) charge for an invoice."""
        ...

    def cancel(self, invoice_id: UUID) -> None:
        """Cancel the invoice's charge, if it has one; repeating is harmless."""
        ...

    def invoice_for_charge(self, charge_id: str) -> UUID | None:
        """The invoice a charge id belongs to."""
        ...
