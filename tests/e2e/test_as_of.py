"""Receivables ``as_of`` a day, over HTTP: the books as they stood then."""

from __future__ import annotations

from typing import Any

from tests.builders import days_from_today
from tests.e2e.conftest import ISSUED_DAYS_AGO, Session


def receivables(tenant: Session, **params: Any) -> dict[str, Any]:
    return tenant.ok(tenant.get("/v1/erp/receivables", params=params))


def test_as_of_shows_the_receivables_as_they_stood_that_day(tenant: Session) -> None:
    client = tenant.billable_client("Carla Dias")
    invoice = tenant.ok(tenant.invoice(client["id"], amount="80.00"), 201)
    assert tenant.wait_registered(invoice["id"])["status"] == "awaiting_payment"
    paid = tenant.post(
        f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"}
    )
    tenant.ok(paid, 202)
    assert tenant.wait_for(invoice["id"], "paid")["status"] == "paid"
    history = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}/events"))
    after = history["items"][-1]["position"]

    now = receivables(tenant, after=after, as_of=days_from_today(0))
    assert now == receivables(tenant, after=after)  # today's end is the live list
    assert [i["situation"] for i in now["items"]] == ["settled"]

    issued_day = days_from_today(-ISSUED_DAYS_AGO)
    then = receivables(tenant, after=after, as_of=issued_day)
    (item,) = then["items"]
    assert (item["situation"], item["amount_paid"], item["amount_open"]) == (
        "open",
        "0.00",
        "80.00",
    )
    assert item["settled_at"] is None
    assert then["totals"] == {
        "count": 1,
        "amount": "80.00",
        "amount_paid": "0.00",
        "amount_open": "80.00",
    }
    assert receivables(tenant, as_of=issued_day, situation="settled")["items"] == []
    before = receivables(tenant, as_of=days_from_today(-ISSUED_DAYS_AGO - 1))
    assert before["items"] == []
    assert before["totals"]["count"] == 0


def test_as_of_must_be_a_day_that_has_ended_or_today(tenant: Session) -> None:
    for bad in (days_from_today(1), "2026-02-30", "1999-12-31", "hoje", "2100-01-01"):
        response = tenant.get("/v1/erp/receivables", params={"as_of": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert ["query", "as_of"] in [e["loc"] for e in problem["errors"]]
    future = tenant.get(
        "/v1/erp/receivables",
        params={"as_of": days_from_today(1)},
        headers={"Accept-Language": "pt-BR"},
    )
    assert future.json()["errors"][0]["msg"] == "não pode ser posterior a hoje"
