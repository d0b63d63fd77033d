"""HTML and PDF of the invoice and its boleto, from one Jinja2 template.

The boleto follows the FEBRABAN ficha de compensação: bank area with the bank code
and its check digit, the linha digitável on top, the fields a bank clerk looks for,
the Interleaved 2 of 5 barcode at its standard size and the recibo do pagador; the
Pix QR code beside the barcode. A paid, refunded or cancelled invoice prints why it
is not to be paid, and neither barcode nor QR code (nobody should pay twice).

Everything is inline on the page (SVG); the e-mail body refers to PNG images by
``cid:`` instead, since webmail strips inline SVG. Nothing is fetched when the page
or the PDF is rendered.
"""

from __future__ import annotations

import io
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from PIL import Image, ImageDraw
from segno import make as make_qr

from application.documents import InvoiceDocument
from domain.boleto import BANK_NAMES, bank_check_digit, itf_widths
from domain.documents import format_document
from domain.invoices import SAO_PAULO

NARROW_MM = 0.254
"""The narrow element of the ITF barcode. With the 3:1 ratio, 44 digits take 405
narrow modules: 405 x 0.254 mm = 102.9 mm, the 103 mm x 13 mm of FEBRABAN's layout
(a 0.33 mm narrow bar at 3:1 would make it 134 mm, wider than the field)."""
BAR_HEIGHT_MM = 13.0
QUIET_ZONE_MM = 5.0
BARCODE_CID = "barcode"
QR_CID = "pix-qr"
PNG_MODULE_PX = 2
PNG_HEIGHT_PX = 100
PNG_QUIET_PX = 20
NOT_PAYABLE = frozenset({"paid", "refunded", "cancelled"})
"""Statuses whose boleto must not be paid: printed without barcode or QR code."""


def brl(cents: int) -> str:
    """``R$ 1.234,56``."""
    return format_currency(Decimal(cents) / 100, "BRL", locale="pt_BR")


def percent(value: Decimal) -> str:
    """``2,00%``."""
    return f"{value:.2f}".replace(".", ",") + "%"


def day(value: object) -> str:
    """``dd/mm/aaaa``."""
    return str(format_date(value, "dd/MM/yyyy", locale="pt_BR"))  # type: ignore[arg-type]


def late_fee_instructions(fine: Decimal, interest: Decimal) -> str:
    """What the boleto's Instruções say about late payment; nothing when none."""
    if not fine and not interest:
        return ""
    parts = []
    if fine:
        parts.append(f"multa de {percent(fine)}")
    if interest:
        parts.append(f"juros de {percent(interest)} ao mês")
    return "Após o vencimento, " + " e ".join(parts)


def barcode_svg(barcode: str) -> str:
    """The boleto barcode as inline SVG (Interleaved 2 of 5) at 103 mm x 13 mm.

    The view box counts narrow modules, so each bar is a whole number of them.
    The bars are one path (``M x 0 h width v height h -width z`` each): WeasyPrint
    draws it in a sixth less time than a hundred ``rect`` elements.
    """
    widths = itf_widths(barcode)
    total = sum(widths)
    height = BAR_HEIGHT_MM / NARROW_MM
    bars, x = [], 0
    for index, width in enumerate(widths):
        if index % 2 == 0:  # bars at even positions, spaces between
            bars.append(f"M{x} 0h{width}v{height:.2f}h-{width}z")
        x += width
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="itf" data-barcode="{barcode}"'
        f' width="{total * NARROW_MM:.2f}mm" height="{BAR_HEIGHT_MM}mm"'
        f' viewBox="0 0 {total} {height:.2f}" fill="#000" shape-rendering="crispEdges">'
        f'<path d="{"".join(bars)}"/></svg>'
    )


def barcode_png(barcode: str) -> bytes:
    """The same barcode as PNG, for e-mail clients."""
    widths = itf_widths(barcode)
    size = (sum(widths) * PNG_MODULE_PX + 2 * PNG_QUIET_PX, PNG_HEIGHT_PX)
    image = Image.new("1", size, 1)
    draw = ImageDraw.Draw(image)
    x = PNG_QUIET_PX
    for index, width in enumerate(widths):
        pixels = width * PNG_MODULE_PX
        if index % 2 == 0:
            draw.rectangle((x, 0, x + pixels - 1, PNG_HEIGHT_PX - 1), fill=0)
        x += pixels
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(payload: str) -> str:
    """The Pix QR code as inline SVG."""
    return str(make_qr(payload, error="m").svg_inline(scale=3))


