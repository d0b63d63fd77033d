"""B3: rebuilding every view from the event log, beside a raw read of the same log."""

from __future__ import annotations

import argparse
import time

from api.bootstrap import reader_of
from bench.common import (
    generate_history,
    ledger_on,
    raw_read_rate,
    record,
    scratch_database,
    show,
)
from projections import maintenance
from projections.runner import VIEWS


def run(events: int) -> dict[str, float | str]:
    """Generate ``events``, then time the raw baseline and the rebuild."""
    with scratch_database() as url:
        ledger = ledger_on(url)
        try:
            written = generate_history(ledger, events)
            raw_rates = [raw_read_rate(url) for _ in range(2)]
            raw = max(raw_rates)
            started = time.perf_counter()
            maintenance.rebuild(url, reader_of(ledger), VIEWS)
            seconds = time.perf_counter() - started
        finally:
            ledger.close()
    rate = written / seconds
    figures: dict[str, float | str] = {
        "value": round(rate),
        "baseline": round(raw),
        "ratio": round(rate / raw, 3),
        "unit": "events/s",
        "events": written,
        "seconds": round(seconds, 2),
    }
    show(
        f"B3 rebuild of {len(VIEWS)} views from {written:,} events",
        [
            (
                "events/s",
                f"{rate:,.0f}",
                f"{raw:,.0f} (SELECT + json.loads)",
                f"{rate / raw:.2f}x",
            )
        ],
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.rebuild [--events N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args(argv)
    record("B3", run(args.events))


if __name__ == "__main__":
    main()
