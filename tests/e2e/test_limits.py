"""Abuse limits, users and secrets, end to end against a real ``ledger serve``."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import psycopg
import pytest

from tests.builders import PASSWORD, a_cnpj, a_cpf, an_email, days_from_today
from tests.e2e.conftest import (
    ADMIN_TOKEN,
    ISSUED_DAYS_AGO,
    SECRETS,
    Session,
    login,
    new_tenant,
)
from tests.e2e.server import clock_env, running_server
from tests.e2e.test_api import assert_problem, position

BEYOND = 10**12


# -- ?after= beyond the end of the log ---------------------------------------------


def test_after_beyond_the_end_of_the_log_is_409_at_once(tenant: Session) -> None:
    started = time.monotonic()
    refused = tenant.get("/v1/clients", params={"after": BEYOND})
    assert time.monotonic() - started < 2
    assert_problem(refused, 409)


def test_many_waits_beyond_the_end_do_not_slow_other_tenants(
    tenant: Session, other_tenant: Session
) -> None:
    def beyond(_: int) -> int:
        return tenant.get("/v1/invoices", params={"after": BEYOND}).status_code

    with ThreadPoolExecutor(max_workers=45) as pool:
        pending = pool.map(beyond, range(45))
        started = time.monotonic()
        other_tenant.ok(other_tenant.get("/v1/me"))
        assert time.monotonic() - started < 1.5
        assert set(pending) == {409}


# -- login throttling --------------------------------------------------------------


def test_ten_failed_logins_lock_the_email_out_even_with_the_right_password(
    api_url: str, tenant: Session
) -> None:
    def attempt(password: str) -> httpx.Response:
        return httpx.post(
            f"{api_url}/v1/auth/token",
            data={"username": tenant.email, "password": password},
        )

    for _ in range(10):
        assert_problem(attempt("wrong password"), 401)
    locked = attempt(PASSWORD)
    assert_problem(locked, 429)
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert tenant.ok(tenant.get("/v1/me"))  # tokens already issued still work
    colleague = tenant.login_as("finance")  # another e-mail is not locked
    assert colleague.ok(colleague.get("/v1/me"))["role"] == "finance"


# -- idempotency keys --------------------------------------------------------------


def test_a_key_is_shared_by_every_user_of_the_tenant(tenant: Session) -> None:
    operator = tenant.login_as("operator")
    key = {"Idempotency-Key": f"tenant-{uuid4()}"}
    body = {"name": "Uma vez", "document": a_cpf(), "email": "u@x.com"}
    first = tenant.ok(tenant.post("/v1/clients", json=body, headers=key), 201)
    again = operator.post("/v1/clients", json=body, headers=key)
    assert operator.ok(again, 201) == first
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_key_held_by_a_request_that_was_cut_off_is_free_after_its_lease(
    tenant: Session, api_database: str
) -> None:
    key = f"crashed-{uuid4()}"
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute(  # what a request killed after claiming its key leaves
            "INSERT INTO api_idempotency (scope, key, request_hash, lease_until)"
            " VALUES (%s, %s, 'cut-off', now() - interval '1 second')",
            (f"tenant:{tenant.reseller_id}", key),
        )
    body = {"name": "Depois da queda", "document": a_cpf(), "email": "q@x.com"}
    retried = tenant.post("/v1/clients", json=body, headers={"Idempotency-Key": key})
    assert tenant.ok(retried, 201)["name"] == "Depois da queda"
    assert "Idempotent-Replayed" not in retried.headers


def test_sign_up_keys_belong_to_the_admin_only(api_url: str) -> None:
    key = f"signup-{uuid4()}"
    body = {
        "name": "Revenda Chave",
        "document": a_cnpj(),
        "email": an_email("owner"),
        "password": PASSWORD,
    }

    def sign_up(token: str) -> httpx.Response:
        return httpx.post(
            f"{api_url}/v1/resellers",
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )

    assert_problem(sign_up("anything"), 401)
    created = sign_up(ADMIN_TOKEN)
    assert created.status_code == 201, created.text
    stranger = sign_up("not-the-admin")  # not a replay of the admin's answer
    assert_problem(stranger, 401)
    assert sign_up(ADMIN_TOKEN).headers["Idempotent-Replayed"] == "true"


# -- users ---------------------------------------------------------------------------


def _add_user(owner: Session, role: str) -> tuple[Session, int]:
    """A new logged-in user of the owner's tenant, and the position that added it."""
    email = an_email(role)
    created = owner.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "role": role}
    )
    owner.ok(created, 201)
    return login(str(owner.http.base_url), email, owner.reseller_id), position(created)


