"""B5: the receivables query (filters and totals over every match) on a big tenant.

The view's table is filled directly with COPY (``--invoices`` rows for one tenant,
default 200,000; the issue's target is 1,000,000), then the query is timed as the
API runs it: open, overdue or settled items of a customer-name substring and a due
date range, a page of 50 and the totals of all that match.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta
from uuid import uuid4

import psycopg
from psycopg_pool import ConnectionPool

from bench.common import median, percentile, record, scratch_database, show
from projections.erp_receivables import ErpReceivables
from projections.followers import create_views


def fill(url: str, invoices: int) -> object:
    """One tenant with ``invoices`` receivables over 500 customers."""
    rng = random.Random(5)
    reseller_id = uuid4()
    customers = [(uuid4(), f"Cliente {n:03d} Ltda") for n in range(500)]
    with psycopg.connect(url) as conn:
        create_views(conn, [ErpReceivables])
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY view_erp_receivables.client_names (id, reseller_id, name, search)"
                " FROM STDIN"
            ) as copy:
                for customer_id, name in customers:
                    copy.write_row((customer_id, reseller_id, name, name.lower()))
            with cursor.copy(
                "COPY view_erp_receivables.receivables (id, reseller_id, invoice_id,"
                " invoice_code, customer_id, description, amount_cents,"
                " amount_paid_cents, principal_paid_cents, amount_fees_cents,"
                " issue_date, due_date, situation) FROM STDIN"
            ) as copy:
                start = date(2024, 1, 1)
                for code in range(1, invoices + 1):
                    customer_id, _ = customers[code % len(customers)]
                    due = start + timedelta(days=rng.randrange(1000))
                    situation = rng.choice(("open", "open", "settled", "cancelled"))
                    amount = rng.randrange(1000, 100000)
                    copy.write_row(
                        (
                            uuid4(),
                            reseller_id,
                            uuid4(),
                            code,
                            customer_id,
                            "Mensalidade",
                            amount,
                            amount if situation == "settled" else 0,
                            amount if situation == "settled" else 0,
                            0,
                            due - timedelta(days=10),
                            due,
                            situation,
                        )
                    )
        conn.execute("ANALYZE view_erp_receivables.receivables")
        conn.commit()
    return reseller_id


def run(invoices: int, samples: int) -> dict[str, float | str]:
    """Time the query ``samples`` times with varied filters."""
    rng = random.Random(9)
    with scratch_database() as url:
        reseller_id = fill(url, invoices)
        pool: ConnectionPool = ConnectionPool(url, min_size=1, max_size=2, open=True)
        view = ErpReceivables(pool)
        latencies: list[float] = []
        for _ in range(samples):
            start = date(2024, 1, 1) + timedelta(days=rng.randrange(900))
            filters = rng.choice(
                (
                    {"situation": "open"},
                    {"situation": "open", "overdue": True},
                    {"customer": f"Cliente {rng.randrange(500):03d}"},
                    {"due_from": start, "due_to": start + timedelta(days=30)},
                    {},
                )
            )
            began = time.perf_counter()
            view.query(reseller_id, date(2026, 11, 28), limit=50, **filters)  # type: ignore[arg-type]
            latencies.append((time.perf_counter() - began) * 1000)
        pool.close()
    show(
        f"B5 receivables query with totals, one tenant of {invoices:,} invoices",
        [
            ("p50 ms", f"{median(latencies):.1f}", "-", "-"),
            ("p99 ms", f"{percentile(latencies, 0.99):.1f}", "-", "-"),
        ],
    )
    return {
        "p50_ms": round(median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "invoices": invoices,
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.query [--invoices N] [--samples N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    record("B5", run(args.invoices, args.samples))


if __name__ == "__main__":
    main()
