"""Notices through a real SMTP server: the invoice, the reminder, the overdue notice
and the receipt arrive once each, also when the sweep runs twice at once and after a
restart, and for an invoice paid in part; a recipient refused for good (5xx) is
recorded as failed and holds up no one.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiosmtpd.controller import Controller

from domain.boleto import line_to_barcode
from tests.builders import a_cpf, days_from_today
from tests.e2e.conftest import DUE_IN_DAYS, SECRETS, Session, login, new_tenant
from tests.e2e.server import clock_env, free_port, running_server
from tests.e2e.test_mail_and_documents import Inbox, noticed, subject_of
from tests.integration.workers import run_cli

MAIL_FROM = "faturas@revenda.example"


class RefusingInbox(Inbox):
    """Keeps every message; refuses for good recipients starting with ``refuse-``."""

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook
        self,
        _server: Any,
        _session: Any,
        envelope: Any,
        address: str,
        _options: list[str],
    ) -> str:
        if address.startswith("refuse-"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[RefusingInbox, int]]:
    port = free_port()
    inbox = RefusingInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def an_invoice_for(session: Session, email: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Ana Souza", "document": a_cpf()}
    body["email"] = email or f"c-{uuid4().hex[:10]}@example.com.br"
    client = session.ok(session.post("/v1/clients", json=body), 201)
    session.contract(client["id"])
    invoice = session.ok(session.invoice(client["id"]), 201)
    registered = session.wait_registered(invoice["id"])
    assert registered["status"] == "awaiting_payment"
    return registered


def tick_twice_at_once(database_url: str, day: str) -> None:
    """Two ``ledger tick --today day`` racing, as two sweeps might."""
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(
                lambda _: run_cli(
                    database_url, "tick", "--today", day, env=SECRETS | clock_env()
                ),
                range(2),
            )
        )
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr


def kinds_by_invoice(messages: list[EmailMessage]) -> dict[str, list[str]]:
    """Which notices each invoice's client got, by the subject's first words."""
    kinds: dict[str, list[str]] = {}
    for message in messages:
        subject = str(message["Subject"])
        code = subject.split("atura ", 1)[-1].split(maxsplit=1)[0]
        kind = (
            "reminder"
            if subject.startswith("Lembrete")
            else "receipt"
            if subject.startswith("Recibo")
            else "overdue"
            if " venceu em " in subject
            else "invoice"
        )
        kinds.setdefault(code, []).append(kind)
    return kinds


def test_reminder_overdue_notice_and_receipt_arrive_once_each(
    smtp: tuple[RefusingInbox, int], fresh_database: str, tmp_path: Path
) -> None:
    inbox, port = smtp
    env = {
        "DATABASE_URL": fresh_database,
        **SECRETS,
        "LEDGER_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "LEDGER_MAIL_FROM": MAIL_FROM,
    }
    with running_server(env, tmp_path / "serve.log") as base_url:
        session = new_tenant(base_url)
        settings = {
            "reminder_days_before_due": 3,
            "fine_percent": "2.00",
            "interest_monthly_percent": "1.00",
        }
        session.ok(session.patch("/v1/settings/billing", json=settings))
        reseller = session.ok(session.get("/v1/me"))["reseller"]["name"]
        unpaid = an_invoice_for(session)
        paid = an_invoice_for(session)
        partly = an_invoice_for(session)
        refused = an_invoice_for(session, f"refuse-{uuid4().hex[:8]}@example.com.br")
        inbox.wait_for(3)
        part = session.post(
            f"/v1/sandbox/invoices/{partly['id']}/pay",
            json={"method": "boleto", "amount": "50.00"},
        )
        assert part.status_code == 202, part.text
        assert (
            session.wait_for(partly["id"], "partially_paid")["amount_paid"] == "50.00"
        )
        assert noticed(session, refused["id"])[0]["reason"] == (
            "550 5.1.1 no such mailbox"
        )

        tick_twice_at_once(fresh_database, days_from_today(DUE_IN_DAYS - 3))
        inbox.wait_for(6)  # the three reminders
        assert len(noticed(session, refused["id"], 2)) == 2

        queued = session.post(
            f"/v1/sandbox/invoices/{paid['id']}/pay", json={"method": "pix"}
        )
        assert queued.status_code == 202, queued.text
        assert session.wait_for(paid["id"], "paid")["status"] == "paid"
        inbox.wait_for(7)  # the receipt

        tick_twice_at_once(fresh_database, days_from_today(DUE_IN_DAYS + 1))
        inbox.wait_for(9)  # two overdue notices
        assert len(noticed(session, refused["id"], 3)) == 3
    # After a restart nothing is sent again: mail goes in log order, so once a
    # later invoice's mail is in, a second copy of an earlier one would be too.
    with running_server(env, tmp_path / "serve.log") as base_url:
        again = login(base_url, session.email, session.reseller_id)
        later = an_invoice_for(again)
        inbox.wait_for(10, timeout=60)
        refused_notices = noticed(again, refused["id"], 3)
        recorded = listed_notices(again, unpaid["id"])

    named = ((unpaid, "u"), (paid, "p"), (partly, "q"), (later, "l"))
    codes = {str(i["code"]): k for i, k in named}
    kinds = kinds_by_invoice(inbox.messages)
    assert {codes[code]: sent for code, sent in kinds.items()} == {
        "u": ["invoice", "reminder", "overdue"],
        "p": ["invoice", "reminder", "receipt"],
        "q": ["invoice", "reminder", "overdue"],  # paid in part: still owes
        "l": ["invoice"],
    }
    assert [(n["kind"], n["reason"]) for n in refused_notices] == [
        ("invoice", "550 5.1.1 no such mailbox"),
        ("reminder", "550 5.1.1 no such mailbox"),
        ("overdue", "550 5.1.1 no such mailbox"),
    ]
    assert [n["kind"] for n in recorded] == ["invoice", "reminder", "overdue"]
    assert all(n["sent_at"] for n in recorded)

    check_the_messages(inbox.messages, unpaid, paid, reseller, session.email)


def check_the_messages(
    messages: list[EmailMessage],
    unpaid: dict[str, Any],
    paid: dict[str, Any],
    reseller: str,
    owner: str,
) -> None:
    """The invoice and reminder arrive whole; the receipt says what was paid."""
    by_subject = {str(m["Subject"]): m for m in messages}
    day = "/".join(reversed(unpaid["due_date"].split("-")))
    amount = "R$ 150,00"
    reminder = by_subject[
        f"Lembrete: fatura {unpaid['code']} de {amount} vence em {day}"
    ]
    assert_arrives_whole(reminder, unpaid, reseller, owner)
    invoice_mail = by_subject[subject_of(unpaid, reseller)]
    assert_arrives_whole(invoice_mail, unpaid, reseller, owner)
    receipt = next(m for s, m in by_subject.items() if s.startswith("Recibo"))
    assert str(paid["code"]) in str(receipt["Subject"])
    text = receipt.get_body(preferencelist=("plain",))
    assert text is not None
    assert "Valor pago: R$ 150,00" in text.get_content()
    assert paid["boleto"]["digitable_line"] not in text.get_content()
    assert not any(p.get_content_type() == "image/png" for p in receipt.walk())


def listed_notices(session: Session, invoice_id: str) -> list[dict[str, Any]]:
    """The notices as the invoice list (the panel's view) shows them."""
    listed = session.ok(session.get("/v1/invoices"))["items"]
    notices: list[dict[str, Any]] = next(i for i in listed if i["id"] == invoice_id)[
        "notices"
    ]
    return notices


def assert_arrives_whole(
    message: EmailMessage, invoice: dict[str, Any], reseller: str, reply_to: str
) -> None:
    """Headers, the plain text to pay by, the HTML with its inline PNGs, the PDF."""
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (reseller, MAIL_FROM)
    assert message["Reply-To"].addresses[0].addr_spec == reply_to
    assert message["Date"] is not None
    assert str(message["Message-ID"]).endswith("@revenda.example>")
    line = invoice["boleto"]["digitable_line"]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    for fact in ("R$ 150,00", line, invoice["pix"]["emv"], "Vencimento: "):
        assert fact in content, fact
    assert line_to_barcode(line) == invoice["boleto"]["barcode"]
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    markup = html.get_content()
    assert line in markup
    assert "<svg" not in markup
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    images = [p for p in related[0].walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for image in images:
        assert image.get_content().startswith(b"\x89PNG")
        assert f"cid:{str(image['Content-ID']).strip('<>')}" in markup
    (pdf,) = list(message.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"fatura-{invoice['code']}.pdf"
