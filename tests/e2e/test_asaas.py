"""The seed's story with ``LEDGER_GATEWAY=asaas``, against the fake Asaas over HTTP.

A ``ledger serve`` of its own (its settings name another partner) on a database of
its own (its processes must not register the sandbox server's invoices), talking to
the fake Asaas, which delivers its webhooks back with the configured token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from api.database import create_database, drop_database, with_database
from domain.boleto import line_to_barcode
from domain.pix import PixCode
from tests.e2e.conftest import SECRETS, Session, new_tenant
from tests.e2e.server import running_server
from tests.fakes.asaas import Delivery, FakeAsaas
from tests.integration.workers import run_cli

API_KEY = "$aact_YTU5YTE0M2M2N2I4MTliNzk0YTI5N2U5MzdjNWZmNDQ6OjAwMDAwMDAwMDAwMDAwMDAwMDA6OiRhYWNoXzRlNTQ"
TOKEN = "asaas-webhook-token-" + "z" * 24


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAsaas]:
    with FakeAsaas(API_KEY, TOKEN).running() as server:
        yield server


@pytest.fixture(scope="module")
def asaas_database(database_url: str) -> Iterator[str]:
    dbname = f"ledger_asaas_{uuid4().hex[:10]}"
    create_database(database_url, dbname)
    try:
        yield with_database(database_url, dbname)
    finally:
        drop_database(database_url, dbname)


def asaas_env(fake: FakeAsaas) -> dict[str, str]:
    return {
        "LEDGER_GATEWAY": "asaas",
        "LEDGER_ASAAS_API_KEY": API_KEY,
        "LEDGER_ASAAS_BASE_URL": fake.url,
        "LEDGER_ASAAS_WEBHOOK_TOKEN": TOKEN,
    }


@pytest.fixture(scope="module")
def asaas_url(
    fake: FakeAsaas, asaas_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("asaas") / "serve.log"
    env = {"DATABASE_URL": asaas_database, **SECRETS, **asaas_env(fake)}
    with running_server(env, log) as base_url:
        fake.webhook_url = f"{base_url}/v1/webhooks/asaas"
        yield base_url
    fake.webhook_url = ""


@pytest.fixture
def tenant(asaas_url: str) -> Session:
    return new_tenant(asaas_url)


def registered(session: Session) -> dict[str, Any]:
    client = session.billable_client()
    issued = session.ok(session.invoice(client["id"], amount="150.00"), 201)
    invoice = session.wait_registered(issued["id"])
    assert invoice["status"] == "awaiting_payment", invoice
    return invoice


def delivered(*deliveries: Delivery) -> list[list[int]]:
    for delivery in deliveries:
        assert delivery.done.wait(15), "the fake never finished delivering"
    return [delivery.statuses for delivery in deliveries]


def views(session: Session, invoice_id: str) -> dict[str, Any]:
    """The invoice as every view shows it, once they caught up with its events."""
    history = session.ok(session.get(f"/v1/invoices/{invoice_id}/events"))["items"]
    head = {"after": max(e["position"] for e in history)}
    invoice = session.ok(session.get(f"/v1/invoices/{invoice_id}"))
    listed = session.ok(session.get("/v1/invoices", params=head))["items"]
    receivables = session.ok(session.get("/v1/erp/receivables", params=head))
    boletos = session.ok(session.get("/v1/erp/boletos", params=head))["items"]
    customers = session.ok(session.get("/v1/erp/customers", params=head))["items"]
    return {
        "invoice": invoice,
        "listed": next(i for i in listed if i["id"] == invoice_id)["status"],
        "receivable": next(
            r for r in receivables["items"] if r["invoice_id"] == invoice_id
        ),
        "boleto": next(b for b in boletos if b["invoice_id"] == invoice_id),
        "customer": next(c for c in customers if c["id"] == invoice["client_id"]),
        "events": [e["type"] for e in history],
    }


def test_issue_register_with_asaas_pay_and_every_view_shows_it_paid_once(
    tenant: Session, fake: FakeAsaas
) -> None:
    invoice = registered(tenant)
    payment = fake.payment_for(invoice["id"])
    assert invoice["charge_id"] == payment["id"]
    assert (payment["billingType"], payment["value"], payment["dueDate"]) == (
        "BOLETO",
        Decimal("150.0"),
        invoice["due_date"],
    )
    # Registered with Asaas's linha digitável and Pix payload.
    boleto = fake.boleto(payment)
    assert line_to_barcode(invoice["boleto"]["digitable_line"]) == boleto.barcode
    assert invoice["boleto"]["barcode"] == boleto.barcode
    assert invoice["boleto"]["our_number"] == payment["nossoNumero"]
    assert PixCode.decode(invoice["pix"]["emv"]).amount_cents == 15000

    confirmed, received = fake.pay(payment["id"])
    assert delivered(confirmed, received) == [[200], [200]]
    again = fake.redeliver(received)
    assert delivered(again) == [[200]]
    paid = tenant.wait_for(invoice["id"], "paid")
    assert (paid["amount_paid"], paid["balance"], paid["payment_method"]) == (
        "150.00",
        "0.00",
        "boleto",
    )
    seen = views(tenant, invoice["id"])
    assert seen["listed"] == "paid"
    assert (seen["receivable"]["situation"], seen["receivable"]["amount_paid"]) == (
        "settled",
        "150.00",
    )
    assert seen["boleto"]["status"] == "paid"
    assert seen["customer"]["open_amount"] == "0.00"
    # Confirmed, received and received again: one payment.
    assert seen["events"].count("Invoice.PaymentReceived") == 1, seen["events"]


def _post(asaas_url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{asaas_url}/v1/webhooks/asaas",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def test_a_wrong_or_missing_token_is_401_and_records_nothing(
    tenant: Session, fake: FakeAsaas, asaas_url: str
) -> None:
    invoice = registered(tenant)
    payment = fake.payment_for(invoice["id"])
    body = json.dumps(
        {
            "id": f"evt_{uuid4().hex}",
            "event": "PAYMENT_RECEIVED",
            "dateCreated": "2026-01-01 10:00:00",
            "payment": {**json.loads(json.dumps(payment, default=str)), "value": 150},
        }
    ).encode()
    for headers in ({}, {"asaas-access-token": TOKEN + "x"}, {"access_token": TOKEN}):
        response = _post(asaas_url, body, headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))["status"] == (
        "awaiting_payment"
    )
    accepted = _post(asaas_url, body, {"asaas-access-token": TOKEN})
    assert (accepted.status_code, accepted.json()) == (200, {"result": "applied"})


def test_cancelling_deletes_the_asaas_payment_and_its_notice_changes_nothing(
    tenant: Session, fake: FakeAsaas
) -> None:
    invoice = registered(tenant)
    payment_id = invoice["charge_id"]
    tenant.ok(
        tenant.post(f"/v1/invoices/{invoice['id']}/cancel", json={"reason": "Erro"})
    )
    deadline = time.monotonic() + 15
    while not fake.payments[payment_id]["deleted"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.payments[payment_id]["deleted"]
    deleted = next(
        d
        for d in fake.deliveries
        if d.body["event"] == "PAYMENT_DELETED"
        and d.body["payment"]["id"] == payment_id
    )
    assert delivered(deleted) == [[200]]
    seen = views(tenant, invoice["id"])
    assert seen["invoice"]["status"] == "cancelled"
    assert seen["events"].count("Invoice.Cancelled") == 1


def test_a_payment_deleted_at_asaas_cancels_the_invoice_in_every_view(
    tenant: Session, fake: FakeAsaas
) -> None:
    invoice = registered(tenant)
    assert delivered(fake.send("PAYMENT_DELETED", invoice["charge_id"])) == [[200]]
    cancelled = tenant.wait_for(invoice["id"], "cancelled")
    assert cancelled["status"] == "cancelled"
    seen = views(tenant, invoice["id"])
    assert (seen["listed"], seen["boleto"]["status"]) == ("cancelled", "cancelled")
    assert seen["receivable"]["situation"] == "cancelled"


def test_a_cash_receipt_undone_makes_every_view_owe_again(
    tenant: Session, fake: FakeAsaas
) -> None:
    invoice = registered(tenant)
    payment_id = invoice["charge_id"]
    (cash,) = fake.pay(payment_id, events=("PAYMENT_RECEIVED_IN_CASH",))
    assert delivered(cash) == [[200]]
    assert tenant.wait_for(invoice["id"], "paid")["status"] == "paid"
    undone = fake.send("PAYMENT_RECEIVED_IN_CASH_UNDONE", payment_id)
    assert delivered(undone) == [[200]]
    owing = tenant.wait_for(invoice["id"], "awaiting_payment")
    assert (owing["status"], owing["amount_paid"], owing["balance"]) == (
        "awaiting_payment",
        "0.00",
        "150.00",
    )
    seen = views(tenant, invoice["id"])
    assert seen["listed"] == "awaiting_payment"
    assert (seen["receivable"]["situation"], seen["receivable"]["amount_paid"]) == (
        "open",
        "0.00",
    )
    assert (seen["boleto"]["status"], seen["boleto"]["paid_at"]) == (
        "registered",
        None,
    )
    assert seen["customer"]["open_amount"] == "150.00"


def test_other_events_are_kept_in_the_log_and_ignored(
    tenant: Session, fake: FakeAsaas, asaas_database: str
) -> None:
    invoice = registered(tenant)
    viewed = fake.send("PAYMENT_BANK_SLIP_VIEWED", invoice["charge_id"])
    assert delivered(viewed) == [[200]]
    with psycopg.connect(asaas_database) as conn:
        row = conn.execute(
            "SELECT type, result FROM webhook_log WHERE provider = 'asaas'"
            " AND event_id = %s",
            (viewed.body["id"],),
        ).fetchone()
    assert row == ("PAYMENT_BANK_SLIP_VIEWED", "ignored")


def test_a_delivery_cut_off_is_replayed_from_the_log_once(
    tenant: Session, fake: FakeAsaas, asaas_database: str
) -> None:
    invoice = registered(tenant)
    payment = fake.payment_for(invoice["id"])
    body = {
        "id": f"evt_{uuid4().hex}",
        "event": "PAYMENT_RECEIVED",
        "dateCreated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "payment": {**json.loads(json.dumps(payment, default=str)), "value": 150},
    }
    # Kept, then the process died before applying it: the log says "received".
    with psycopg.connect(asaas_database) as conn:
        row = conn.execute(
            "INSERT INTO webhook_log (provider, event_id, type, body, result)"
            " VALUES ('asaas', %s, 'PAYMENT_RECEIVED', %s, 'received') RETURNING id",
            (body["id"], json.dumps(body).encode()),
        ).fetchone()
    assert row is not None
    entry = str(row[0])
    env = {**asaas_env(fake), "LEDGER_ENVIRONMENT": "production"}

    listed = run_cli(asaas_database, "webhooks", "list", "--provider", "asaas", env=env)
    assert listed.returncode == 0, listed.stderr
    line = next(li for li in listed.stdout.splitlines() if f" {entry} " in li)
    assert "asaas" in line
    assert "received" in line

    first = run_cli(asaas_database, "webhooks", "replay", entry, env=env)
    assert first.returncode == 0, first.stderr
    assert "replayed: applied" in first.stdout
    assert tenant.wait_for(invoice["id"], "paid")["status"] == "paid"

    second = run_cli(asaas_database, "webhooks", "replay", entry, env=env)
    assert second.returncode == 0, second.stderr
    assert "already processed, nothing changed" in second.stdout
    seen = views(tenant, invoice["id"])
    assert seen["events"].count("Invoice.PaymentReceived") == 1
