"""Child processes that ``ledger serve`` and ``ledger project`` keep running.

Heavy, non-urgent work (``ledger mail``: a PDF rendered per notice) runs in a child
at low priority, so the API's requests and the views never wait behind it for the
GIL. The child reads its standard input, a pipe from this process, and stops at its
end: it goes with its parent even when the parent is killed outright. One child
runs at a time (the next starts only once the last has exited), and its follower's
advisory lock keeps it the only mailer of the database across machines too.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 0.5
MAX_RESTART_PAUSE_SECONDS = 30.0
STEADY_SECONDS = 60.0
"""A child that ran this long had no trouble starting: the next pause is short."""
STOP_TIMEOUT_SECONDS = 10.0


def ledger_command(*args: str) -> list[str]:
    """The ``ledger`` command line with ``args``, run by this very interpreter."""
    return [sys.executable, "-m", "api.cli", *args]


class Child:
    """Runs ``argv`` as a child process, starting it again whenever it exits."""

    def __init__(self, name: str, argv: Sequence[str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> None:
        """Start the child and its supervising thread."""
        self._thread = threading.Thread(
            target=self._supervise, name=f"child-{self.name}", daemon=True
        )
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            # Its own session: a Ctrl-C in the terminal reaches the server, which
            # stops the child itself; the pipe on stdin tells it if the server died.
            # Named in pg_stat_activity (libpq reads PGAPPNAME), after its
            # parent's name if it has one: operators see which connections are
            # the child's.
            env = {**os.environ}
            parent = env.get("PGAPPNAME")
            own = f"ledger {self.name}"
            env["PGAPPNAME"] = f"{parent}/{own}" if parent else own
            self._process = subprocess.Popen(  # noqa: S603 - our own command
                self.argv, stdin=subprocess.PIPE, start_new_session=True, env=env
            )
            log.info("%s started (pid %s)", self.name, self._process.pid)
            return self._process

    def _supervise(self) -> None:
        failures = 0
        while True:
            process = self._spawn()
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            steady = time.monotonic() - started > STEADY_SECONDS
            failures = 1 if steady else failures + 1
            pause = min(
                MAX_RESTART_PAUSE_SECONDS, RESTART_PAUSE_SECONDS * 2 ** (failures - 1)
            )
            self.restarts += 1
            log.warning(
                "%s (pid %s) exited with %s; starting it again in %.1f s",
                self.name,
                process.pid,
                code,
                pause,
            )
            if self._stopping.wait(pause):
                return

    def stop(self) -> None:
        """Stop the child (its input ends, then SIGTERM, then SIGKILL) and wait."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS)


def stop_at_end_of_input(stopped: threading.Event) -> None:
    """Set ``stopped`` when standard input ends (the supervising server is gone)."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stopped.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def lower_priority(niceness: int, session_niceness: int) -> None:
    """Run this process at ``niceness``; its session at ``session_niceness``.

    The session only if this process leads its own. The kernel's autogroups
    (``/proc/sys/kernel/sched_autogroup_enabled``) schedule each session as one
    group against the others, and a process's nice value
    weighs only inside its group: a ``Child``, in a session of its own, would get
    as much CPU as the whole session of the server that started it. Its session's
    nice is what yields to the server. A session started from a shell is not only
    this process's, so that one is left alone.
    """
    os.nice(niceness)
    if os.getsid(0) != os.getpid():
        return
    try:
        Path("/proc/self/autogroup").write_text(f"{session_niceness}\n")
    except OSError as error:  # no autogroups here: the nice value does it all
        log.debug("session priority unchanged: %s", error)
