"""HTML and PDF of the invoice, from one Jinja2 template.

Everything is inline: the boleto's Interleaved 2 of 5 barcode (python-barcode) and
the Pix QR code (segno) are embedded as SVG, amounts and dates are in Brazilian
format (babel), and nothing is fetched when the page or the PDF is rendered.
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency
from barcode import ITF
from barcode.writer import SVGWriter
from jinja2 import Environment, PackageLoader, select_autoescape
from segno import make as make_qr

from application.documents import InvoiceDocument

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FILL_STYLE = re.compile(r'style="fill:(\w+);?"')


def brl(cents: int) -> str:
    """``R$ 1.234,56``."""
    return format_currency(Decimal(cents) / 100, "BRL", locale="pt_BR")


def barcode_svg(barcode: str) -> str:
    """The boleto barcode as inline SVG (Interleaved 2 of 5)."""
    rendered = ITF(barcode, writer=SVGWriter()).render(
        writer_options={
            "module_width": 0.13,
            "module_height": 13.0,
            "quiet_zone": 2.0,
            "write_text": False,
        }
    )
    text = rendered.decode() if isinstance(rendered, bytes) else str(rendered)
    text = _COMMENT.sub("", _PROLOGUE.sub("", text, count=1))
    # Presentation attributes rather than inline CSS, which WeasyPrint's SVG ignores.
    return _FILL_STYLE.sub(r'fill="\1"', text)


def qr_svg(payload: str) -> str:
    """The Pix QR code as inline SVG."""
    return str(make_qr(payload, error="m").svg_inline(scale=3))


class TemplateRenderer:
    """Renders ``invoice.html``; WeasyPrint turns the same HTML into PDF."""

    def __init__(self) -> None:
        self.environment = Environment(
            loader=PackageLoader("adapters", "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def html(self, document: InvoiceDocument) -> str:
        """The invoice page."""
        template = self.environment.get_template("invoice.html")
        return template.render(
            doc=document,
            amount=brl(document.amount_cents),
            amount_paid=brl(document.amount_paid_cents),
            issue_date=format_date(document.issue_date, "dd/MM/yyyy", locale="pt_BR"),
            due_date=format_date(document.due_date, "dd/MM/yyyy", locale="pt_BR"),
            document_label="CPF" if len(document.client_document) == 11 else "CNPJ",  # noqa: PLR2004
            barcode_svg=barcode_svg(document.barcode) if document.barcode else "",
            qr_svg=qr_svg(document.pix_emv) if document.pix_emv else "",
        )

    def pdf(self, document: InvoiceDocument) -> bytes:
        """The invoice as PDF."""
        from weasyprint import HTML  # noqa: PLC0415 - heavy; only when a PDF is asked

        pdf: bytes = HTML(string=self.html(document)).write_pdf()
        return pdf
