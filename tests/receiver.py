"""A real HTTP receiver of webhooks for tests: it can fail, hang, then recover."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """``time.monotonic()`` when it arrived."""
    answered: int
    """The status the receiver answered (0: it hung up without answering)."""

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Behaviour:
    """What one path answers: ``fail`` times 500 first, or hangs ``hang`` seconds."""

    fail: int = 0
    hang: float = 0.0


@dataclass
class Receiver:
    """The requests received, by path, and each path's behaviour."""

    url: str
    received: list[Received] = field(default_factory=list)
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    """Every request's path and arrival time, as soon as it arrives."""
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def behave(self, path: str, *, fail: int = 0, hang: float = 0.0) -> str:
        """Set ``path``'s behaviour; return its URL."""
        self.behaviours[path] = Behaviour(fail, hang)
        return f"{self.url}{path}"

    def at(self, path: str, *, delivered: bool = True) -> list[Received]:
        """Requests to ``path`` (only those answered 2xx when ``delivered``)."""
        with self.changed:
            return [
                r
                for r in self.received
                if r.path == path and (not delivered or 200 <= r.answered < 300)
            ]

    def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``condition()`` holds (re-checked on each request)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def _answer(self, path: str, arrived: float) -> tuple[int, float]:
        with self.changed:
            self.arrivals.append((path, arrived))
            self.changed.notify_all()
            behaviour = self.behaviours.setdefault(path, Behaviour())
            if behaviour.hang:
                return 200, behaviour.hang
            if behaviour.fail > 0:
                behaviour.fail -= 1
                return 500, 0.0
            return 200, 0.0

    def _record(self, item: Received) -> None:
        with self.changed:
            self.received.append(item)
            self.changed.notify_all()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver on a free port of 127.0.0.1, stopped afterwards."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert receiver is not None
            arrived = time.monotonic()
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            status, hang = receiver._answer(self.path, arrived)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if hang:
                time.sleep(hang)  # longer than the sender waits: it hangs up
                receiver._record(Received(self.path, headers, body, arrived, 0))
                return
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()
            receiver._record(Received(self.path, headers, body, arrived, status))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
