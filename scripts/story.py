"""Watch the whole story on a running `make run` (start it with LEDGER_ADMIN_TOKEN).

    LEDGER_ADMIN_TOKEN=troque-este-token make run      # in one terminal
    .venv/bin/python scripts/story.py                  # in another

Signs up a reseller, logs in, registers a client, opens and activates a contract,
issues an invoice, waits for the sandbox partner to register it (boleto and Pix),
points at the e-mail, pays it in the sandbox and shows it paid in every view.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

import httpx

BASE = os.environ.get("LEDGER_URL", "http://127.0.0.1:8000")
ADMIN = os.environ.get("LEDGER_ADMIN_TOKEN", "troque-este-token")


def show(title: str, body: Any) -> None:  # noqa: ANN401 - any JSON
    print(f"\n== {title}\n{body}")


def wait_status(
    http: httpx.Client, invoice_id: str, statuses: set[str]
) -> dict[str, Any]:
    for _ in range(200):
        invoice: dict[str, Any] = http.get(f"/v1/invoices/{invoice_id}").json()
        if invoice["status"] in statuses:
            return invoice
        time.sleep(0.05)
    sys.exit(f"invoice stayed {invoice['status']}")


def main() -> None:
    email = f"dono-{uuid.uuid4().hex[:6]}@revenda.example"
    signup = httpx.post(
        f"{BASE}/v1/resellers",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={
            "name": "Revenda Exemplo",
            "document": "16.727.230/0001-97",
            "email": email,
            "password": "uma-senha-forte",
        },
    )
    show("reseller", signup.json())
    token = httpx.post(
        f"{BASE}/v1/auth/token", data={"username": email, "password": "uma-senha-forte"}
    ).json()["access_token"]
    http = httpx.Client(base_url=BASE, headers={"Authorization": f"Bearer {token}"})
    document = "145.382.206-20"
    client = http.post(
        "/v1/clients",
        json={"name": "Ana Souza", "document": document, "email": "ana@example.com"},
    ).json()
    contract = http.post("/v1/contracts", json={"client_id": client["id"]}).json()
    active = http.post(f"/v1/contracts/{contract['id']}/activate").json()
    show("contract", f"{active['status']} ({active['status_label']})")
    issued = http.post(
        "/v1/invoices",
        json={
            "client_id": client["id"],
            "description": "Mensalidade de dezembro",
            "amount": "150.00",
            "due_date": "2026-12-10",
            "reference_month": "12",
            "reference_year": "2026",
        },
    ).json()
    show("issued", f"code {issued['code']}: {issued['status_label']}")
    invoice = wait_status(http, issued["id"], {"awaiting_payment", "failed"})
    show(
        "registered",
        f"{invoice['status_label']}\n{invoice['boleto']}\n{invoice['pix']}",
    )
    show("printable", f"{BASE}/v1/invoices/{invoice['id']}/pdf (and /html)")
    show("e-mail", "without LEDGER_SMTP_URL it is an .eml file in .ledger/mail/")
    http.post(f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"})
    paid = wait_status(http, invoice["id"], {"paid"})
    show(
        "paid",
        f"{paid['status_label']} {paid['amount_paid']} by {paid['payment_method']}",
    )
    history = http.get(f"/v1/invoices/{invoice['id']}/events").json()["items"]
    after = history[-1]["position"]
    receivables = http.get("/v1/erp/receivables", params={"after": after}).json()
    show("receivables", receivables["totals"])
    boletos = http.get("/v1/erp/boletos", params={"after": after}).json()["items"]
    show("boleto", f"{boletos[0]['status_label']} {boletos[0]['digitable_line']}")
    show("history", [event["type"] for event in history])


if __name__ == "__main__":
    main()
