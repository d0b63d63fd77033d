"""From aggregates and view rows to the public schemas."""

from __future__ import annotations

from typing import Any

from api.schemas import (
    AgingBuckets,
    AgingItem,
    BillingRunPublic,
    BoletoItemPublic,
    BoletoPublic,
    ClientPublic,
    ContractPublic,
    CreditPublic,
    CustomerPublic,
    InvoicePublic,
    PaymentPublic,
    PixPublic,
    PlanPublic,
    ReceivablePublic,
)
from domain.billing_runs import BillingRun
from domain.clients import Client
from domain.contracts import Contract, ContractStatus, Plan
from domain.credits import Credit
from domain.invoices import Invoice, InvoiceStatus, Payment, balance_of
from domain.money import format_amount
from domain.vocabulary import BoletoStatus, CreditStatus, ReceivableSituation
from projections.billing import invoice_ids_of
from projections.panel_invoices import payments_of

Row = dict[str, Any]

AGING_BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


def client(aggregate: Client) -> ClientPublic:
    """A client as it is now."""
    return ClientPublic(
        id=aggregate.id,
        name=aggregate.name,
        document=aggregate.document,
        document_type=aggregate.document_type,
        email=aggregate.email,
        phone=aggregate.phone,
        city=aggregate.city,
        state=aggregate.state,
        created_at=aggregate.created_on,
        updated_at=aggregate.modified_on,
    )


def client_row(row: Row) -> ClientPublic:
    """A client from the panel view."""
    return ClientPublic.model_validate(row, from_attributes=False)


def contract(aggregate: Contract, client_name: str) -> ContractPublic:
    """A contract as it is now."""
    return ContractPublic(
        id=aggregate.id,
        client_id=aggregate.client_id,
        client_name=client_name,
        status=aggregate.status,
        status_label=aggregate.status.label,
        plan=plan(aggregate.plan),
        suspension_reason=None
        if aggregate.suspension_reason is None
        else aggregate.suspension_reason.value,
        created_at=aggregate.created_on,
        activated_at=aggregate.activated_at,
        updated_at=aggregate.modified_on,
    )


def plan(value: Plan | None) -> PlanPublic | None:
    """A contract's plan, if any."""
    if value is None:
        return None
    return PlanPublic(
        description=value.description,
        amount=format_amount(value.amount_cents),
        due_day=value.due_day,
    )


def contract_row(row: Row) -> ContractPublic:
    """A contract from the panel view."""
    status = ContractStatus(row["status"])
    return ContractPublic(
        **{k: row[k] for k in ("id", "client_id", "client_name")},
        status=status,
        status_label=status.label,
        plan=None
        if row["plan_amount_cents"] is None
        else PlanPublic(
            description=row["plan_description"],
            amount=format_amount(row["plan_amount_cents"]),
            due_day=row["plan_due_day"],
        ),
        suspension_reason=row["suspension_reason"],
        created_at=row["created_at"],
        activated_at=row["activated_at"],
        updated_at=row["updated_at"],
    )


def billing_run(aggregate: BillingRun) -> BillingRunPublic:
    """A billing run as recorded."""
    return BillingRunPublic(
        id=aggregate.id,
        reference=aggregate.reference,
        issue_date=aggregate.issue_date,
        issued=aggregate.issued,
        skipped=aggregate.skipped,
        invoice_ids=aggregate.invoice_ids,
        created_at=aggregate.created_on,
    )


def billing_run_row(row: Row) -> BillingRunPublic:
    """A billing run from the billing view."""
    return BillingRunPublic(
        **{k: row[k] for k in ("id", "reference", "issue_date", "issued", "skipped")},
        invoice_ids=invoice_ids_of(row),
        created_at=row["created_at"],
    )


def payment(paid: Payment) -> PaymentPublic:
    """One payment of an invoice and its split."""
    return PaymentPublic(
        id=paid.id,
        amount=format_amount(paid.amount_cents),
        principal=format_amount(paid.principal_cents),
        fees=format_amount(paid.fees_cents),
        credit=format_amount(paid.credit_cents),
        method=paid.method.value,
        paid_at=paid.paid_at,
        provider_event_id=paid.provider_event_id,
    )


def invoice(aggregate: Invoice, client_name: str) -> InvoicePublic:
    """An invoice as it is now (or as of a version)."""
    charge = aggregate.charge
    return InvoicePublic(
        id=aggregate.id,
        code=aggregate.code,
        client_id=aggregate.client_id,
        client_name=client_name,
        description=aggregate.description,
        amount=format_amount(aggregate.amount_cents),
        amount_paid=format_amount(aggregate.amount_paid_cents),
        amount_fees=format_amount(aggregate.amount_fees_cents),
        balance=format_amount(aggregate.balance_cents),
        fine_percent=str(aggregate.fine_percent),
        interest_monthly_percent=str(aggregate.interest_monthly_percent),
        issue_date=aggregate.issue_date,
        due_date=aggregate.due_date,
        reference_month=aggregate.reference_month,
        reference_year=aggregate.reference_year,
        billing_reference=aggregate.billing_reference,
        status=aggregate.status,
        status_label=aggregate.status.label,
        boleto=None
        if charge is None
        else BoletoPublic(
            bank_code=charge.bank_code,
            our_number=charge.our_number,
            barcode=charge.barcode,
            digitable_line=charge.digitable_line,
        ),
        pix=None if charge is None else PixPublic(emv=charge.pix_emv),
        charge_id=None if charge is None else charge.charge_id,
        paid_at=aggregate.paid_at,
        payment_method=None
        if aggregate.payment_method is None
        else aggregate.payment_method.value,
        failure_reason=aggregate.failure_reason,
        payments=[payment(paid) for paid in aggregate.payments],
        created_at=aggregate.created_on,
        updated_at=aggregate.modified_on,
    )


