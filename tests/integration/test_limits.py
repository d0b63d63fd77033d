"""Idempotency leases, login throttling and the last-owner rule, on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from psycopg_pool import ConnectionPool

from adapters.idempotency import IdempotencyStore
from adapters.throttle import LoginThrottle
from application.ledger import LastOwnerError, Ledger
from domain.errors import UserNotFoundError
from tests.builders import PASSWORD, a_cnpj, an_email


@pytest.fixture
def pool(database_url: str) -> Iterator[ConnectionPool[Any]]:
    with ConnectionPool(database_url, min_size=1, max_size=4, open=True) as opened:
        yield opened


def _until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- idempotency keys ------------------------------------------------------------------


def test_a_claim_cut_off_before_its_answer_is_taken_over_once_its_lease_ends(
    pool: ConnectionPool[Any],
) -> None:
    store = IdempotencyStore(pool, lease_seconds=0.3)
    store.create_tables()
    scope, key = f"tenant:{uuid4()}", "k"
    assert store.claim(scope, key, "h1") is None  # ... and then the process died
    held = store.claim(scope, key, "h1")
    assert held is not None
    assert held[1] is None  # still held: a twin waits, nothing runs twice
    assert _until(lambda: store.claim(scope, key, "h1") is None)


def test_an_answered_key_is_never_taken_over(pool: ConnectionPool[Any]) -> None:
    store = IdempotencyStore(pool, lease_seconds=0.05)
    store.create_tables()
    scope, key = f"tenant:{uuid4()}", "k"
    assert store.claim(scope, key, "h1") is None
    store.complete(scope, key, 201, [["content-type", "application/json"]], b"{}")
    time.sleep(0.1)  # the lease has run out: the answer stays
    stored = store.claim(scope, key, "h1")
    assert stored is not None
    assert stored[1] == 201


def test_keys_are_scoped(pool: ConnectionPool[Any]) -> None:
    store = IdempotencyStore(pool)
    store.create_tables()
    assert store.claim(f"tenant:{uuid4()}", "same", "h") is None
    assert store.claim(f"tenant:{uuid4()}", "same", "h") is None


# -- login throttling -----------------------------------------------------------------


def test_ten_failures_close_the_door_for_the_window(pool: ConnectionPool[Any]) -> None:
    throttle = LoginThrottle(pool)
    throttle.create_tables()
    email = an_email("throttled")
    for _ in range(9):
        throttle.failed(email)
    assert throttle.retry_after(email) is None
    throttle.failed(email.upper())  # the same login, typed otherwise
    wait = throttle.retry_after(email)
    assert wait is not None
    assert 890 <= wait <= 900
    assert throttle.retry_after(an_email("other")) is None


def test_a_window_that_has_passed_starts_again(pool: ConnectionPool[Any]) -> None:
    throttle = LoginThrottle(pool, max_failures=2, window_seconds=1)
    throttle.create_tables()
    email = an_email("late")
    throttle.failed(email)
    throttle.failed(email)
    assert throttle.retry_after(email) is not None
    assert _until(lambda: throttle.retry_after(email) is None)
    throttle.failed(email)  # a new window: one failure so far
    assert throttle.retry_after(email) is None


def test_a_success_forgets_earlier_failures(pool: ConnectionPool[Any]) -> None:
    throttle = LoginThrottle(pool, max_failures=2)
    throttle.create_tables()
    email = an_email("forgiven")
    throttle.failed(email)
    throttle.succeeded(email)
    throttle.failed(email)
    assert throttle.retry_after(email) is None


# -- users ---------------------------------------------------------------------------


def test_the_last_enabled_owner_stays(ledger: Ledger) -> None:
    registered = ledger.register_reseller("Revenda", a_cnpj(), an_email(), PASSWORD)
    tenant, owner = registered.reseller.id, registered.owner.id
    with pytest.raises(LastOwnerError):
        ledger.update_user(tenant, owner, disabled=True)
    with pytest.raises(LastOwnerError):
        ledger.update_user(tenant, owner, role="operator")
    second = ledger.add_user(tenant, an_email(), PASSWORD, "owner").aggregate
    ledger.update_user(
        tenant, owner, disabled=True, colleagues=lambda: [owner, second.id]
    )
    assert ledger.get_user(owner).disabled
    with pytest.raises(LastOwnerError):
        ledger.update_user(
            tenant, second.id, role="finance", colleagues=lambda: [owner]
        )
    assert ledger.authenticate(registered.owner.email, PASSWORD) is None
    assert ledger.authenticate(second.email, PASSWORD) is not None


def test_another_tenants_user_is_not_found(ledger: Ledger) -> None:
    mine = ledger.register_reseller("A", a_cnpj(), an_email(), PASSWORD)
    theirs = ledger.register_reseller("B", a_cnpj(), an_email(), PASSWORD)
    with pytest.raises(UserNotFoundError):
        ledger.update_user(mine.reseller.id, theirs.owner.id, role="finance")
    assert ledger.get_user(theirs.owner.id).role.value == "owner"
