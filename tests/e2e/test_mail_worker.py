"""``ledger serve`` and ``ledger project`` mail from a child process at low
priority; the server restarts it, and the child goes with its parent.

Process trees are read from ``/proc``: the shared server is this test run's child
listening on ``api_url``'s port; its mailer is the server's child.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from aiosmtpd.controller import Controller

from api.settings import Settings
from projections.followers import LOCK_NAMESPACE
from tests.e2e.conftest import SECRETS, Session, new_tenant
from tests.e2e.server import clock_env, free_port, server_process
from tests.e2e.test_mail_and_documents import Inbox, noticed, registered, subject_of
from tests.integration.workers import start_worker, stop, wait_until

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


def _mail_workers(parent: int) -> list[int]:
    """``parent``'s running ``ledger mail`` children."""
    found = []
    for pid in _children(parent):
        try:
            command, state = _cmdline(pid), _stat(pid)[0]
        except OSError:
            continue
        if "mail" in command and state != "Z":
            found.append(pid)
    return found


def _mail_worker(server: int, other_than: int | None = None) -> int:
    """The process's ``ledger mail`` child (a new one, if ``other_than`` is given)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for pid in _mail_workers(server):
            if pid != other_than:
                return pid
        time.sleep(0.05)
    msg = f"process {server} has no mail worker"
    raise AssertionError(msg)


def _ended(pid: int) -> bool:
    """Whether the ``ledger mail`` process ``pid`` is gone (or a zombie)."""
    try:
        return _stat(pid)[0] == "Z" or "mail" not in _cmdline(pid)
    except OSError:
        return True


MAIL_CHILD_NAME = "ledger mail worker"
"""How the mail child names its connections."""


def _holds_a_follower_lock(database_url: str) -> bool:
    """Whether a connection of the mail child owns a follower's advisory lock.

    The child's connections carry its name (``PGAPPNAME``, after its parent's),
    whether they go over TCP or a Unix socket.
    """
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s"
            " AND l.objid <> 0 AND l.database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())",
            (LOCK_NAMESPACE,),
        ).fetchall()
    return any(name.endswith(MAIL_CHILD_NAME) for (name,) in rows)


def _session_niceness(pid: int) -> int | None:
    """The nice value of the process's autogroup (its session, to the scheduler),
    or None on a kernel without autogroups."""
    try:
        text = Path(f"/proc/{pid}/autogroup").read_text()
    except FileNotFoundError:
        return None
    return int(text.split()[-1])


def _niceness(pid: int, session: int = LOW_PRIORITY) -> int:
    """The process's nice value once ``ledger mail`` has lowered it and its
    session's to ``session`` (it does so first thing, once its imports are done),
    or as it is after the timeout."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        nice = int(_stat(pid)[16])
        lowered = _session_niceness(pid) in {session, None}
        if (nice == LOW_PRIORITY and lowered) or time.monotonic() > deadline:
            return nice
        time.sleep(0.05)


def _environ(pid: int) -> dict[str, str]:
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(item.split("=", 1) for item in environ if "=" in item)


def _mail_files(server: int, recipient: str) -> list[Path]:
    """The ``.eml`` files the server's ``FileSender`` wrote to ``recipient``."""
    data = _environ(server)
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:12]
    return sorted(Path(data["LEDGER_DATA_DIR"], "mail").glob(f"*-{digest}.eml"))


def test_the_mailer_runs_niced_in_a_child_restarted_when_killed(
    api_url: str, tenant: Session
) -> None:
    server = _server_pid(api_url)
    first = _mail_worker(server)
    assert first != server
    # In a session of its own, which yields to the server's as configured (the
    # test run lets it take a fair share: see Makefile).
    configured = int(_environ(server).get("LEDGER_MAIL_SESSION_NICENESS", "10"))
    assert _niceness(first, configured) == LOW_PRIORITY
    assert _session_niceness(first) in {configured, None}

    os.kill(first, signal.SIGKILL)
    second = _mail_worker(server, other_than=first)
    assert _niceness(second, configured) == LOW_PRIORITY

    client = tenant.client(name="Ana Souza")
    tenant.contract(client["id"])
    invoice = tenant.ok(tenant.invoice(client["id"]), 201)
    assert tenant.wait_registered(invoice["id"])["status"] == "awaiting_payment"
    notices = noticed(tenant, invoice["id"])
    assert [n["kind"] for n in notices] == ["invoice"]
    assert len(_mail_files(server, client["email"])) == 1


def test_ledger_project_mails_from_a_niced_child_that_stops_with_it(
    fresh_database: str, tmp_path: Path
) -> None:
    smtp_port = free_port()
    # The compose shape: the API only reads the views; `ledger project` runs them
    # and the processes, the mailer in its child.
    env = {
        "DATABASE_URL": fresh_database,
        **SECRETS,
        "LEDGER_RUN_PROJECTIONS": "false",
        "LEDGER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        # As in production (the default), whatever the test run sets.
        "LEDGER_MAIL_SESSION_NICENESS": str(
            Settings.model_fields["mail_session_niceness"].default
        ),
    }
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        # The server first: it creates the service's tables on the new database.
        with server_process(env, tmp_path / "serve.log") as (base_url, server):
            project = start_worker(
                fresh_database, "project", tmp_path / "project.log", env | clock_env()
            )
            try:
                mailer = _mail_worker(project.pid)
                assert _niceness(mailer) == LOW_PRIORITY
                # Its session yields to the server's too: nice 10 alone weighs
                # only inside the session.
                assert _session_niceness(mailer) in {LOW_PRIORITY, None}
                session = new_tenant(base_url)
                reseller = session.ok(session.get("/v1/me"))["reseller"]["name"]
                invoice = registered(session)
                notices = noticed(session, invoice["id"])
                messages = inbox.wait_for(1)
                # The child is the one mailer: it owns the mailer's lock.
                wait_until(
                    lambda: _holds_a_follower_lock(fresh_database),
                    STARTUP_TIMEOUT_SECONDS,
                    "the mail worker owns the mailer's lock",
                )
                assert _mail_workers(server.pid) == []
            finally:
                stop(project)
    finally:
        controller.stop()
    assert project.returncode == 0
    assert _ended(mailer)
    assert [n["kind"] for n in notices] == ["invoice"]
    assert [str(m["Subject"]) for m in messages] == [subject_of(invoice, reseller)]


def test_a_killed_ledger_project_takes_its_mail_child_with_it(
    fresh_database: str, tmp_path: Path
) -> None:
    project = start_worker(fresh_database, "project", tmp_path / "project.log")
    try:
        mailer = _mail_worker(project.pid)
    finally:
        stop(project, signal.SIGKILL)
    # Its input, a pipe from `ledger project`, has ended.
    wait_until(lambda: _ended(mailer), STARTUP_TIMEOUT_SECONDS, "the mail worker ends")
