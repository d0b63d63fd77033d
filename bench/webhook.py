"""B4: webhook accepted → invoice, receivable, boleto and customer all paid (p50/p99).

Each sample sends a signed ``payment.received`` webhook for a registered invoice and
then asks a view-backed list with ``?after=`` the webhook's ``Ledger-Position``, which
answers once every view has applied the payment. Baseline in the same run: one raw
INSERT + NOTIFY round trip (bench.live).

The samples are taken twice: on a quiet server, and while another tenant issues
invoices over HTTP at half the rate eight clients reach on the same server (B2 at
half rate, measured first for a few seconds), each of which is registered with the
partner and mailed with its PDF.

The service runs in the production shape, as in B2 (``docker-compose.yml``): the API
(``ledger serve`` with ``LEDGER_RUN_PROJECTIONS=false``) beside a ``ledger project``
that keeps the views and runs the processes, its mailer in a ``ledger mail`` child.
``--single`` runs one ``ledger serve`` with the views and processes instead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg

from adapters.sandbox import sign
from bench.common import (
    median,
    percentile,
    record,
    scratch_database,
    show,
)
from bench.http import HALF_RATE_WARMUP, closed_loop, issuing, ledger_service
from bench.live import raw_notify_round_trips
from tests.e2e.conftest import SECRETS, Session, new_tenant


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


@contextmanager
def issuing_in_background(base_url: str, seconds: float = 3.0) -> Iterator[float]:
    """Another tenant issues invoices at half its closed-loop rate; yields the rate."""
    issue = issuing(base_url)
    full, _ = closed_loop(base_url, issue, 8, seconds)
    rate = full / 2
    stop = threading.Event()
    local = threading.local()

    def one() -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=base_url, timeout=30)
        issue(local.http)

    def schedule() -> None:
        interval = 1 / rate
        start = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            n = 0
            while not stop.is_set():
                delay = start + n * interval - time.perf_counter()
                if delay > 0:
                    stop.wait(delay)
                pool.submit(one)
                n += 1

    scheduler = threading.Thread(target=schedule)
    scheduler.start()
    try:
        # The closed loop's backlog (charges to register, views to apply) first.
        time.sleep(HALF_RATE_WARMUP)
        yield rate
    finally:
        stop.set()
        scheduler.join()


def settle(
    base_url: str,
    session: Session,
    invoices: list[str],
) -> list[float]:
    """Latency (ms) of each invoice's payment through every view."""
    latencies: list[float] = []
    with httpx.Client(base_url=base_url) as partner:  # a partner keeps its connection
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
    return latencies


def run(samples: int, tmp: Path, *, single: bool = False) -> dict[str, Any]:
    """Latencies of settlement through every view, beside the raw round trip."""
    with scratch_database() as url:
        raw = raw_notify_round_trips(url, samples)
        with ledger_service(url, tmp, single=single) as (base_url, _serve, _project):
            session = new_tenant(base_url)
            client = session.billable_client()
            invoices = [
                session.ok(session.invoice(client["id"]), 201)["id"]
                for _ in range(samples)
            ]
            for invoice_id in invoices:
                session.wait_registered(invoice_id, timeout=60)
            wait_for_mail(url, samples)  # measure settlement, not PDF rendering
            quiet = settle(base_url, session, invoices[: samples // 2])
            with issuing_in_background(base_url) as load_rate:
                latencies = settle(base_url, session, invoices[samples // 2 :])
    shape = "one ledger serve" if single else "serve + ledger project"
    show(
        f"B4 webhook → all views paid ({samples // 2} payments quiet,"
        f" {samples - samples // 2} while issuing {load_rate:,.0f}/s; {shape})",
        [
            (
                "quiet p50 / p99 ms",
                f"{median(quiet):.1f} / {percentile(quiet, 0.99):.1f}",
                "-",
                "-",
            ),
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
        "shape": shape,
        "load_invoices_per_s": round(load_rate, 1),
        "quiet_p50_ms": round(median(quiet), 2),
        "quiet_p99_ms": round(percentile(quiet, 0.99), 2),
        "p50_ms": round(median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "baseline_p50_ms": round(median(raw), 2),
        "baseline_p99_ms": round(percentile(raw, 0.99), 2),
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.webhook [--samples N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument(
        "--single",
        action="store_true",
        help="one ledger serve with the views and processes (recorded as B4-single)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(args.samples, Path(tmp), single=args.single)
    record("B4-single" if args.single else "B4", figures)


if __name__ == "__main__":
    main()
