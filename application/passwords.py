"""Password hashing with argon2 (argon2-cffi), behind a small interface.

Passwords are never stored or recorded: only their argon2id hash, which carries its
own salt and parameters. Verifying an unknown user's password still runs one argon2
verification against a dummy hash, so that a login for an unknown e-mail takes about
as long as one with a wrong password.

Each argon2 computation takes 64 MiB: at most ``MAX_CONCURRENT_HASHES`` run at once in
a process, so a burst of logins queues instead of exhausting memory. A computation
that cannot start within ``HASH_WAIT_SECONDS`` raises ``PasswordsBusyError`` (the API
answers 503 with ``Retry-After``) rather than holding its caller indefinitely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.errors import InvalidInputError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_CONCURRENT_HASHES = 3
HASH_WAIT_SECONDS = 10.0

T = TypeVar("T")


class PasswordsBusyError(RuntimeError):
    """Too many password computations are queued; try again shortly."""


def check_password_policy(password: str) -> None:
    """Refuse passwords that are too short or absurdly long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            "password", f"must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            "password", f"must have at most {MAX_PASSWORD_LENGTH} characters"
        )


class Passwords:
    """Hash and verify passwords; the cost parameters are argon2-cffi's."""

    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        *,
        max_concurrent: int = MAX_CONCURRENT_HASHES,
        wait_seconds: float = HASH_WAIT_SECONDS,
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("not a real password, only a decoy")
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._wait_seconds = wait_seconds

    def _bounded(self, compute: Callable[[], T]) -> T:
        if not self._slots.acquire(timeout=self._wait_seconds):
            msg = "too many logins at once; try again shortly"
            raise PasswordsBusyError(msg)
        try:
            return compute()
        finally:
            self._slots.release()

    @classmethod
    def fast_for_tests(cls) -> Passwords:
        """Minimal argon2 costs: the same code path, a fraction of the time."""
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (policy checked first)."""
        check_password_policy(password)
        return self._bounded(lambda: self._hasher.hash(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; ``None`` still costs one verification."""

        def matches() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return self._bounded(matches) and password_hash is not None
