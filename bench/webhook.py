"""B4: webhook accepted → invoice, receivable, boleto and customer all paid (p50/p99).

Each sample sends a signed ``payment.received`` webhook for a registered invoice and
then asks a view-backed list with ``?after=`` the webhook's ``Ledger-Position``, which
answers once every view has applied the payment. Baseline in the same run: one raw
INSERT + NOTIFY round trip (bench.live).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg

from adapters.sandbox import sign
from bench.common import median, percentile, record, scratch_database, show
from bench.live import raw_notify_round_trips
from tests.e2e.conftest import SECRETS, new_tenant
from tests.e2e.server import server_process


def wait_for_mail(url: str, count: int, timeout: float = 300) -> None:
    """Until the mail process has sent ``count`` invoices (recorded as events)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM ledger_events"
                " WHERE topic = 'revenda.Invoice.NoticeSent'"
            ).fetchone()
        if row and row[0] >= count:
            return
        time.sleep(0.2)


def run(samples: int, tmp: Path) -> dict[str, Any]:
    """Latencies of settlement through every view, beside the raw round trip."""
    with scratch_database() as url:
        raw = raw_notify_round_trips(url, samples)
        env = {"DATABASE_URL": url, **SECRETS, "LEDGER_DATA_DIR": str(tmp / "data")}
        with server_process(env, tmp / "serve.log") as (base_url, _process):
            session = new_tenant(base_url)
            client = session.billable_client()
            invoices = [
                session.ok(session.invoice(client["id"]), 201)["id"]
                for _ in range(samples)
            ]
            for invoice_id in invoices:
                session.wait_registered(invoice_id, timeout=60)
            wait_for_mail(url, samples)  # measure settlement, not PDF rendering
            latencies: list[float] = []
            partner = httpx.Client(base_url=base_url)  # a partner keeps its connection
            for invoice_id in invoices:
                body = json.dumps(
                    {
                        "id": f"evt_{uuid4().hex}",
                        "type": "payment.received",
                        "created_at": datetime.now(UTC).isoformat(),
                        "data": {
                            "invoice_id": invoice_id,
                            "amount": "150.00",
                            "method": "pix",
                        },
                    }
                ).encode()
                started = time.perf_counter()
                accepted = partner.post(
                    "/v1/webhooks/sandbox",
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "Ledger-Signature": sign(
                            SECRETS["LEDGER_WEBHOOK_SECRET"], int(time.time()), body
                        ),
                    },
                )
                position = accepted.headers["Ledger-Position"]
                settled = session.get(
                    "/v1/erp/receivables", params={"after": position, "limit": 1}
                )
                assert settled.status_code == 200, settled.text
                latencies.append((time.perf_counter() - started) * 1000)
            partner.close()
    show(
        f"B4 webhook → all views paid ({samples} payments)",
        [
            (
                "p50 ms",
                f"{median(latencies):.1f}",
                f"{median(raw):.1f} INSERT+NOTIFY",
                "-",
            ),
            (
                "p99 ms",
                f"{percentile(latencies, 0.99):.1f}",
                f"{percentile(raw, 0.99):.1f}",
                "-",
            ),
        ],
    )
    return {
        "p50_ms": round(median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "baseline_p50_ms": round(median(raw), 2),
        "baseline_p99_ms": round(percentile(raw, 0.99), 2),
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.webhook [--samples N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        record("B4", run(args.samples, Path(tmp)))


if __name__ == "__main__":
    main()
