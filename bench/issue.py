"""B1: invoices issued per second through the application, 1 and 8 threads.

Baseline in the same run: a raw psycopg single-row INSERT + commit into a table
shaped like the events table, from as many threads.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import psycopg

from bench.common import due_soon, ledger_on, record, scratch_database, show

STATE = b"x" * 500


def raw_rate(url: str, count: int, threads: int) -> float:
    """Single-row INSERT + commit per operation."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_events (originator_id uuid,"
            " originator_version bigint, topic text, state bytea,"
            " notification_id bigserial UNIQUE,"
            " PRIMARY KEY (originator_id, originator_version))"
        )

    def work(n: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(n):
                conn.execute(
                    "INSERT INTO bench_raw_events"
                    " (originator_id, originator_version, topic, state)"
                    " VALUES (%s, 1, 'bench', %s)",
                    (uuid4(), STATE),
                    prepare=True,
                )

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [count // threads] * threads))
    return (count // threads * threads) / (time.perf_counter() - started)


def app_rate(ledger: Any, count: int, threads: int, tenants: int = 1) -> float:  # noqa: ANN401
    """``Ledger.issue_invoice`` per operation (sequence + invoice in one save).

    ``tenants`` resellers, each with one client; thread *n* issues for tenant
    *n* mod ``tenants``.
    """
    from tests.builders import a_billable_client, a_reseller  # noqa: PLC0415

    targets = []
    for _ in range(tenants):
        reseller_id = a_reseller(ledger).reseller.id
        targets.append((reseller_id, a_billable_client(ledger, reseller_id).id))
    due = due_soon()

    def work(n: int, target: tuple[Any, Any]) -> None:
        reseller_id, client_id = target
        for _ in range(n):
            ledger.issue_invoice(
                reseller_id,
                client_id=client_id,
                description="Mensalidade",
                amount_cents=15000,
                due_date=due,
                reference_month=f"{due.month:02d}",
                reference_year=str(due.year),
            )

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                work,
                [count // threads] * threads,
                [targets[n % tenants] for n in range(threads)],
            )
        )
    return (count // threads * threads) / (time.perf_counter() - started)


def run(count: int) -> dict[str, float | str]:
    """Both rates at 1 and 8 threads, interleaved in one run."""
    with scratch_database() as url:
        ledger = ledger_on(url)
        try:
            raw1 = raw_rate(url, count, 1)
            app1 = app_rate(ledger, count, 1)
            raw8 = raw_rate(url, count, 8)
            app8 = app_rate(ledger, count, 8)
            app8t = app_rate(ledger, count, 8, tenants=8)
        finally:
            ledger.close()
    show(
        f"B1 invoices issued through the application ({count} each)",
        [
            (
                "1 thread, /s",
                f"{app1:,.0f}",
                f"{raw1:,.0f} raw INSERT",
                f"{app1 / raw1:.2f}x",
            ),
            (
                "8 threads, one tenant, /s",
                f"{app8:,.0f}",
                f"{raw8:,.0f} raw INSERT",
                f"{app8 / raw8:.2f}x",
            ),
            (
                "8 threads, 8 tenants, /s",
                f"{app8t:,.0f}",
                f"{raw8:,.0f} raw INSERT",
                f"{app8t / raw8:.2f}x",
            ),
        ],
    )
    return {
        "value": round(app1),
        "baseline": round(raw1),
        "ratio": round(app1 / raw1, 3),
        "value_8_threads": round(app8),
        "baseline_8_threads": round(raw8),
        "ratio_8_threads": round(app8 / raw8, 3),
        "value_8_tenants": round(app8t),
        "ratio_8_tenants": round(app8t / raw8, 3),
        "unit": "invoices/s",
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.issue [--count N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args(argv)
    record("B1", run(args.count))


if __name__ == "__main__":
    main()
