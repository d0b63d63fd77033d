"""``ledger serve`` as a real process: health, readiness, embedded database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import httpx
import psutil
import psycopg
from psycopg import sql

from api.database import create_database, drop_database, with_database
from tests.e2e.server import running_server

SECRETS = {
    "LEDGER_SECRET_KEY": "k" * 40,
    "LEDGER_WEBHOOK_SECRET": "w" * 40,
}


def wait_ready(base_url: str, timeout: float = 15) -> httpx.Response:
    """``/readyz`` once it says ready (it may take a moment after start)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{base_url}/readyz")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_serve_answers_health_and_readiness_on_the_configured_database(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, **SECRETS}
    with running_server(env, tmp_path / "serve.log") as base_url:
        health = httpx.get(f"{base_url}/healthz")
        ready = wait_ready(base_url)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "set_aside": 0}


def test_readiness_fails_with_a_problem_when_the_database_is_unreachable(
    database_url: str, tmp_path: Path
) -> None:
    dbname = f"ledger_ready_{uuid4().hex[:8]}"
    create_database(database_url, dbname)
    env = {"DATABASE_URL": with_database(database_url, dbname), **SECRETS}
    try:
        with running_server(env, tmp_path / "serve.log") as base_url:
            assert wait_ready(base_url).status_code == 200
            _refuse_connections(database_url, dbname)
            ready = httpx.get(f"{base_url}/readyz")
            health = httpx.get(f"{base_url}/healthz")
    finally:
        drop_database(database_url, dbname)
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["status"] == 503
    assert "database" in ready.json()["detail"]
    assert health.status_code == 200


def _refuse_connections(database_url: str, dbname: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                sql.Identifier(dbname)
            )
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (dbname,),
        )


def test_serve_refuses_to_start_without_secrets_outside_development(
    database_url: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")} | {
        "DATABASE_URL": database_url
    }
    result = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).with_name("ledger")), "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "LEDGER_SECRET_KEY" in result.stderr


def test_serve_refuses_a_moved_clock_outside_development(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")} | {
        "DATABASE_URL": database_url,
        "LEDGER_CLOCK_OFFSET_DAYS": "400",
        **SECRETS,
    }
    result = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).with_name("ledger")), "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "LEDGER_CLOCK_OFFSET_DAYS" in result.stderr


def test_serve_without_a_database_url_runs_an_embedded_postgres_and_stops_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = {"LEDGER_DATA_DIR": str(data_dir)}
    log = tmp_path / "serve.log"
    with running_server(env, log, unset=("DATABASE_URL",)) as base_url:
        ready = wait_ready(base_url)
        assert ready.status_code == 200
        postmaster = (data_dir / "pgdata" / "postmaster.pid").read_text().split()
        pid = int(postmaster[0])
        assert psutil.pid_exists(pid)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
