"""B2: POST /v1/invoices over HTTP at fixed concurrency; B6: the server's peak memory.

Baseline in the same run: a bare FastAPI endpoint on the same server stack (uvicorn,
one process) doing one raw INSERT per request. Then the ledger is driven at half its
measured maximum rate to see its p99 there.

``--single`` runs the default shape instead: one ``ledger serve`` with the views and
the processes, its mailer in a ``ledger mail`` child (``LEDGER_MAIL_WORKER=false``
in the environment keeps the mailer in the server's process, to compare).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import (
    CpuMeter,
    alone,
    children_of,
    due_soon,
    median,
    percentile,
    postgres_server,
    record,
    scratch_database,
    show,
)
from tests.e2e.conftest import SECRETS, new_tenant
from tests.e2e.server import free_port, server_process

Request = Callable[[httpx.Client], int]
HALF_RATE_WARMUP = 3.0
"""Seconds at half rate before its latencies count: the full-rate run leaves a
backlog (charges to register, views to apply) that the first second works off."""


def issuing(base_url: str) -> Request:
    """A new tenant with a billable client, and one POST /v1/invoices for it."""
    session = new_tenant(base_url)
    client = session.billable_client()
    token = session.http.headers["Authorization"]
    due = due_soon()
    body = {
        "client_id": client["id"],
        "description": "Mensalidade",
        "amount": "150.00",
        "due_date": due.isoformat(),
        "reference_month": f"{due.month:02d}",
        "reference_year": str(due.year),
    }

    def issue(http: httpx.Client) -> int:
        response = http.post(
            "/v1/invoices", json=body, headers={"Authorization": token}
        )
        return response.status_code

    return issue


def closed_loop(
    base_url: str, request: Request, concurrency: int, seconds: float
) -> tuple[float, list[float]]:
    """Requests/s and latencies (ms) with ``concurrency`` clients for ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                request(http)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), latencies


def open_loop(
    base_url: str,
    request: Request,
    rate: float,
    seconds: float,
    *,
    warmup: float = 0.0,
) -> list[float]:
    """Latencies (ms) when requests start at a fixed ``rate``, from their schedule.

    Requests scheduled in the first ``warmup`` seconds run but are not counted: the
    server first works off what an earlier run left queued (registrations, views).
    """
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()
    interval = 1 / rate
    start = time.perf_counter()

    def one(scheduled: float) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=base_url, timeout=30)
        request(local.http)
        if scheduled - start >= warmup:
            with lock:
                latencies.append((time.perf_counter() - scheduled) * 1000)

    with ThreadPoolExecutor(32) as pool:
        n = 0
        while (now := time.perf_counter()) - start < warmup + seconds:
            scheduled = start + n * interval
            if scheduled > now:
                time.sleep(scheduled - now)
            pool.submit(one, scheduled)
            n += 1
    return latencies


