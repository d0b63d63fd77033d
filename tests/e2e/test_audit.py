"""An auditor's questions, answered from the API alone.

"Who paid this, who cancelled that, and is this history the one that was written":
histories and the audit feed name each event's actor, and the tenant's hash chain
verifies (its head is the feed's last hash).
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Session
from tests.e2e.test_api import assert_problem
from tests.e2e.test_partner import registered_invoice


def _history(session: Session, invoice_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = session.ok(
        session.get(f"/v1/invoices/{invoice_id}/events")
    )["items"]
    return items


def _actor_of(items: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    (actor,) = [item["actor"] for item in items if item["type"] == event_type]
    return {key: value for key, value in actor.items() if value is not None}


def test_who_paid_this_and_who_cancelled_that(tenant: Session) -> None:
    operator = tenant.login_as("operator")
    me = operator.ok(operator.get("/v1/me"))
    paid = registered_invoice(tenant)
    queued = tenant.post(
        f"/v1/sandbox/invoices/{paid['id']}/pay", json={"method": "pix"}
    )
    assert queued.status_code == 202, queued.text
    assert tenant.wait_for(paid["id"], "paid")["status"] == "paid"
    cancelled = registered_invoice(tenant)
    operator.ok(
        operator.post(
            f"/v1/invoices/{cancelled['id']}/cancel", json={"reason": "desistência"}
        )
    )

    auditor = tenant.login_as("auditor")
    paid_history = _history(auditor, paid["id"])
    owner = _actor_of(paid_history, "Invoice.Issued")
    assert (owner["type"], owner["email"]) == ("user", tenant.email)
    assert _actor_of(paid_history, "Invoice.Registered") == {
        "type": "system",
        "id": "charge_registration",
    }
    payments = [
        item["actor"] for item in paid_history if item["type"].startswith("Invoice.Pa")
    ]
    assert payments
    assert all(
        (actor["type"], actor["id"]) == ("partner", "sandbox") for actor in payments
    )
    assert _actor_of(_history(auditor, cancelled["id"]), "Invoice.Cancelled") == {
        "type": "user",
        "id": me["user_id"],
        "email": operator.email,
    }


def test_the_feed_shows_actors_and_hashes_and_the_chain_verifies(
    tenant: Session,
) -> None:
    client = tenant.client()
    feed = tenant.ok(tenant.get("/v1/audit/events", params={"limit": 1000}))["items"]
    assert feed[0]["type"] == "Reseller.Registered"
    assert feed[0]["actor"]["type"] == "system"  # signed up with the admin token
    mine = next(item for item in feed if item["aggregate_id"] == client["id"])
    assert (mine["actor"]["type"], mine["actor"]["email"]) == ("user", tenant.email)
    assert "actor" not in mine["data"]
    hashes = [item["hash"] for item in feed]
    assert all(len(value) == 64 for value in hashes)
    assert len(set(hashes)) == len(hashes)
    verified = tenant.ok(tenant.get("/v1/audit/verify"))
    assert verified == {
        "ok": True,
        "events": len(feed),
        "head": hashes[-1],
        "first_bad_position": None,
    }
    auditor = tenant.login_as("auditor")
    assert auditor.ok(auditor.get("/v1/audit/verify"))["ok"] is True
    for role in ("operator", "finance"):
        assert_problem(tenant.login_as(role).get("/v1/audit/verify"), 403)
