"""Password hashing with argon2 (argon2-cffi), behind a small interface.

Passwords are never stored or recorded: only their argon2id hash, which carries its
own salt and parameters. Verifying an unknown user's password still runs one argon2
verification against a dummy hash, so that a login for an unknown e-mail takes about
as long as one with a wrong password.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.errors import InvalidInputError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


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

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("not a real password, only a decoy")

    @classmethod
    def fast_for_tests(cls) -> Passwords:
        """Minimal argon2 costs: the same code path, a fraction of the time."""
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (policy checked first)."""
        check_password_policy(password)
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; ``None`` still costs one verification."""
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None
