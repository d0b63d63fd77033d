"""Request and response bodies: one schema family per resource.

Requests forbid unknown fields. Money is read by its decimal text (the app parses
JSON numbers as ``Decimal``) and becomes integer centavos at once; responses write
it back as a string with two places.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    WithJsonSchema,
)
from pydantic_core import CoreSchema, core_schema

from domain.contracts import ContractStatus
from domain.credits import CreditOrigin
from domain.errors import InvalidInputError
from domain.invoices import InvoiceStatus, PaymentMethod
from domain.money import parse_amount
from domain.periods import check_date_range
from domain.text import has_control_characters
from domain.vocabulary import BoletoStatus, CreditStatus, ReceivableSituation

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DateOrTime = TypeVar("DateOrTime", date, datetime)


def _cents(value: object) -> int:
    if isinstance(value, float):  # only when a client sent JSON parsed elsewhere
        value = Decimal(repr(value))
    try:
        return parse_amount(value)
    except InvalidInputError as error:
        raise ValueError(error.message) from None


def _iso_date(value: object) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
        msg = "must be a date as YYYY-MM-DD"
        raise ValueError(msg)
    try:
        return date.fromisoformat(value)
    except ValueError:
        msg = "is not a calendar date"
        raise ValueError(msg) from None


def _in_date_range(value: DateOrTime) -> DateOrTime:
    try:
        check_date_range(value, "date")
    except InvalidInputError as error:
        raise ValueError(error.message) from None
    return value


def _single_line(value: str) -> str:
    if has_control_characters(value):
        msg = "must not contain control characters"
        raise ValueError(msg)
    return value


def _line_breaks_only(value: str) -> str:
    if has_control_characters(value, line_breaks=True):
        msg = "must not contain control characters other than line breaks"
        raise ValueError(msg)
    return value


Text = Annotated[str, AfterValidator(_single_line)]
"""Any text of a request: no control character (U+0000..U+001F, U+007F)."""
MultilineText = Annotated[str, AfterValidator(_line_breaks_only)]
"""Text that may hold line breaks (LF or CR LF), no other control character."""


AmountIn = Annotated[
    int,
    BeforeValidator(_cents),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]{1,8}(\.[0-9]{1,2})?$"},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 99999999.99},
            ],
            "description": "Amount in BRL with at most two decimal places.",
            "examples": ["150.00"],
        }
    ),
]
DateIn = Annotated[
    date,
    BeforeValidator(_iso_date),
    AfterValidator(_in_date_range),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-12-10"]}),
]
TimestampIn = Annotated[datetime, AfterValidator(_in_date_range)]
"""An ISO 8601 timestamp within the dates the ledger accepts."""
DateQuery = Annotated[
    Annotated[date, AfterValidator(_in_date_range)] | None,
    Query(description="A date as YYYY-MM-DD.", examples=["2026-12-10"]),
]
"""A date filter of a list or report."""
TextQuery = Annotated[Text | None, Query(max_length=200)]
"""A text filter of a list (``q``, a name): bounded, no control character."""
Money = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "examples": ["150.00"]}
    ),
]


@dataclass(frozen=True)
class CodesOf:
    """Makes a ``str`` one of a vocabulary's codes, as a ``Literal`` of them would.

    The field is typed ``str``, not the enum: FastAPI would publish every enum it
    finds in a field as a schema component of its own. OpenAPI thus lists the codes
    inline and a wrong code is refused with the message a ``Literal`` gives.
    """

    vocabulary: type[StrEnum]

    def __get_pydantic_core_schema__(
        self, _source: type[str], _handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """A literal of the vocabulary's codes, in their order."""
        return core_schema.literal_schema([code.value for code in self.vocabulary])


InvoiceStatusCode = Annotated[str, CodesOf(InvoiceStatus)]
ContractStatusCode = Annotated[str, CodesOf(ContractStatus)]
ReceivableSituationCode = Annotated[str, CodesOf(ReceivableSituation)]
BoletoStatusCode = Annotated[str, CodesOf(BoletoStatus)]
PaymentMethodCode = Annotated[str, CodesOf(PaymentMethod)]
CreditStatusCode = Annotated[str, CodesOf(CreditStatus)]
CreditOriginCode = Annotated[str, CodesOf(CreditOrigin)]
Percent = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "examples": ["2.00"]}
    ),
]


