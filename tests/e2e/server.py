"""Run ``ledger serve`` as a real subprocess on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.builders import CLOCK_OFFSET, clock_offset_days

STARTUP_TIMEOUT_SECONDS = 60
ADMIN_TOKEN = "admin-" + "t" * 40
SECRETS = {
    "LEDGER_SECRET_KEY": "k" * 40,
    "LEDGER_WEBHOOK_SECRET": "w" * 40,
    "LEDGER_ADMIN_TOKEN": ADMIN_TOKEN,
    # The server runs outside development (DATABASE_URL): the tests pay through
    # the sandbox's pay endpoint, which is then off unless enabled.
    "LEDGER_SANDBOX_PAY": "true",
    # The tests' webhook receivers listen on 127.0.0.1, which production refuses.
    "LEDGER_OUTBOUND_ALLOW_LOCAL": "true",
}


def clock_env() -> dict[str, str]:
    """The settings that move a ``ledger`` process's calendar like this run's.

    The offset is refused outside development, so a shifted run says it is one.
    """
    days = clock_offset_days()
    if not days:
        return {}
    return {CLOCK_OFFSET: str(days), "LEDGER_ENVIRONMENT": "development"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    env: dict[str, str],
    log_path: Path,
    unset: tuple[str, ...] = (),
    port: int | None = None,
) -> Iterator[str]:
    """Start ``ledger serve``; yield its base URL; stop it with SIGTERM.

    The server inherits this process's environment plus ``env``, less ``unset``,
    and runs on this test run's calendar (``clock_env``).
    """
    with server_process(env, log_path, unset, port) as (base_url, _process):
        yield base_url


@contextmanager
def server_process(
    env: dict[str, str],
    log_path: Path,
    unset: tuple[str, ...] = (),
    port: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like ``running_server``, yielding the process too (to kill it)."""
    port = port or free_port()
    defaults = {"LEDGER_DATA_DIR": str(log_path.parent / "data")}
    full_env = {
        k: v
        for k, v in {**os.environ, **defaults, **clock_env(), **env}.items()
        if k not in unset
    }
    ledger = Path(sys.executable).with_name("ledger")
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(ledger), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(process, base_url, log_path)
            yield base_url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"ledger serve exited with {process.returncode}:\n{log.read_text()}"
            raise RuntimeError(msg)
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    msg = f"ledger serve did not answer in time:\n{log.read_text()}"
    raise RuntimeError(msg)