@contextmanager
def bare_server(url: str, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.post(f"{base}/insert").status_code == 201:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield base, process
        finally:
            process.terminate()
            process.wait()


@contextmanager
def projector(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `ledger project` process beside the API."""
    full = {**os.environ, **env}
    full.pop("LEDGER_RUN_PROJECTIONS", None)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("ledger")), "project"],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            process.wait()


@contextmanager
def ledger_service(
    url: str, tmp: Path, *, single: bool
) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes] | None]]:
    """The service measured: its URL, its ``ledger serve``, its ``ledger project``.

    By default the production shape (docker-compose): the API serves, and a separate
    ``ledger project`` keeps the views and runs the processes (registration, e-mail
    with its PDF rendering) on its own cores' worth of GIL. ``single``: one ``ledger
    serve`` with all of it, as ``make run`` starts it.
    """
    env = {
        "DATABASE_URL": url,
        **SECRETS,
        "LEDGER_DATA_DIR": str(tmp / "data"),
        "LEDGER_RUN_PROJECTIONS": "true" if single else "false",
    }
    # The server first: started at once on a new database, it and `ledger project`
    # would both create the service's tables, and PostgreSQL can refuse one of two
    # concurrent CREATE TABLE IF NOT EXISTS.
    with server_process(env, tmp / "serve.log") as (base_url, process):
        if single:
            yield base_url, process, None
        else:
            with projector(env, tmp / "project.log") as project:
                yield base_url, process, project


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(
    concurrency: int, seconds: float, tmp: Path, *, single: bool = False
) -> dict[str, dict[str, Any]]:
    """B2 beside its baseline, then B6's server memory."""
    with scratch_database() as url:
        with bare_server(url, tmp / "bare.log") as (base, bare):
            meter = CpuMeter(
                {
                    "the API server": alone(psutil.Process(bare.pid)),
                    "PostgreSQL": postgres_server,
                    "the load generator": alone(psutil.Process()),
                }
            )
            meter.start()
            raw_rate, raw_lat = closed_loop(
                base, lambda h: h.post("/insert").status_code, concurrency, seconds
            )
            raw_cpu = meter.stop()
        with ledger_service(url, tmp, single=single) as (base_url, process, project):
            issue = issuing(base_url)
            serve = psutil.Process(process.pid)
            parts = {
                "the API server": alone(serve),
                "its children (mail)": children_of(serve),
            }
            if project is not None:
                projecting = psutil.Process(project.pid)
                parts["ledger project"] = alone(projecting)
                parts["its children (mail)"] = children_of(projecting)
            meter = CpuMeter(
                {
                    **parts,
                    "PostgreSQL": postgres_server,
                    "the load generator": alone(psutil.Process()),
                }
            )
            meter.start()
            rate, lat = closed_loop(base_url, issue, concurrency, seconds)
            cpu = meter.stop()
            half = open_loop(
                base_url, issue, rate / 2, seconds, warmup=HALF_RATE_WARMUP
            )
            memory = peak_rss_mb(process.pid)
    cpu_ms = {part: 1000 * spent / len(lat) for part, spent in cpu.items()}
    raw_cpu_ms = {part: 1000 * spent / len(raw_lat) for part, spent in raw_cpu.items()}
    shape = "one ledger serve" if single else "serve + ledger project"
    show(
        f"B2 POST /v1/invoices, {concurrency} concurrent clients, {seconds:.0f} s"
        f" ({shape})",
        [
            (
                "requests/s",
                f"{rate:,.0f}",
                f"{raw_rate:,.0f} bare INSERT",
                f"{rate / raw_rate:.2f}x",
            ),
            ("p50 ms", f"{median(lat):.1f}", f"{median(raw_lat):.1f}", "-"),
            (
                "p99 ms",
                f"{percentile(lat, 0.99):.1f}",
                f"{percentile(raw_lat, 0.99):.1f}",
                "-",
            ),
            (
                f"p99 ms at {rate / 2:,.0f}/s (after {HALF_RATE_WARMUP:.0f} s)",
                f"{percentile(half, 0.99):.1f}",
                "-",
                "-",
            ),
        ],
    )
    show(
        "B6 peak memory of ledger serve after B2", [("MiB", f"{memory:.0f}", "-", "-")]
    )
    show(
        "B2 CPU ms per request at full load, by process (the bare endpoint beside)",
        [
            (
                part,
                f"{spent:.2f}",
                f"{raw_cpu_ms[part]:.2f}" if part in raw_cpu_ms else "-",
                "-",
            )
            for part, spent in [*cpu_ms.items(), ("total", sum(cpu_ms.values()))]
        ]
        + [("(bare total)", "-", f"{sum(raw_cpu_ms.values()):.2f}", "-")],
    )
    return {
        "B2": {
            "value": round(rate, 1),
            "baseline": round(raw_rate, 1),
            "ratio": round(rate / raw_rate, 3),
            "unit": "requests/s",
            "p50_ms": round(median(lat), 2),
            "p99_ms": round(percentile(lat, 0.99), 2),
            "half_rate_p99_ms": round(percentile(half, 0.99), 2),
            "cpu_ms_per_request": {k: round(v, 3) for k, v in cpu_ms.items()},
            "baseline_cpu_ms_per_request": {
                k: round(v, 3) for k, v in raw_cpu_ms.items()
            },
        },
        "B6": {"serve_after_b2_mb": round(memory, 1), "unit": "MiB peak RSS"},
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.http [--concurrency N] [--seconds S]``."""
    import tempfile  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--single",
        action="store_true",
        help="one ledger serve with the views and processes (recorded as B2-single)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(args.concurrency, args.seconds, Path(tmp), single=args.single)
    if args.single:
        record("B2-single", figures["B2"])
        return
    record("B2", figures["B2"])
    record("B6", figures["B6"], merge=True)


if __name__ == "__main__":
    main()