class Strict(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# -- resellers, users, login --------------------------------------------------------


class ResellerCreate(Strict):
    """Sign-up of a reseller and its owner login."""

    name: Annotated[Text, Field(min_length=1, max_length=200)]
    document: Annotated[Text, Field(min_length=1, max_length=32)]
    email: Annotated[Text, Field(min_length=3, max_length=254)]
    password: Annotated[Text, Field(min_length=1, max_length=128)]


class ResellerPublic(BaseModel):
    """A reseller."""

    id: UUID
    name: str
    document: str
    email: str
    created_at: datetime


class TokenPublic(BaseModel):
    """An access token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - OAuth2 token type
    expires_in: int


class UserCreate(Strict):
    """A new login for the caller's reseller."""

    email: Annotated[Text, Field(min_length=3, max_length=254)]
    password: Annotated[Text, Field(min_length=1, max_length=128)]
    role: Literal["owner", "operator", "finance", "auditor"]


class UserPublic(BaseModel):
    """A user."""

    id: UUID
    email: str
    role: str
    created_at: datetime


class ResellerRef(BaseModel):
    """The tenant a user belongs to."""

    id: UUID
    name: str


class MePublic(BaseModel):
    """Who the caller is."""

    user_id: UUID
    email: str
    role: str
    reseller: ResellerRef


# -- clients and contracts ------------------------------------------------------------


class ClientCreate(Strict):
    """A new client of the reseller."""

    name: Annotated[Text, Field(min_length=1, max_length=200)]
    document: Annotated[Text, Field(min_length=1, max_length=32)]
    email: Annotated[Text, Field(min_length=3, max_length=254)]
    phone: Annotated[Text | None, Field(max_length=32)] = None
    city: Annotated[Text | None, Field(max_length=100)] = None
    state: Annotated[Text | None, Field(max_length=2)] = None


class ClientUpdate(Strict):
    """Contact fields to change; absent fields stay, ``null`` clears optional ones."""

    name: Annotated[Text | None, Field(min_length=1, max_length=200)] = None
    email: Annotated[Text | None, Field(min_length=3, max_length=254)] = None
    phone: Annotated[Text | None, Field(max_length=32)] = None
    city: Annotated[Text | None, Field(max_length=100)] = None
    state: Annotated[Text | None, Field(max_length=2)] = None


class ClientPublic(BaseModel):
    """A client."""

    id: UUID
    name: str
    document: str
    document_type: Literal["cpf", "cnpj"]
    email: str
    phone: str | None
    city: str | None
    state: str | None
    created_at: datetime
    updated_at: datetime


class ClientsPublic(BaseModel):
    """A page of clients."""

    items: list[ClientPublic]
    next_cursor: str | None


class PlanIn(Strict):
    """What the monthly billing run invoices a contract."""

    description: Annotated[Text, Field(min_length=1, max_length=200)]
    amount: AmountIn
    due_day: Annotated[int, Field(ge=1, le=28, strict=True)]


class PlanPublic(BaseModel):
    """A contract's plan."""

    description: str
    amount: Money
    due_day: int


class ContractCreate(Strict):
    """A new contract, in trial, with a plan or not."""

    client_id: UUID
    plan: PlanIn | None = None


class ContractUpdate(Strict):
    """A contract's new plan; ``null`` removes it, absent leaves it."""

    plan: PlanIn | None = None


class ContractPublic(BaseModel):
    """A contract."""

    id: UUID
    client_id: UUID
    client_name: str
    status: ContractStatusCode
    status_label: str
    plan: PlanPublic | None
    suspension_reason: Literal["manual", "overdue"] | None
    created_at: datetime
    activated_at: datetime | None
    updated_at: datetime


class ContractsPublic(BaseModel):
    """A page of contracts."""

    items: list[ContractPublic]
    next_cursor: str | None


# -- invoices ------------------------------------------------------------


class InvoiceCreate(Strict):
    """An invoice to issue."""

    client_id: UUID
    description: Annotated[MultilineText, Field(min_length=1, max_length=500)]
    amount: AmountIn
    due_date: DateIn
    reference_month: Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])$")]
    reference_year: Annotated[str, Field(pattern=r"^[0-9]{4}$")]
    issue_date: DateIn | None = None


class InvoiceCancel(Strict):
    """Why the invoice is cancelled."""

    reason: Annotated[Text, Field(min_length=1, max_length=500)]


class BoletoPublic(BaseModel):
    """The boleto of a registered invoice."""

    bank_code: str
    our_number: str
    barcode: str
    digitable_line: str


class PixPublic(BaseModel):
    """The Pix copy-and-paste code of a registered invoice."""

    emv: str


