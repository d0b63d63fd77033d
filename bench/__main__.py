"""``make bench``: every benchmark, each beside its raw PostgreSQL baseline.

Results are printed as tables and written to ``bench/results.json``. Sizes are
options; the defaults finish in a few minutes on two cores.
"""

from __future__ import annotations

import argparse

from bench import billing, http, issue, live, mail, query, rebuild, webhook


def main() -> None:
    """Run B1..B8 (and the live latency of the views)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="B3 log size")
    parser.add_argument(
        "--invoices", type=int, default=1_000_000, help="B5 tenant size"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="B2 duration")
    parser.add_argument("--samples", type=int, default=200, help="latency samples")
    parser.add_argument("--count", type=int, default=2000, help="B1 commands")
    parser.add_argument(
        "--contracts", type=int, default=1000, help="billing run size (B8)"
    )
    parser.add_argument("--mailed", type=int, default=40, help="B7 invoices")
    args = parser.parse_args()
    rebuild.main(["--events", str(args.events)])
    issue.main(["--count", str(args.count)])
    billing.main(["--contracts", str(args.contracts)])
    http.main(["--seconds", str(args.seconds)])
    webhook.main(["--samples", str(min(args.samples, 100))])
    # Also as `make run` starts it: one `ledger serve` with the views and processes.
    webhook.main(["--samples", str(min(args.samples, 100)), "--single"])
    query.main(["--invoices", str(args.invoices), "--samples", str(args.samples)])
    live.main(["--samples", str(args.samples)])
    mail.main(["--invoices", str(args.mailed)])


if __name__ == "__main__":
    main()
