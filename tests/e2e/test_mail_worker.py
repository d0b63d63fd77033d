"""``ledger serve`` mails from a child process at low priority, and restarts it.

The shared server's process tree is read from ``/proc``: the server is this test
run's child listening on ``api_url``'s port; its mailer is the server's child.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.conftest import Session
from tests.e2e.test_mail_and_documents import noticed

LOW_PRIORITY = 10
STARTUP_TIMEOUT_SECONDS = 30


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` fields after the command name (state is field 0)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return raw.decode(errors="replace").split("\0")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


def _server_pid(api_url: str) -> int:
    port = str(urlsplit(api_url).port)
    for pid in _children(os.getpid()):
        command = _cmdline(pid)
        if "serve" in command and port in command:
            return pid
    msg = f"no ledger serve on port {port} among this run's children"
    raise AssertionError(msg)


def _mail_worker(server: int, other_than: int | None = None) -> int:
    """The server's ``ledger mail`` child (a new one, if ``other_than`` is given)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for pid in _children(server):
            try:
                command, state = _cmdline(pid), _stat(pid)[0]
            except OSError:
                continue
            if "mail" in command and pid != other_than and state != "Z":
                return pid
        time.sleep(0.05)
    msg = f"ledger serve ({server}) has no mail worker"
    raise AssertionError(msg)


def _niceness(pid: int) -> int:
    """The process's nice value once ``ledger mail`` has lowered it (it does so
    first thing, once its imports are done), or as it is after the timeout."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        nice = int(_stat(pid)[16])
        if nice == LOW_PRIORITY or time.monotonic() > deadline:
            return nice
        time.sleep(0.05)


def _mail_files(server: int, recipient: str) -> list[Path]:
    """The ``.eml`` files the server's ``FileSender`` wrote to ``recipient``."""
    environ = Path(f"/proc/{server}/environ").read_bytes().decode().split("\0")
    data = dict(item.split("=", 1) for item in environ if "=" in item)
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:12]
    return sorted(Path(data["LEDGER_DATA_DIR"], "mail").glob(f"*-{digest}.eml"))


def test_the_mailer_runs_niced_in_a_child_restarted_when_killed(
    api_url: str, tenant: Session
) -> None:
    server = _server_pid(api_url)
    first = _mail_worker(server)
    assert first != server
    assert _niceness(first) == LOW_PRIORITY

    os.kill(first, signal.SIGKILL)
    second = _mail_worker(server, other_than=first)
    assert _niceness(second) == LOW_PRIORITY

    client = tenant.client(name="Ana Souza")
    tenant.contract(client["id"])
    invoice = tenant.ok(tenant.invoice(client["id"]), 201)
    assert tenant.wait_registered(invoice["id"])["status"] == "awaiting_payment"
    notices = noticed(tenant, invoice["id"])
    assert [n["kind"] for n in notices] == ["invoice"]
    assert len(_mail_files(server, client["email"])) == 1
