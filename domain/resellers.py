"""Reseller: the tenant, and the owner of its gapless invoice code sequence.

Lifecycle: ``Registered`` once; then one ``InvoiceCodeAssigned`` per invoice issued,
numbering invoices 1, 2, 3... with no gap and no repeat. Issuing saves the reseller
and the new invoice in one transaction, so a code is never assigned without its
invoice, and two concurrent issues conflict on the reseller's version instead of
sharing a code. The sequence grows by one event per invoice, so the application
snapshots this aggregate.

The reseller also holds its billing settings (``BillingSettingsChanged``, the whole
set after each change; see ``domain.billing``). Snapshots taken before the settings
existed are upcast to the defaults (class version 2).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.billing import NO_PERCENT, BillingSettings
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
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots from before billing settings: the defaults."""
        state["fine_percent"] = NO_PERCENT
        state["interest_monthly_percent"] = NO_PERCENT
        state["reminder_days_before_due"] = None
        state["suspend_after_days_overdue"] = None
        state["auto_billing_day"] = None

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

    class BillingSettingsChanged(LedgerAggregate.Event):
        """The reseller changed its billing settings; the whole set after it."""

        TOPIC = "revenda.Reseller.BillingSettingsChanged"
        fine_percent: str
        interest_monthly_percent: str
        reminder_days_before_due: int | None
        suspend_after_days_overdue: int | None
        auto_billing_day: int | None

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
        self.fine_percent = NO_PERCENT
        self.interest_monthly_percent = NO_PERCENT
        self.reminder_days_before_due: int | None = None
        self.suspend_after_days_overdue: int | None = None
        self.auto_billing_day: int | None = None

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

    @property
    def billing_settings(self) -> BillingSettings:
        """The billing settings in force."""
        return BillingSettings(
            fine_percent=self.fine_percent,
            interest_monthly_percent=self.interest_monthly_percent,
            reminder_days_before_due=self.reminder_days_before_due,
            suspend_after_days_overdue=self.suspend_after_days_overdue,
            auto_billing_day=self.auto_billing_day,
        )

    def change_billing_settings(self, changes: dict[str, Any]) -> BillingSettings:
        """Apply ``changes`` (validated); record an event only if something changed."""
        settings = self.billing_settings.changed(changes)
        if settings != self.billing_settings:
            self._billing_settings_changed(**settings.as_event_fields())
        return settings

    @event(BillingSettingsChanged)
    def _billing_settings_changed(
        self,
        fine_percent: str,
        interest_monthly_percent: str,
        reminder_days_before_due: int | None,
        suspend_after_days_overdue: int | None,
        auto_billing_day: int | None,
    ) -> None:
        self.fine_percent = Decimal(fine_percent)
        self.interest_monthly_percent = Decimal(interest_monthly_percent)
        self.reminder_days_before_due = reminder_days_before_due
        self.suspend_after_days_overdue = suspend_after_days_overdue
        self.auto_billing_day = auto_billing_day
