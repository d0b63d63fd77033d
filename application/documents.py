"""The printable invoice: what it shows, gathered from the ledger.

Rendering (HTML from a template, PDF from the HTML) is an adapter at the edges;
this module only assembles the facts, so that the API and the mail process show
the very same document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from application.ledger import Ledger
from domain.errors import DomainError
from domain.invoices import Invoice
from domain.pix import PixCode


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
    status: str = "awaiting_payment"
    bank_code: str | None = None
    our_number: str | None = None
    fine_percent: Decimal = Decimal(0)
    interest_monthly_percent: Decimal = Decimal(0)
    client_city: str = ""
    client_state: str = ""
    reseller_email: str = ""
    pix_city: str = ""


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
        status=invoice.status.value,
        bank_code=charge.bank_code if charge else None,
        our_number=charge.our_number if charge else None,
        fine_percent=invoice.fine_percent,
        interest_monthly_percent=invoice.interest_monthly_percent,
        client_city=client.city or "",
        client_state=client.state or "",
        reseller_email=reseller.email,
        pix_city=_pix_city(charge.pix_emv) if charge else "",
    )


def _pix_city(emv: str) -> str:
    """The merchant city the partner put in the Pix code (shown by the QR)."""
    try:
        return PixCode.decode(emv).merchant_city
    except DomainError:
        return ""


class DocumentRenderer(Protocol):
    """Turns an invoice document into HTML and PDF."""

    def html(self, document: InvoiceDocument) -> str:
        """The invoice as a self-contained HTML page."""
        ...

    def pdf(self, document: InvoiceDocument) -> bytes:
        """The same invoice as PDF."""
        ...

    def mail_html(self, document: InvoiceDocument, intro: str) -> str:
        """The invoice as an e-mail body: ``intro`` on top, images by ``cid:``."""
        ...

    def images(self, document: InvoiceDocument) -> dict[str, bytes]:
        """The PNG images ``mail_html`` refers to, by content id."""
        ...
