"""B3: rebuilding every view from the event log, beside a raw read of the same log."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

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
from projections.read_models import VIEWS


def cli_rebuild_peak_mb(url: str) -> float:
    """B6: peak resident memory of ``ledger projections rebuild`` on this log.

    The sum over the command and the processes it starts (the rebuild replays in
    two), sampled together.
    """
    env = {**os.environ, "DATABASE_URL": url}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("ledger")), "projections", "rebuild"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            total = watched.memory_info().rss
            for child in watched.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            peak = max(peak, total)
        time.sleep(0.05)
    return peak / 1024 / 1024


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
            peak_mb = cli_rebuild_peak_mb(url)
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
        "rebuild_peak_mb": round(peak_mb, 1),
    }
    show(
        "B6 peak memory of a rebuild (ledger projections rebuild, with children)",
        [("MiB", f"{peak_mb:.0f}", "-", "-")],
    )
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
    figures = run(args.events)
    record("B3", {k: v for k, v in figures.items() if k != "rebuild_peak_mb"})
    record(
        "B6",
        {"rebuild_mb": figures["rebuild_peak_mb"], "unit": "MiB peak RSS"},
        merge=True,
    )


if __name__ == "__main__":
    main()
