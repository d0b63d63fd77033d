"""What each notice to a client says, in Portuguese.

The invoice, a reminder, an overdue notice and a receipt are built on the same
printable document and the same message (``application.mail``).

Every notice but the receipt carries what is needed to pay without opening
anything: the amount, the due date, the linha digitável and the Pix copia e cola.
The receipt says what was paid and when instead; its document prints "PAGO" and
neither barcode nor QR code.
"""

from __future__ import annotations

from decimal import Decimal

from application.documents import DocumentRenderer, InvoiceDocument
from application.mail import Mail
from domain.invoices import SAO_PAULO, NoticeKind
from domain.money import format_brl


def _percent(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",") + "%"


def _day(document: InvoiceDocument) -> str:
    return document.due_date.strftime("%d/%m/%Y")


def subject_of(kind: NoticeKind, document: InvoiceDocument) -> str:
    """The subject line: which invoice, the amount, the due date (or when paid)."""
    code, amount, due = document.code, format_brl(document.amount_cents), _day(document)
    if kind is NoticeKind.REMINDER:
        return f"Lembrete: fatura {code} de {amount} vence em {due}"
    if kind is NoticeKind.OVERDUE:
        return f"Fatura {code} de {amount} venceu em {due}"
    if kind is NoticeKind.RECEIPT:
        return f"Recibo: fatura {code} de {amount} paga{_paid_on(document)}"
    return f"Fatura {code} de {document.reseller_name}: {amount}, vence em {due}"


def _paid_on(document: InvoiceDocument) -> str:
    if document.paid_at is None:
        return ""
    return " em " + document.paid_at.astimezone(SAO_PAULO).strftime("%d/%m/%Y")


def intro_of(kind: NoticeKind, document: InvoiceDocument) -> str:
    """The first sentence, on top of the text and of the HTML."""
    due = _day(document)
    if kind is NoticeKind.REMINDER:
        return f"Lembrete: a fatura {document.code} vence em {due}."
    if kind is NoticeKind.OVERDUE:
        return (
            f"A fatura {document.code} venceu em {due} e ainda não consta como paga."
            " Se já pagou, desconsidere este aviso."
        )
    if kind is NoticeKind.RECEIPT:
        return f"Recebemos o pagamento da fatura {document.code}. Obrigado!"
    return f"Segue a fatura {document.code} de {document.reseller_name}."


def text_of(kind: NoticeKind, document: InvoiceDocument) -> str:
    """The plain-text part: everything needed to pay (or what was paid)."""
    lines = [
        f"Olá, {document.client_name}.",
        "",
        intro_of(kind, document),
        "",
        f"Fatura: {document.code} — {document.description}",
        f"Valor: {format_brl(document.amount_cents)}",
        f"Vencimento: {_day(document)}",
    ]
    if kind is NoticeKind.RECEIPT:
        lines.append(f"Valor pago: {format_brl(document.amount_paid_cents)}")
        if document.paid_at is not None:
            paid_on = document.paid_at.astimezone(SAO_PAULO)
            lines.append(f"Pago em: {paid_on:%d/%m/%Y}")
    elif document.digitable_line and document.pix_emv:
        if kind is NoticeKind.OVERDUE and (
            document.fine_percent or document.interest_monthly_percent
        ):
            lines.append(
                f"Após o vencimento: multa de {_percent(document.fine_percent)} e"
                f" juros de {_percent(document.interest_monthly_percent)} ao mês."
            )
        lines += [
            "",
            "Linha digitável do boleto:",
            document.digitable_line,
            "",
            "Pix copia e cola:",
            document.pix_emv,
        ]
    lines += [
        "",
        "A fatura em PDF segue anexa.",
        f"{document.reseller_name}",
        "",
    ]
    return "\n".join(lines)


def notice_mail(
    kind: NoticeKind, document: InvoiceDocument, renderer: DocumentRenderer
) -> Mail:
    """The whole message of one notice about ``document``."""
    return Mail(
        subject=subject_of(kind, document),
        text=text_of(kind, document),
        html=renderer.mail_html(document, intro_of(kind, document)),
        images=renderer.images(document),
        pdf=renderer.pdf(document),
        pdf_filename=f"fatura-{document.code}.pdf",
    )
