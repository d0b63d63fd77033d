"""The printable invoice: what it shows, gathered from the ledger.

Rendering (HTML from a template, PDF from the HTML) is an adapter at the edges;
this module only assembles the facts, so that the API and the mail process show
the very same document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from application.ledger import Ledger
from domain.invoices import Invoice


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything a printed invoice (and its boleto) shows."""

    reseller_name: str
    reseller_document: str
    client_name: str
    client_document: str
    client_email: str
    code: int
    description: str
    reference_month: str
    reference_year: str
    issue_date: date
    due_date: date
    amount_cents: int
    amount_paid_cents: int
    status_label: str
    digitable_line: str | None
    barcode: str | None
    pix_emv: str | None
    paid_at: datetime | None


def invoice_document(ledger: Ledger, invoice: Invoice) -> InvoiceDocument:
    """The document of ``invoice`` as it is now."""
    reseller = ledger.get_reseller(invoice.reseller_id)
    client = ledger.get_client(invoice.reseller_id, invoice.client_id)
    charge = invoice.charge
    return InvoiceDocument(
        reseller_name=reseller.name,
        reseller_document=reseller.document,
        client_name=client.name,
        client_document=client.document,
        client_email=client.email,
        code=invoice.code,
        description=invoice.description,
        reference_month=invoice.reference_month,
        reference_year=invoice.reference_year,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        amount_cents=invoice.amount_cents,
        amount_paid_cents=invoice.amount_paid_cents,
        status_label=invoice.status.label,
        digitable_line=charge.digitable_line if charge else None,
        barcode=charge.barcode if charge else None,
        pix_emv=charge.pix_emv if charge else None,
        paid_at=invoice.paid_at,
    )


class DocumentRenderer(Protocol):
    """Turns an invoice document into HTML and PDF."""

    def html(self, document: InvoiceDocument) -> str:
        """The invoice as a self-contained HTML page."""
        ...

    def pdf(self, document: InvoiceDocument) -> bytes:
        """The same invoice as PDF."""
        ...
