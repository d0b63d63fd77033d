"""Limits and secrets at unit level: who may read /metrics, the password-hashing
bound, the per-request user cache, users disabled and enabled, admin tokens."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal
from uuid import uuid4

import pytest
from argon2 import PasswordHasher
from starlette.requests import Request

from api.app import check_metrics_access
from api.auth import UserCache
from api.problems import ProblemError
from api.settings import Settings, SettingsError
from application.passwords import Passwords, PasswordsBusyError
from domain.errors import UserNotFoundError
from domain.users import Role, User

ADMIN = "a" * 40


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "LEDGER_ENVIRONMENT", "LEDGER_CLOCK_OFFSET_DAYS"):
        monkeypatch.delenv(name, raising=False)


def _request(host: str, authorization: str | None = None) -> Request:
    headers = (
        [] if authorization is None else [(b"authorization", authorization.encode())]
    )
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/metrics",
            "headers": headers,
            "client": (host, 40000),
        }
    )


# -- /metrics -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_metrics_are_served_to_loopback(host: str) -> None:
    check_metrics_access(_request(host), Settings(admin_token=ADMIN))


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {ADMIN}"])
def test_metrics_from_elsewhere_need_the_admin_token(authorization: str | None) -> None:
    with pytest.raises(ProblemError) as refused:
        check_metrics_access(
            _request("203.0.113.9", authorization), Settings(admin_token=ADMIN)
        )
    assert refused.value.status == 403
    check_metrics_access(
        _request("203.0.113.9", f"Bearer {ADMIN}"), Settings(admin_token=ADMIN)
    )


def test_metrics_from_elsewhere_are_refused_when_no_admin_token_is_set() -> None:
    with pytest.raises(ProblemError):
        check_metrics_access(_request("203.0.113.9", "Bearer "), Settings())


# -- password hashing runs a few at a time ------------------------------------------------


class _GatedHasher(PasswordHasher):
    """Counts how many computations run at once; each waits for the gate."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.gate = threading.Event()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.gate.wait(10)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


def test_at_most_a_few_password_verifications_run_at_once() -> None:
    hasher = _GatedHasher()
    passwords = Passwords(hasher, max_concurrent=2, wait_seconds=10)
    stored = passwords.hash("a good password")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [
            pool.submit(passwords.verify, stored, "wrong one!") for _ in range(8)
        ]
        while hasher.running < 2:
            threading.Event().wait(0.01)
        hasher.gate.set()
        assert [result.result() for result in results] == [False] * 8
    assert hasher.most == 2


def test_a_verification_that_cannot_start_in_time_is_refused_as_busy() -> None:
    hasher = _GatedHasher()
    passwords = Passwords(hasher, max_concurrent=1, wait_seconds=0.05)
    stored = passwords.hash("a good password")
    with ThreadPoolExecutor(max_workers=1) as pool:
        holding = pool.submit(passwords.verify, stored, "a good password")
        while hasher.running < 1:
            threading.Event().wait(0.01)
        with pytest.raises(PasswordsBusyError):
            passwords.verify(stored, "a good password")
        hasher.gate.set()
        assert holding.result() is True


# -- the user read per request ---------------------------------------------------------


def _user() -> User:
    return User.add(uuid4(), f"{uuid4().hex[:8]}@x.com", Role.OPERATOR, "hash")


def test_the_user_cache_serves_a_user_until_forgotten_or_stale() -> None:
    user = _user()
    now = [0.0]
    loads: list[object] = []

    def load(user_id: object) -> User:
        loads.append(user_id)
        return user

    cache = UserCache(load, seconds=1.0, clock=lambda: now[0])
    assert cache.get(user.id) is not None
    user.change_role(Role.FINANCE)
    assert cache.get(user.id).role is Role.OPERATOR  # type: ignore[union-attr]
    cache.forget(user.id)
    assert cache.get(user.id).role is Role.FINANCE  # type: ignore[union-attr]
    user.disable()
    now[0] = 1.5  # another process changed it: seen once the entry is stale
    assert cache.get(user.id).disabled  # type: ignore[union-attr]
    assert len(loads) == 3


def test_the_user_cache_answers_without_loading_only_while_fresh() -> None:
    user = _user()
    now = [0.0]
    cache = UserCache(lambda _: user, seconds=1.0, clock=lambda: now[0])
    assert cache.fresh(user.id) is None  # never read: the caller must load it
    cache.get(user.id)
    fresh = cache.fresh(user.id)
    assert fresh is not None
    assert fresh[0] is not None
    assert fresh[0].role is Role.OPERATOR
    now[0] = 1.5
    assert cache.fresh(user.id) is None


def test_the_user_cache_knows_a_missing_user() -> None:
    def load(user_id: object) -> User:
        raise UserNotFoundError(str(user_id))

    assert UserCache(load).get(uuid4()) is None


def test_a_user_is_disabled_and_enabled_once_each() -> None:
    user = _user()
    user.disable()
    user.disable()
    user.enable()
    user.enable()
    kinds = [type(event).__name__ for event in user.collect_events()]
    assert kinds == ["Added", "Disabled", "Enabled"]
    assert not user.disabled


# -- admin tokens ------------------------------------------------------------------------


def _production(admin_token: str | None) -> Settings:
    return Settings(
        database_url="postgresql://db/ledger",
        secret_key="k" * 40,
        webhook_secret="w" * 40,
        admin_token=admin_token,
    )


def test_a_weak_admin_token_is_refused_outside_development() -> None:
    with pytest.raises(SettingsError, match="LEDGER_ADMIN_TOKEN"):
        _production("short").check_secrets()
    _production(ADMIN).check_secrets()
    _production(None).check_secrets()  # unset: sign-up is disabled instead
    Settings(admin_token="short").check_secrets()  # development


def test_sandbox_pay_is_on_in_development_or_when_enabled() -> None:
    assert Settings().sandbox_pay_enabled
    assert not Settings(database_url="postgresql://db/ledger").sandbox_pay_enabled
    assert Settings(
        database_url="postgresql://db/ledger", sandbox_pay=True
    ).sandbox_pay_enabled
