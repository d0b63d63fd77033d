"""kill -9 under a burst of commands and webhooks, again and again.

Each trial starts ``ledger serve``, sends invoices and payment webhooks (some of them
twice) from a client thread, and kills the server with SIGKILL at a random moment.
After every restart: every acknowledged command is there, no invoice was paid twice,
codes run 1..n without gap or repeat, and the views verify equal to a replay.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from adapters.sandbox import sign
from tests.builders import days_from_today, reference_of
from tests.e2e.conftest import SECRETS, Session, login
from tests.e2e.server import server_process
from tests.integration.workers import run_cli

TRIALS = int(os.environ.get("LEDGER_CRASH_TRIALS", "8"))
"""Eight keep `make test` within its time; a soak run sets more (e.g. 200)."""
SEED = int(os.environ.get("LEDGER_CRASH_SEED", "20261128"))


def webhook(base_url: str, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    return httpx.post(
        f"{base_url}/v1/webhooks/sandbox",
        content=body,
        headers={
            "content-type": "application/json",
            "Ledger-Signature": sign(
                SECRETS["LEDGER_WEBHOOK_SECRET"], int(time.time()), body
            ),
        },
        timeout=5,
    )


class Burst:
    """Commands sent until the server dies; what was acknowledged is kept."""

    def __init__(self, session: Session, client_id: str, rng: random.Random) -> None:
        self.session = session
        self.client_id = client_id
        self.rng = rng
        self.acknowledged_invoices: list[str] = []
        self.payments: list[dict[str, Any]] = []

    def run(self, stop: threading.Event) -> None:
        base = str(self.session.http.base_url)
        while not stop.is_set():
            try:
                if self.acknowledged_invoices and self.rng.random() < 0.4:
                    self._pay(base)
                else:
                    self._issue()
            except httpx.HTTPError:
                return  # the server is gone

    def _issue(self) -> None:
        response = self.session.http.post(
            "/v1/invoices",
            json={
                "client_id": self.client_id,
                "description": "Mensalidade",
                "amount": "100.00",
                "due_date": days_from_today(10),
                **reference_of(days_from_today(10)),
            },
            headers={"Idempotency-Key": f"k-{uuid4()}"},
            timeout=5,
        )
        if response.status_code == 201:
            self.acknowledged_invoices.append(response.json()["id"])

    def _pay(self, base: str) -> None:
        invoice_id = self.rng.choice(self.acknowledged_invoices)
        replay = self.payments and self.rng.random() < 0.3
        payload = (
            self.rng.choice(self.payments)
            if replay
            else {
                "id": f"evt_{uuid4().hex}",
                "type": "payment.received",
                "created_at": datetime.now(UTC).isoformat(),
                "data": {"invoice_id": invoice_id, "amount": "100.00", "method": "pix"},
            }
        )
        if webhook(base, payload).status_code == 200:
            self.payments.append(payload)


def check_invariants(session: Session, invoices: list[str], database_url: str) -> None:
    for invoice_id in invoices:
        response = session.get(f"/v1/invoices/{invoice_id}")
        assert response.status_code == 200, f"acknowledged {invoice_id} is missing"
        history = session.ok(session.get(f"/v1/invoices/{invoice_id}/events"))["items"]
        # A second partner event may pay an invoice again (it becomes credit), but
        # no partner event is ever recorded twice, and no principal beyond the amount.
        payments = [
            e["data"] for e in history if e["type"] == "Invoice.PaymentReceived"
        ]
        event_ids = [payment["provider_event_id"] for payment in payments]
        assert len(event_ids) == len(set(event_ids)), f"{invoice_id}: {event_ids}"
        principal = sum(payment["principal_cents"] for payment in payments)
        assert principal <= 10_000, f"{invoice_id} paid beyond its amount: {payments}"
    head = max(
        (
            e["position"]
            for e in session.ok(
                session.get("/v1/audit/events", params={"limit": 1000, "after": 0})
            )["items"]
        ),
        default=0,
    )
    codes: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, "after": head}
        if cursor:
            params["cursor"] = cursor
        page = session.ok(session.get("/v1/invoices", params=params))
        codes += [invoice["code"] for invoice in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(codes) == list(range(1, len(codes) + 1)), "codes repeat or skip"
    assert len(codes) >= len(set(invoices))
    verified = run_cli(database_url, "projections", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_kill_9_at_random_moments_loses_nothing_acknowledged(
    fresh_database: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    env = {"DATABASE_URL": fresh_database, **SECRETS}
    log = tmp_path / "serve.log"
    acknowledged: list[str] = []
    credentials: tuple[str, str] | None = None
    client_id = ""
    for _trial in range(TRIALS):
        with server_process(env, log) as (base_url, process):
            if credentials is None:
                from tests.e2e.conftest import new_tenant  # noqa: PLC0415

                session = new_tenant(base_url)
                credentials = (session.email, session.reseller_id)
                client_id = session.billable_client()["id"]
            else:
                session = login(base_url, *credentials)
                check_invariants(session, acknowledged, fresh_database)
            burst = Burst(session, client_id, rng)
            stop = threading.Event()
            sender = threading.Thread(target=burst.run, args=(stop,))
            sender.start()
            time.sleep(rng.uniform(0.1, 1.2))
            process.send_signal(signal.SIGKILL)
            process.wait()
            stop.set()
            sender.join()
            acknowledged += burst.acknowledged_invoices
    with server_process(env, log) as (base_url, _process):
        assert credentials is not None
        check_invariants(login(base_url, *credentials), acknowledged, fresh_database)
    assert len(acknowledged) >= TRIALS  # the bursts did get work through