def _user_of(owner: Session, email: str, after: int) -> dict[str, object]:
    users = owner.ok(owner.get("/v1/users", params={"after": after}))
    assert users["next_cursor"] is None
    [user] = [user for user in users["items"] if user["email"] == email]
    assert isinstance(user, dict)
    return user


def test_owners_list_their_tenants_users(
    tenant: Session, other_tenant: Session
) -> None:
    operator, head = _add_user(tenant, "operator")
    listed = _user_of(tenant, operator.email, head)
    assert listed["role"] == "operator"
    assert listed["disabled"] is False
    assert {"id", "email", "role", "disabled", "created_at"} == listed.keys()
    theirs = other_tenant.ok(other_tenant.get("/v1/users", params={"after": head}))
    assert operator.email not in {user["email"] for user in theirs["items"]}
    assert_problem(operator.get("/v1/users"), 403)


def test_a_disabled_users_tokens_stop_at_once_and_it_cannot_log_in(
    tenant: Session, api_url: str
) -> None:
    operator, head = _add_user(tenant, "operator")
    user_id = _user_of(tenant, operator.email, head)["id"]
    changed = tenant.patch(f"/v1/users/{user_id}", json={"disabled": True})
    assert tenant.ok(changed)["disabled"] is True
    assert_problem(operator.get("/v1/me"), 401)
    refused = httpx.post(
        f"{api_url}/v1/auth/token",
        data={"username": operator.email, "password": PASSWORD},
    )
    assert_problem(refused, 401)
    listed = _user_of(tenant, operator.email, position(changed))
    assert listed["disabled"] is True
    tenant.ok(tenant.patch(f"/v1/users/{user_id}", json={"disabled": False}))
    assert operator.ok(operator.get("/v1/me"))["role"] == "operator"
    assert login(api_url, operator.email, tenant.reseller_id)


def test_a_changed_role_applies_to_the_next_request(tenant: Session) -> None:
    operator = tenant.login_as("operator")
    body = {"name": "Antes", "document": a_cpf(), "email": "a@x.com"}
    operator.ok(operator.post("/v1/clients", json=body), 201)
    user_id = operator.ok(operator.get("/v1/me"))["user_id"]
    changed = tenant.patch(f"/v1/users/{user_id}", json={"role": "finance"})
    assert tenant.ok(changed)["role"] == "finance"
    assert operator.ok(operator.get("/v1/me"))["role"] == "finance"
    assert_problem(operator.post("/v1/clients", json=body | {"document": a_cpf()}), 403)


def test_the_last_enabled_owner_cannot_leave(tenant: Session) -> None:
    me = tenant.ok(tenant.get("/v1/me"))["user_id"]
    assert_problem(tenant.patch(f"/v1/users/{me}", json={"disabled": True}), 409)
    assert_problem(tenant.patch(f"/v1/users/{me}", json={"role": "auditor"}), 409)
    assert tenant.ok(tenant.get("/v1/me"))["role"] == "owner"
    second, added = _add_user(tenant, "owner")
    second_id = second.ok(second.get("/v1/me"))["user_id"]
    _user_of(tenant, second.email, added)  # the view knows the second owner
    demoted = tenant.ok(tenant.patch(f"/v1/users/{me}", json={"role": "auditor"}))
    assert demoted["role"] == "auditor"
    assert_problem(second.patch(f"/v1/users/{second_id}", json={"disabled": True}), 409)