def invoice_row(row: Row) -> InvoicePublic:
    """An invoice from the panel view."""
    registered = row["barcode"] is not None
    status = InvoiceStatus(row["status"])
    principal, fees = row["principal_paid_cents"], row["amount_fees_cents"]
    balance = balance_of(status, row["amount_cents"], principal)
    return InvoicePublic(
        id=row["id"],
        code=row["code"],
        client_id=row["client_id"],
        client_name=row["client_name"],
        description=row["description"],
        amount=format_amount(row["amount_cents"]),
        amount_paid=format_amount(principal + fees),
        amount_fees=format_amount(fees),
        balance=format_amount(balance),
        fine_percent=row["fine_percent"],
        interest_monthly_percent=row["interest_monthly_percent"],
        issue_date=row["issue_date"],
        due_date=row["due_date"],
        reference_month=row["reference_month"],
        reference_year=row["reference_year"],
        billing_reference=row["billing_reference"],
        status=status,
        status_label=status.label,
        boleto=BoletoPublic(
            bank_code=row["bank_code"],
            our_number=row["our_number"],
            barcode=row["barcode"],
            digitable_line=row["digitable_line"],
        )
        if registered
        else None,
        pix=PixPublic(emv=row["pix_emv"]) if registered else None,
        charge_id=row["charge_id"],
        paid_at=row["paid_at"],
        payment_method=row["payment_method"],
        failure_reason=row["failure_reason"],
        payments=[PaymentPublic.model_validate(p) for p in payments_of(row)],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def customer_row(row: Row) -> CustomerPublic:
    """An ERP customer."""
    return CustomerPublic(
        id=row["id"],
        name=row["name"],
        document=row["document"],
        email=row["email"],
        origin=row["origin"],
        open_amount=format_amount(row["open_amount_cents"]),
        credit_amount=format_amount(row["credit_amount_cents"]),
        created_at=row["created_at"],
    )


def receivable_row(row: Row) -> ReceivablePublic:
    """An ERP receivable."""
    situation = ReceivableSituation(row["situation"])
    return ReceivablePublic(
        id=row["id"],
        invoice_id=row["invoice_id"],
        invoice_code=row["invoice_code"],
        customer_id=row["customer_id"],
        customer_name=row["customer_name"],
        description=row["description"],
        amount=format_amount(row["amount_cents"]),
        amount_paid=format_amount(row["amount_paid_cents"]),
        amount_fees=format_amount(row["amount_fees_cents"]),
        amount_open=format_amount(row["amount_open_cents"]),
        issue_date=row["issue_date"],
        due_date=row["due_date"],
        settled_at=row["settled_at"],
        situation=situation,
        situation_label=situation.label,
        overdue=row["overdue"],
    )


def credit(aggregate: Credit, customer_name: str) -> CreditPublic:
    """A customer credit as it is now."""
    return CreditPublic(
        id=aggregate.id,
        customer_id=aggregate.customer_id,
        customer_name=customer_name,
        invoice_id=aggregate.invoice_id,
        invoice_code=aggregate.invoice_code,
        amount=format_amount(aggregate.amount_cents),
        origin=aggregate.origin,
        status=aggregate.status,
        status_label=aggregate.status.label,
        created_at=aggregate.created_on,
        refunded_at=aggregate.refunded_at,
    )


def credit_row(row: Row) -> CreditPublic:
    """A customer credit."""
    status = CreditStatus(row["status"])
    return CreditPublic(
        id=row["id"],
        customer_id=row["customer_id"],
        customer_name=row["customer_name"],
        invoice_id=row["invoice_id"],
        invoice_code=row["invoice_code"],
        amount=format_amount(row["amount_cents"]),
        origin=row["origin"],
        status=status,
        status_label=status.label,
        created_at=row["created_at"],
        refunded_at=row["refunded_at"],
    )


def boleto_row(row: Row) -> BoletoItemPublic:
    """A boleto of bank control."""
    status = BoletoStatus(row["status"])
    return BoletoItemPublic(
        id=row["id"],
        invoice_id=row["invoice_id"],
        invoice_code=row["invoice_code"],
        account_id=row["account_id"],
        customer_name=row["customer_name"],
        our_number=row["our_number"],
        digitable_line=row["digitable_line"],
        barcode=row["barcode"],
        amount=format_amount(row["amount_cents"]),
        due_date=row["due_date"],
        status=status,
        status_label=status.label,
        paid_at=row["paid_at"],
    )


def aging_item(row: Row) -> AgingItem:
    """One customer's aging line."""
    return AgingItem(
        customer_id=row["customer_id"],
        customer_name=row["customer_name"],
        total=format_amount(row["total"]),
        **{bucket: format_amount(row[bucket]) for bucket in AGING_BUCKETS},
    )


def aging_totals(rows: list[Row]) -> AgingBuckets:
    """The aging report's totals."""
    sums = {b: sum(r[b] for r in rows) for b in (*AGING_BUCKETS, "total")}
    return AgingBuckets(**{b: format_amount(v) for b, v in sums.items()})
