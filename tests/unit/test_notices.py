"""Notices: each claimed and recorded once on the invoice; the message they share."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from application.mail import Mail, build_message
from application.notices import subject_of, text_of
from domain.errors import InvalidTransitionError
from domain.invoices import InvoiceStatus, NoticeKind
from tests.unit.test_invoices import DUE, an_invoice_in
from tests.unit.test_printable_invoice import EMV, LINE, a_document

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_a_reminder_is_due_in_the_days_before_the_due_date_only() -> None:
    invoice = an_invoice_in(InvoiceStatus.AWAITING_PAYMENT)
    assert not invoice.reminder_is_due(DUE - timedelta(days=4), 3)
    assert invoice.reminder_is_due(DUE - timedelta(days=3), 3)
    assert invoice.reminder_is_due(DUE - timedelta(days=1), 3)  # a missed day caught up
    assert not invoice.reminder_is_due(DUE, 3)
    assert not invoice.reminder_is_due(DUE - timedelta(days=3), None)
    assert not an_invoice_in(InvoiceStatus.PAID).reminder_is_due(DUE, 30)


def test_an_invoice_paid_in_part_owes_its_overdue_notice_after_the_due_date() -> None:
    partly = an_invoice_in(InvoiceStatus.PARTIALLY_PAID)
    assert not partly.overdue_notice_is_due(DUE)
    assert partly.overdue_notice_is_due(DUE + timedelta(days=1))
    partly.request_notice(NoticeKind.OVERDUE, DUE + timedelta(days=1))
    assert not partly.overdue_notice_is_due(DUE + timedelta(days=2))
    # Awaiting payment, it gets the notice by becoming overdue instead.
    awaiting = an_invoice_in(InvoiceStatus.AWAITING_PAYMENT)
    assert not awaiting.overdue_notice_is_due(DUE + timedelta(days=1))


def test_a_notice_is_claimed_and_recorded_once() -> None:
    invoice = an_invoice_in(InvoiceStatus.AWAITING_PAYMENT)
    day = DUE - timedelta(days=2)
    invoice.request_notice(NoticeKind.REMINDER, day)
    assert not invoice.reminder_is_due(day, 3)
    with pytest.raises(InvalidTransitionError):
        invoice.request_notice(NoticeKind.REMINDER, day)
    invoice.record_notice_sent(NoticeKind.REMINDER, NOW)
    with pytest.raises(InvalidTransitionError):
        invoice.record_notice_failed(NoticeKind.REMINDER, NOW, "550")
    invoice.record_notice_failed(NoticeKind.OVERDUE, NOW, "550 no\x00such\nuser")
    assert [(n.kind, n.sent_at, n.reason) for n in invoice.notices] == [
        (NoticeKind.REMINDER, NOW, None),
        (NoticeKind.OVERDUE, None, "550 no such user"),
    ]
    assert invoice.notice_done(NoticeKind.OVERDUE)
    assert not invoice.notice_done(NoticeKind.RECEIPT)


def test_the_text_has_everything_needed_to_pay_and_the_receipt_what_was_paid() -> None:
    document = a_document()
    for kind in (NoticeKind.INVOICE, NoticeKind.REMINDER, NoticeKind.OVERDUE):
        text = text_of(kind, document)
        for fact in ("R$ 1.234,56", "10/12/2026", LINE, EMV):
            assert fact in text, (kind, fact)
        assert "R$ 1.234,56" in subject_of(kind, document)
        assert "10/12/2026" in subject_of(kind, document)
    paid = a_document(
        status="paid",
        amount_paid_cents=123456,
        paid_at=datetime(2026, 12, 5, 2, 30, tzinfo=UTC),
    )
    receipt = text_of(NoticeKind.RECEIPT, paid)
    assert "Valor pago: R$ 1.234,56" in receipt
    assert "Pago em: 04/12/2026" in receipt  # 23:30 in São Paulo
    assert LINE not in receipt
    assert subject_of(NoticeKind.RECEIPT, paid) == (
        "Recibo: fatura 42 de R$ 1.234,56 paga em 04/12/2026"
    )


def test_the_message_carries_its_parts_and_headers_and_refuses_header_injection() -> (
    None
):
    mail = Mail(
        subject="Fatura 1\r\nBcc: x@evil.example",
        text="texto",
        html='<img src="cid:barcode"><img src="cid:pix-qr">',
        images={"barcode": b"\x89PNG-1", "pix-qr": b"\x89PNG-2"},
        pdf=b"%PDF-1.4",
        pdf_filename="fatura-1.pdf",
    )
    built = build_message(
        mail,
        mail_from="faturas@revenda.example",
        sender_name="Revenda\nBcc: y@evil.example",
        reply_to="dono@revenda.example",
        to="ana@example.com",
        sent_at=NOW,
    )
    parsed = email.message_from_bytes(built.as_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Fatura 1 Bcc: x@evil.example"
    assert parsed["From"].addresses[0].addr_spec == "faturas@revenda.example"
    assert parsed["Reply-To"] == "dono@revenda.example"
    assert parsed["Date"].datetime == NOW
    assert str(parsed["Message-ID"]).endswith("@revenda.example>")
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    images = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert [p.get_content() for p in images] == [b"\x89PNG-1", b"\x89PNG-2"]
    for image in images:
        assert f"cid:{str(image['Content-ID']).strip('<>')}" in html.get_content()
    (pdf,) = list(parsed.iter_attachments())
    assert pdf.get_filename() == "fatura-1.pdf"