def test_users_of_another_tenant_and_bad_changes_are_refused(
    tenant: Session, other_tenant: Session
) -> None:
    theirs = other_tenant.ok(other_tenant.get("/v1/me"))["user_id"]
    assert_problem(tenant.patch(f"/v1/users/{theirs}", json={"role": "finance"}), 404)
    assert_problem(tenant.patch(f"/v1/users/{uuid4()}", json={"role": "finance"}), 404)
    me = tenant.ok(tenant.get("/v1/me"))["user_id"]
    assert_problem(tenant.patch(f"/v1/users/{me}", json={"role": "admin"}), 422)
    assert_problem(tenant.patch(f"/v1/users/{me}", json={"name": "x"}), 422)
    assert other_tenant.ok(other_tenant.get("/v1/me"))["role"] == "owner"


# -- the sandbox's pay endpoint ------------------------------------------------------


def test_a_sandbox_payment_dated_out_of_range_is_422(tenant: Session) -> None:
    invoice = tenant.ok(tenant.invoice(tenant.billable_client()["id"]), 201)
    path = f"/v1/sandbox/invoices/{invoice['id']}/pay"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    before_issue = f"{days_from_today(-ISSUED_DAYS_AGO - 1)}T12:00:00-03:00"
    for paid_at in (future, before_issue):
        refused = tenant.post(path, json={"method": "pix", "paid_at": paid_at})
        assert assert_problem(refused, 422)["errors"] == [
            {"loc": ["body", "paid_at"], "msg": refused.json()["errors"][0]["msg"]}
        ]
    assert tenant.wait_for(invoice["id"], "awaiting_payment")["status"] == (
        "awaiting_payment"
    )


def test_without_views_running_after_waits_then_503_and_sandbox_pay_is_off(
    fresh_database: str, tmp_path: Path
) -> None:
    """A server outside development, without LEDGER_SANDBOX_PAY, views stopped."""
    if clock_env():
        pytest.skip("a shifted calendar runs the server in development mode")
    env = {k: v for k, v in SECRETS.items() if k != "LEDGER_SANDBOX_PAY"}
    env |= {"DATABASE_URL": fresh_database, "LEDGER_RUN_PROJECTIONS": "false"}
    log = tmp_path / "serve.log"
    with running_server(env, log, unset=("LEDGER_SANDBOX_PAY",)) as url:
        owner = new_tenant(url)
        created = owner.invoice(owner.billable_client()["id"])
        invoice = owner.ok(created, 201)
        started = time.monotonic()
        waited = owner.get("/v1/invoices", params={"after": position(created)})
        assert_problem(waited, 503)
        assert waited.headers["Retry-After"] == "1"
        assert time.monotonic() - started >= 4.5
        refused = owner.post(
            f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"}
        )
        assert_problem(refused, 404)
        assert "disabled" in refused.json()["detail"]


# -- headers ---------------------------------------------------------------------------


def test_documents_and_pages_carry_security_headers(
    tenant: Session, api_url: str
) -> None:
    invoice = tenant.ok(tenant.invoice(tenant.billable_client()["id"]), 201)
    html = tenant.get(f"/v1/invoices/{invoice['id']}/html")
    assert html.status_code == 200
    policy = html.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # no scripts at all, inline or not
    assert html.headers["X-Content-Type-Options"] == "nosniff"
    assert html.headers["X-Frame-Options"] == "DENY"
    assert html.headers["Cache-Control"] == "no-store"
    assert html.headers["Referrer-Policy"] == "no-referrer"
    docs = httpx.get(f"{api_url}/docs")
    assert (
        "script-src 'self' 'unsafe-inline'" in docs.headers["Content-Security-Policy"]
    )
    assert (
        httpx.get(f"{api_url}/healthz").headers["X-Content-Type-Options"] == "nosniff"
    )
