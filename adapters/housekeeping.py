"""Housekeeping that runs now and then, not on every request."""

from __future__ import annotations

import threading
import time


class Every:
    """Says, at most once per ``seconds`` per process, that a chore is due.

    Stores purge expired rows this way, so that a busy endpoint does not scan or
    delete on every request; the first call is always due.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next = 0.0
        self._guard = threading.Lock()

    def due(self) -> bool:
        """Whether the chore should run now (and then not again for a while)."""
        now = time.monotonic()
        with self._guard:
            if now < self._next:
                return False
            self._next = now + self.seconds
            return True