class PaymentPublic(BaseModel):
    """One payment of an invoice, split into principal, late fees and credit."""

    id: UUID
    amount: Money
    principal: Money
    fees: Money
    credit: Money
    method: PaymentMethodCode
    paid_at: datetime
    provider_event_id: str


class NoticePublic(BaseModel):
    """One e-mail notice of an invoice: sent, or refused for good with the reason."""

    kind: Literal["invoice", "reminder", "overdue", "receipt"]
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    reason: str | None = None


class InvoicePublic(BaseModel):
    """An invoice."""

    id: UUID
    code: int
    client_id: UUID
    client_name: str
    description: str
    amount: Money
    amount_paid: Money
    amount_fees: Money
    balance: Money
    fine_percent: Percent
    interest_monthly_percent: Percent
    issue_date: date
    due_date: date
    reference_month: str
    reference_year: str
    billing_reference: str | None
    status: InvoiceStatusCode
    status_label: str
    boleto: BoletoPublic | None
    pix: PixPublic | None
    charge_id: str | None
    paid_at: datetime | None
    payment_method: PaymentMethodCode | None
    failure_reason: str | None
    payments: list[PaymentPublic]
    notices: list[NoticePublic] = []
    created_at: datetime
    updated_at: datetime


class InvoicesPublic(BaseModel):
    """A page of invoices."""

    items: list[InvoicePublic]
    next_cursor: str | None


# -- ERP ------------------------------------------------------------


class CustomerPublic(BaseModel):
    """An ERP customer."""

    id: UUID
    name: str
    document: str | None
    email: str | None
    origin: Literal["reseller", "system"]
    open_amount: Money
    credit_amount: Money
    created_at: datetime


class CustomersPublic(BaseModel):
    """A page of ERP customers."""

    items: list[CustomerPublic]
    next_cursor: str | None


class ReceivablePublic(BaseModel):
    """An account receivable (lançamento)."""

    id: UUID
    invoice_id: UUID
    invoice_code: int
    customer_id: UUID
    customer_name: str
    description: str
    amount: Money
    amount_paid: Money
    amount_fees: Money
    amount_open: Money
    issue_date: date
    due_date: date
    settled_at: datetime | None
    situation: ReceivableSituationCode
    situation_label: str
    overdue: bool


class ReceivableTotals(BaseModel):
    """Totals over every matching receivable, not just the page."""

    count: int
    amount: Money
    amount_paid: Money
    amount_open: Money


class ReceivablesPublic(BaseModel):
    """A page of receivables and the totals of all that match."""

    items: list[ReceivablePublic]
    totals: ReceivableTotals
    next_cursor: str | None


class CreditPublic(BaseModel):
    """A customer credit: money received beyond what was owed."""

    id: UUID
    customer_id: UUID
    customer_name: str
    invoice_id: UUID
    invoice_code: int
    amount: Money
    origin: CreditOriginCode
    status: CreditStatusCode
    status_label: str
    created_at: datetime
    refunded_at: datetime | None


class CreditsPublic(BaseModel):
    """A page of customer credits, newest first."""

    items: list[CreditPublic]
    next_cursor: str | None


class CreditRefund(Strict):
    """Why the credit's money was given back."""

    reason: Annotated[str, Field(min_length=1, max_length=500)]


class BankAccountPublic(BaseModel):
    """A bank account of the ERP."""

    id: UUID
    name: str
    kind: Literal["online"]


class BankAccountsPublic(BaseModel):
    """The tenant's bank accounts."""

    items: list[BankAccountPublic]


class BoletoItemPublic(BaseModel):
    """A boleto in bank control."""

    id: UUID
    invoice_id: UUID
    invoice_code: int
    account_id: UUID
    customer_name: str
    our_number: str | None
    digitable_line: str | None
    barcode: str | None
    amount: Money
    due_date: date
    status: BoletoStatusCode
    status_label: str
    paid_at: datetime | None


class BoletosPublic(BaseModel):
    """A page of boletos."""

    items: list[BoletoItemPublic]
    next_cursor: str | None


class AgingBuckets(BaseModel):
    """Open amounts by days past due."""

    current: Money
    days_1_30: Money
    days_31_60: Money
    days_61_90: Money
    days_over_90: Money
    total: Money


class AgingItem(AgingBuckets):
    """One customer's line of the aging report."""

    customer_id: UUID
    customer_name: str


class AgingPublic(BaseModel):
    """The aging report as of a date."""

    as_of: date
    items: list[AgingItem]
    totals: AgingBuckets


# -- audit ------------------------------------------------------------


