"""Live latency: a command saved → every view has applied it (p50/p99).

Baseline in the same run: one raw INSERT + NOTIFY, committed, and received by a
listening connection (the least any LISTEN/NOTIFY follower can take).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from api.bootstrap import reader_of
from bench.common import ledger_on, median, percentile, record, scratch_database, show
from projections.followers import ProjectionRunner
from projections.read_models import ReadModels


def raw_notify_round_trips(url: str, samples: int) -> list[float]:
    """Milliseconds from INSERT+NOTIFY commit start to the notification arriving."""
    latencies: list[float] = []
    with (
        psycopg.connect(url, autocommit=True) as writer,
        psycopg.connect(url, autocommit=True) as listener,
    ):
        writer.execute("CREATE TABLE IF NOT EXISTS bench_raw (id bigserial, b bytea)")
        listener.execute("LISTEN bench_raw")
        for _ in range(samples):
            started = time.perf_counter()
            with writer.transaction():
                writer.execute("INSERT INTO bench_raw (b) VALUES (%s)", (b"x" * 500,))
                writer.execute("NOTIFY bench_raw")
            for _ in listener.notifies(timeout=5, stop_after=1):
                pass
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def command_to_views(url: str, samples: int) -> list[float]:
    """Milliseconds from a client registration's save to every view having it."""
    from tests.builders import a_cpf, a_reseller  # noqa: PLC0415 - bench only

    ledger = ledger_on(url)
    pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=4, open=True)
    models = ReadModels.build(pool, url)
    runner = ProjectionRunner(reader_of(ledger), url, on_commit=models.watcher.update)
    models.watcher.start()
    runner.start()
    latencies: list[float] = []
    try:
        reseller_id = a_reseller(ledger).reseller.id
        models.wait_for(ledger.recorder.max_notification_id() or 0, 30)
        for _ in range(samples):
            recorded = ledger.register_client(
                reseller_id, name="Cliente", document=a_cpf(), email="c@x.com"
            )
            saved = time.perf_counter()
            if recorded.position is None or not models.wait_for(recorded.position, 5):
                msg = "the views did not catch up within 5 s"
                raise RuntimeError(msg)
            latencies.append((time.perf_counter() - saved) * 1000)
    finally:
        runner.stop()
        models.watcher.stop()
        pool.close()
        ledger.close()
    return latencies


def run(samples: int) -> dict[str, float | str]:
    """Measure both and print them side by side."""
    with scratch_database() as url:
        raw = raw_notify_round_trips(url, samples)
        live = command_to_views(url, samples)
    figures: dict[str, float | str] = {
        "p50_ms": round(median(live), 2),
        "p99_ms": round(percentile(live, 0.99), 2),
        "baseline_p50_ms": round(median(raw), 2),
        "baseline_p99_ms": round(percentile(raw, 0.99), 2),
        "unit": "ms from save to all 7 views",
    }
    show(
        f"Live latency, save → all views ({samples} commands)",
        [
            ("p50 ms", f"{median(live):.1f}", f"{median(raw):.1f}", "-"),
            (
                "p99 ms",
                f"{percentile(live, 0.99):.1f}",
                f"{percentile(raw, 0.99):.1f}",
                "-",
            ),
        ],
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.live [--samples N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args(argv)
    record("live", run(args.samples))


if __name__ == "__main__":
    main()
