"""Reseller: the tenant, and the owner of its gapless invoice code sequence.

Lifecycle: ``Registered`` once; then one ``InvoiceCodeAssigned`` per invoice issued,
numbering invoices 1, 2, 3... with no gap and no repeat. Issuing saves the reseller
and the new invoice in one transaction, so a code is never assigned without its
invoice, and two concurrent issues conflict on the reseller's version instead of
sharing a code. The sequence grows by one event per invoice, so the application
snapshots this aggregate.
"""

from __future__ import annotations

from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.documents import Document
from domain.text import email_address, required_text

MAX_NAME_LENGTH = 200
CONSUMER_CUSTOMER_NAME = "Consumidor"
MAIN_BANK_ACCOUNT_NAME = "Conta Principal"


def consumer_customer_id(reseller_id: UUID) -> UUID:
    """Id of the reseller's automatic ERP customer ``Consumidor``."""
    return derived_id("erp-customer", reseller_id, "consumidor")


def main_bank_account_id(reseller_id: UUID) -> UUID:
    """Id of the reseller's online bank account ``Conta Principal``."""
    return derived_id("erp-bank-account", reseller_id, "principal")


class Reseller(LedgerAggregate):
    """A reseller (revendedor): a tenant of the ledger."""

    TOPIC = "revenda.Reseller"

    class Registered(LedgerAggregate.Event, AggregateCreated):
        """A reseller signed up, with its ERP customer and bank account."""

        TOPIC = "revenda.Reseller.Registered"
        name: str
        document: str
        email: str
        consumer_customer_id: UUID
        bank_account_id: UUID

    class InvoiceCodeAssigned(LedgerAggregate.Event):
        """The next invoice code was taken by an invoice."""

        TOPIC = "revenda.Reseller.InvoiceCodeAssigned"
        code: int
        invoice_id: UUID

    @event(Registered)
    def __init__(  # noqa: PLR0913 - the fields of the created event
        self,
        *,
        reseller_id: UUID,
        name: str,
        document: str,
        email: str,
        consumer_customer_id: UUID,
        bank_account_id: UUID,
    ) -> None:
        self.reseller_id = reseller_id
        self.name = name
        self.document = document
        self.email = email
        self.consumer_customer_id = consumer_customer_id
        self.bank_account_id = bank_account_id
        self.last_invoice_code = 0

    @classmethod
    def register(cls, reseller_id: UUID, name: str, document: str, email: str) -> Self:
        """Validate and register a reseller; ``document`` must be a CNPJ."""
        return cls._create(
            cls.Registered,
            id=reseller_id,
            reseller_id=reseller_id,
            name=required_text(name, "name", MAX_NAME_LENGTH),
            document=Document.parse_cnpj(document).number,
            email=email_address(email),
            consumer_customer_id=consumer_customer_id(reseller_id),
            bank_account_id=main_bank_account_id(reseller_id),
        )

    def assign_invoice_code(self, invoice_id: UUID) -> int:
        """Take the next code of the sequence for ``invoice_id`` and return it."""
        code = self.last_invoice_code + 1
        self._invoice_code_assigned(code=code, invoice_id=invoice_id)
        return code

    @event(InvoiceCodeAssigned)
    def _invoice_code_assigned(self, code: int, invoice_id: UUID) -> None:  # noqa: ARG002 - recorded for auditors
        self.last_invoice_code = code