class ActorPublic(BaseModel):
    """Who caused an event.

    ``user`` (id, email), ``partner`` (id: the provider), ``system`` (id: the
    process), or ``unknown`` (recorded before actors were).
    """

    type: Literal["user", "partner", "system", "unknown"]
    id: str | None = None
    email: str | None = None


class HistoryEvent(BaseModel):
    """One event of an aggregate's history."""

    position: int
    version: int
    type: str
    recorded_at: datetime
    actor: ActorPublic
    data: dict[str, Any]


class HistoryPublic(BaseModel):
    """An aggregate's full history, in version order."""

    items: list[HistoryEvent]


class AuditEvent(HistoryEvent):
    """One event of the tenant's log."""

    aggregate_id: UUID
    aggregate_type: str
    hash: str | None = Field(
        description="SHA-256 (hex) of the previous event's hash in the tenant's"
        " chain and this event's stored bytes"
    )


class AuditPublic(BaseModel):
    """A page of the tenant's events in log order."""

    items: list[AuditEvent]
    next_after: int | None


# -- billing settings -------------------------------------------------------------

PercentIn = Annotated[
    str,
    Field(max_length=16),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$", "examples": ["2.00"]}
    ),
]
"""A percentage typed as a decimal string; its range is the domain's to check."""


class BillingSettingsUpdate(Strict):
    """Billing settings to change; absent ones stay, ``null`` turns a day off."""

    fine_percent: PercentIn | None = None
    interest_monthly_percent: PercentIn | None = None
    reminder_days_before_due: Annotated[int | None, Field(strict=True, ge=1, le=30)] = (
        None
    )
    suspend_after_days_overdue: Annotated[
        int | None, Field(strict=True, ge=1, le=365)
    ] = None
    auto_billing_day: Annotated[int | None, Field(strict=True, ge=1, le=28)] = None


class BillingSettingsPublic(BaseModel):
    """The reseller's billing settings: late fees, notices, dunning, auto billing."""

    fine_percent: Percent
    interest_monthly_percent: Percent
    reminder_days_before_due: int | None
    suspend_after_days_overdue: int | None
    auto_billing_day: int | None


class AuditVerification(BaseModel):
    """The tenant's hash chain, recomputed from the stored events."""

    ok: bool
    events: int
    head: str | None = Field(description="the hash of the tenant's last event (hex)")
    first_bad_position: int | None = Field(
        description="the first event whose stored bytes or order no longer match"
    )


# -- outbound webhooks ---------------------------------------------------------------

OutboundTypeCode = Literal[
    "invoice.issued",
    "invoice.registered",
    "invoice.paid",
    "invoice.partially_paid",
    "invoice.overdue",
    "invoice.cancelled",
    "invoice.refunded",
    "invoice.failed",
    "contract.changed",
    "credit.created",
]
"""The event types an endpoint may subscribe to (``application.outbound``)."""


class WebhookEndpointCreate(Strict):
    """A URL of the API client and the event types it wants delivered there."""

    url: Annotated[str, Field(min_length=1, max_length=2048)]
    events: Annotated[list[OutboundTypeCode], Field(min_length=1, max_length=10)]


class WebhookEndpointPublic(BaseModel):
    """An endpoint (its secret is shown only when it is created)."""

    id: UUID
    url: str
    events: list[str]
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointPublic):
    """A new endpoint with the secret its deliveries are signed with."""

    secret: str


class WebhookEndpointsPublic(BaseModel):
    """The tenant's endpoints, oldest first."""

    items: list[WebhookEndpointPublic]


class WebhookDeliveryPublic(BaseModel):
    """One event queued for an endpoint and how its delivery stands."""

    event_id: UUID
    type: str
    status: Literal["pending", "delivered", "failing"]
    attempts: int
    last_status_code: int | None
    next_attempt_at: datetime | None


class WebhookDeliveriesPublic(BaseModel):
    """An endpoint's deliveries, newest event first."""

    items: list[WebhookDeliveryPublic]
    next_cursor: str | None


class BillingRunCreate(Strict):
    """A billing run of a reference month."""

    reference: Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    issue_date: DateIn | None = None


class BillingRunPublic(BaseModel):
    """A billing run: what it issued and how many contracts it found billed."""

    id: UUID
    reference: str
    issue_date: date
    issued: int
    skipped: int
    invoice_ids: list[UUID]
    created_at: datetime


class BillingRunsPublic(BaseModel):
    """A page of billing runs, newest first."""

    items: list[BillingRunPublic]
    next_cursor: str | None