def qr_png(payload: str) -> bytes:
    """The Pix QR code as PNG, for e-mail clients."""
    buffer = io.BytesIO()
    make_qr(payload, error="m").save(buffer, kind="png", scale=5, border=2)
    return buffer.getvalue()


def payable(document: InvoiceDocument) -> bool:
    """Whether the document prints a barcode and a QR code to pay it with."""
    return bool(document.barcode) and document.status not in NOT_PAYABLE


class TemplateRenderer:
    """Renders ``invoice.html``; WeasyPrint turns the same HTML into PDF."""

    def __init__(self) -> None:
        self.environment = Environment(
            loader=PackageLoader("adapters", "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def _render(self, document: InvoiceDocument, *, intro: str, mail: bool) -> str:
        template = self.environment.get_template("invoice.html")
        can_pay = payable(document)
        bank = document.bank_code or ""
        if can_pay and document.barcode and document.pix_emv:
            if mail:
                barcode = Markup(
                    '<img src="cid:{}" alt="Código de barras" width="425" height="50">'
                ).format(BARCODE_CID)
                qr = Markup(
                    '<img src="cid:{}" alt="QR code Pix" width="150" height="150">'
                ).format(QR_CID)
            else:
                barcode = Markup(barcode_svg(document.barcode))  # noqa: S704 - built here from digits
                qr = Markup(qr_svg(document.pix_emv))  # noqa: S704 - segno's own SVG
        else:
            barcode = qr = Markup("")
        return template.render(
            doc=document,
            intro=intro,
            mail=mail,
            payable=can_pay,
            amount=brl(document.amount_cents),
            amount_paid=brl(document.amount_paid_cents),
            issue_date=day(document.issue_date),
            due_date=day(document.due_date),
            paid_on=day(document.paid_at.astimezone(SAO_PAULO).date())
            if document.paid_at
            else "",
            document_label="CPF" if len(document.client_document) == 11 else "CNPJ",  # noqa: PLR2004
            client_document=format_document(document.client_document),
            reseller_document=format_document(document.reseller_document),
            bank_name=BANK_NAMES.get(bank, f"Banco {bank}"),
            bank_code=f"{bank}-{bank_check_digit(bank)}" if bank else "",
            beneficiary_code=beneficiary_code(document),
            instructions=late_fee_instructions(
                document.fine_percent, document.interest_monthly_percent
            ),
            barcode_svg=barcode,
            qr_svg=qr,
        )

    def html(self, document: InvoiceDocument) -> str:
        """The invoice page."""
        return self._render(document, intro="", mail=False)

    def mail_html(self, document: InvoiceDocument, intro: str) -> str:
        """The invoice as an e-mail body; barcode and QR code are ``cid:`` images."""
        return self._render(document, intro=intro, mail=True)

    def images(self, document: InvoiceDocument) -> dict[str, bytes]:
        """The PNGs ``mail_html`` refers to (none when it is not to be paid)."""
        if not payable(document) or not document.barcode or not document.pix_emv:
            return {}
        return {
            BARCODE_CID: barcode_png(document.barcode),
            QR_CID: qr_png(document.pix_emv),
        }

    def pdf(self, document: InvoiceDocument) -> bytes:
        """The invoice as PDF."""
        from weasyprint import HTML  # noqa: PLC0415 - heavy; only when a PDF is asked

        pdf: bytes = HTML(string=self.html(document)).write_pdf()
        return pdf


def beneficiary_code(document: InvoiceDocument) -> str:
    """Agência/Código do Beneficiário as far as the charge tells it.

    Partners return no agency; Banco do Brasil's 7-digit agreement (convênio) is
    the first seven digits of its 17-digit nosso número, which is what the barcode
    carries. Other layouts print the nosso número's issuer part unknown: ``—``.
    """
    number = document.our_number or ""
    if document.bank_code == "001" and len(number) == 17:  # noqa: PLR2004
        return number[:7]
    return "—"
