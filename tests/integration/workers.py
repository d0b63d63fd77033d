"""``ledger`` CLI processes against a test database, and waiting on what they do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from projections.followers import LOCK_NAMESPACE

LEDGER = str(Path(sys.executable).with_name("ledger"))


SECRETS = {"LEDGER_SECRET_KEY": "k" * 40, "LEDGER_WEBHOOK_SECRET": "w" * 40}


def ledger_env(database_url: str, app_name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return env | SECRETS | {"DATABASE_URL": database_url, "PGAPPNAME": app_name}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Return as soon as ``predicate()`` holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting until {what}")
        time.sleep(0.05)


def start_worker(
    database_url: str,
    app_name: str,
    log: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``ledger project`` in the background; its connections carry ``app_name``."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own console script
            [LEDGER, "project"],
            env=ledger_env(database_url, app_name) | (env or {}),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_cli(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [LEDGER, *args],
        env=ledger_env(database_url, "ledger-cli") | {"COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def lock_owners(database_url: str) -> dict[int, str]:
    """Which application holds each view's advisory lock (by lock object id)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT l.objid::bigint, a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s"
            # Advisory locks are per database; other tests' runners hold the same keys.
            " AND l.database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())",
            (LOCK_NAMESPACE,),
        ).fetchall()
    return {int(objid): str(name) for objid, name in rows}
