"""Printable invoices over HTTP, and the e-mail each registered invoice gets."""

from __future__ import annotations

import email
import io
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from domain.boleto import Boleto, line_to_barcode
from domain.pix import PixCode
from tests.e2e.conftest import SECRETS, Session, new_tenant
from tests.e2e.server import free_port, running_server


class Inbox:
    """An aiosmtpd handler that keeps every message it receives.

    While ``out_of_service`` it refuses every message as a server in trouble does
    (421) and counts the refusals, so a test can see an outage was met.
    """

    def __init__(self, *, out_of_service: bool = False) -> None:
        self.messages: list[EmailMessage] = []
        self.out_of_service = out_of_service
        self.refused = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.out_of_service:
            self.refused += 1
            return "421 4.3.2 Service not available"
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    def wait_refused(self, count: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.refused < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.refused


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def noticed(
    session: Session, invoice_id: str, count: int = 1, timeout: float = 90
) -> list[dict[str, Any]]:
    """The invoice's notices once ``count`` are recorded (waiting a while).

    The shared server's mailer works through every test's invoices in log order,
    rendering a PDF for each notice, so under load a notice can take a while.
    """
    deadline = time.monotonic() + timeout
    while True:
        invoice = session.ok(session.get(f"/v1/invoices/{invoice_id}"))
        notices: list[dict[str, Any]] = invoice["notices"]
        if len(notices) >= count or time.monotonic() > deadline:
            return notices
        time.sleep(0.05)


def subject_of(invoice: dict[str, Any], reseller: str) -> str:
    """The subject of the e-mail that carries a registered invoice."""
    amount = "R$ " + invoice["amount"].replace(".", ",")
    due = "/".join(reversed(invoice["due_date"].split("-")))
    return f"Fatura {invoice['code']} de {reseller}: {amount}, vence em {due}"


def registered(session: Session) -> dict[str, Any]:
    client = session.billable_client(name="Ana Souza")
    invoice = session.ok(session.invoice(client["id"]), 201)
    return session.wait_registered(invoice["id"])


def test_html_pdf_and_the_boleto_print_show_the_registered_invoice(
    tenant: Session,
) -> None:
    invoice = registered(tenant)
    html = tenant.get(f"/v1/invoices/{invoice['id']}/html")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert invoice["boleto"]["digitable_line"] in html.text
    assert invoice["pix"]["emv"] in html.text
    assert "R$\xa0150,00" in html.text
    pdf = tenant.get(f"/v1/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    boletos = tenant.ok(tenant.get("/v1/erp/boletos"))["items"]
    boleto = next(b for b in boletos if b["invoice_id"] == invoice["id"])
    printed = tenant.get(f"/v1/erp/boletos/{boleto['id']}/print")
    assert printed.status_code == 200
    assert invoice["boleto"]["digitable_line"] in printed.text


def test_an_smtp_outage_is_retried_until_the_mail_goes(
    smtp_port: int, fresh_database: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": fresh_database,
        **SECRETS,
        "LEDGER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    handler = Inbox(out_of_service=True)
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with running_server(env, tmp_path / "serve.log") as base_url:
            session = new_tenant(base_url)
            reseller = session.ok(session.get("/v1/me"))["reseller"]["name"]
            invoice = registered(session)
            refused = handler.wait_refused(2)  # a first attempt and a retry
            assert handler.messages == []
            handler.out_of_service = False
            messages = handler.wait_for(1, timeout=40)
    finally:
        controller.stop()
    assert refused >= 2
    assert [str(m["Subject"]) for m in messages] == [subject_of(invoice, reseller)]


def test_without_smtp_the_mail_is_written_as_an_eml_file(
    fresh_database: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = {"DATABASE_URL": fresh_database, **SECRETS, "LEDGER_DATA_DIR": str(data_dir)}
    with running_server(env, tmp_path / "serve.log") as base_url:
        session = new_tenant(base_url)
        invoice = registered(session)
        deadline = time.monotonic() + 30
        files: list[Path] = []
        while not files and time.monotonic() < deadline:
            files = sorted((data_dir / "mail").glob("*.eml"))
            time.sleep(0.05)
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=default_policy)
    assert str(invoice["code"]) in str(message["Subject"])


def pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader  # noqa: PLC0415

    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_whole_story_from_issue_to_paid_everywhere(
    inbox: Inbox, smtp_port: int, fresh_database: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": fresh_database,
        **SECRETS,
        "LEDGER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    with running_server(env, tmp_path / "serve.log") as base_url:
        session = new_tenant(base_url)
        client = session.billable_client(name="Cliente da História")
        issued = session.ok(session.invoice(client["id"], amount="321.00"), 201)
        assert issued["status"] == "processing"
        invoice = session.wait_registered(issued["id"])
        assert invoice["status"] == "awaiting_payment"
        line = invoice["boleto"]["digitable_line"]
        assert line_to_barcode(line) == invoice["boleto"]["barcode"]
        assert Boleto.from_barcode(invoice["boleto"]["barcode"]).amount_cents == 32100
        assert PixCode.decode(invoice["pix"]["emv"]).amount_cents == 32100

        (message,) = inbox.wait_for(1)
        (attachment,) = [
            part
            for part in message.iter_attachments()
            if part.get_content_type() == "application/pdf"
        ]
        text = pdf_text(attachment.get_content())
        assert line in text
        assert "R$\xa0321,00" in text

        paid_queued = session.post(
            f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "boleto"}
        )
        assert paid_queued.status_code == 202
        paid = session.wait_for(invoice["id"], "paid")
        assert (paid["status_label"], paid["amount_paid"]) == ("Pago", "321.00")
        events = session.ok(session.get(f"/v1/invoices/{invoice['id']}/events"))
        head = events["items"][-1]["position"]
        listed = session.ok(session.get("/v1/invoices", params={"after": head}))
        assert listed["items"][0]["status"] == "paid"
        receivables = session.ok(
            session.get("/v1/erp/receivables", params={"after": head})
        )
        assert receivables["items"][0]["situation"] == "settled"
        assert receivables["totals"]["amount_open"] == "0.00"
        boletos = session.ok(session.get("/v1/erp/boletos", params={"after": head}))
        assert boletos["items"][0]["status_label"] == "Pago"
        customers = session.ok(session.get("/v1/erp/customers", params={"after": head}))
        customer = next(c for c in customers["items"] if c["id"] == client["id"])
        assert customer["open_amount"] == "0.00"
        pdf = session.get(f"/v1/invoices/{invoice['id']}/pdf").content
        assert "Pago" in pdf_text(pdf)
