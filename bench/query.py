"""B5: the receivables query (filters and totals over every match) on a big tenant.

The view's table is filled directly with COPY (``--invoices`` rows for one tenant,
default 1,000,000, the issue's target; the view's triggers sum them as they land,
and the table is vacuumed as autovacuum would after such inserts),
then the query is timed as the API runs it: open or overdue items, a customer-name
substring, a due date range, an issue date range or no filter, each a page of 50
and the totals of all that match.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg_pool import ConnectionPool

from bench.common import median, percentile, record, scratch_database, show
from domain.invoices import SAO_PAULO
from projections.erp_receivables import ErpReceivables
from projections.followers import create_views

TODAY = datetime.now(SAO_PAULO).date()
START = TODAY - timedelta(days=1000)
"""Due dates spread over the 1,000 days before today."""


def fill(url: str, invoices: int) -> UUID:
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
                start = START
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
        conn.commit()
        # A tenant's old items have been visited by autovacuum in steady state (it
        # follows inserts): their hint bits and visibility map are set.
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE view_erp_receivables.receivables")
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
            start = START + timedelta(days=rng.randrange(900))
            month = (start, start + timedelta(days=30))
            filters: dict[str, Any] = rng.choice(
                (
                    {"situation": "open"},
                    {"situation": "open", "overdue": True},
                    {"customer": f"Cliente {rng.randrange(500):03d}"},
                    {"due_from": month[0], "due_to": month[1]},
                    {"issued_from": month[0], "issued_to": month[1]},
                    {},
                )
            )
            began = time.perf_counter()
            view.query(reseller_id, TODAY, limit=50, **filters)
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
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    record("B5", run(args.invoices, args.samples))


if __name__ == "__main__":
    main()
