"""Money received over HTTP: every payment split, partly paid invoices, credits,
failed invoices out of the open books, retry, and the partner's minimum."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests.builders import days_from_today
from tests.e2e.conftest import Session
from tests.e2e.test_partner import REFUSED_DUE_DATE, deliver, event, registered_invoice


def pay(api_url: str, invoice: dict[str, Any], amount: str) -> int:
    """Deliver a signed payment of ``amount``; the position it was recorded at."""
    delivered = deliver(
        api_url, event("payment.received", invoice, amount=amount, method="pix")
    )
    assert delivered.json() == {"result": "applied"}, delivered.text
    return int(delivered.headers["Ledger-Position"])


def receivable(session: Session, invoice_id: str, after: int) -> dict[str, Any]:
    items = session.ok(session.get("/v1/erp/receivables", params={"after": after}))
    return next(r for r in items["items"] if r["invoice_id"] == invoice_id)


def customer(session: Session, customer_id: str, after: int) -> dict[str, Any]:
    items = session.ok(session.get("/v1/erp/customers", params={"after": after}))
    return next(c for c in items["items"] if c["id"] == customer_id)


def test_an_amount_below_the_partners_minimum_is_refused_naming_it(
    tenant: Session,
) -> None:
    client = tenant.billable_client()
    for language, amount in (("en", "4.99"), ("pt-BR", "0.01")):
        response = tenant.post(
            "/v1/invoices",
            json={
                "client_id": client["id"],
                "description": "Mensalidade",
                "amount": amount,
                "due_date": days_from_today(10),
                "reference_month": "01",
                "reference_year": "2030",
            },
            headers={"Accept-Language": language},
        )
        assert response.status_code == 422, response.text
        assert "R$ 5,00" in response.text
    assert tenant.ok(tenant.get("/v1/invoices"))["items"] == []
    assert tenant.ok(tenant.invoice(client["id"], amount="5.00"), 201)


def test_a_centavo_on_a_hundred_leaves_the_rest_open_in_every_view(
    tenant: Session, api_url: str
) -> None:
    invoice = registered_invoice(tenant, amount="100.00")
    position = pay(api_url, invoice, "0.01")
    paid = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))
    assert (paid["status"], paid["status_label"]) == (
        "partially_paid",
        "Pago Parcialmente",
    )
    assert (paid["amount_paid"], paid["balance"], paid["amount_fees"]) == (
        "0.01",
        "99.99",
        "0.00",
    )
    (payment,) = paid["payments"]
    assert (payment["amount"], payment["principal"], payment["credit"]) == (
        "0.01",
        "0.01",
        "0.00",
    )
    listed = tenant.ok(tenant.get("/v1/invoices", params={"after": position}))
    assert listed["items"][0]["payments"] == paid["payments"]
    assert listed["items"][0]["balance"] == "99.99"
    item = receivable(tenant, invoice["id"], position)
    assert (item["situation"], item["amount_open"], item["amount_paid"]) == (
        "open",
        "99.99",
        "0.01",
    )
    assert customer(tenant, invoice["client_id"], position)["open_amount"] == "99.99"
    aging = tenant.ok(tenant.get("/v1/erp/reports/aging", params={"after": position}))
    assert aging["totals"]["total"] == "99.99"


def test_fifty_on_eighty_nine_ninety_then_the_sandbox_pays_the_rest(
    tenant: Session,
) -> None:
    invoice = registered_invoice(tenant, amount="89.90")
    first = tenant.post(
        f"/v1/sandbox/invoices/{invoice['id']}/pay",
        json={"method": "pix", "amount": "50.00"},
    )
    assert first.status_code == 202, first.text
    partly = tenant.wait_for(invoice["id"], "partially_paid")
    assert (partly["status"], partly["balance"]) == ("partially_paid", "39.90")
    rest = tenant.post(
        f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"}
    )
    assert rest.status_code == 202, rest.text
    paid = tenant.wait_for(invoice["id"], "paid")
    assert [p["amount"] for p in paid["payments"]] == ["50.00", "39.90"]
    assert (paid["status"], paid["balance"], paid["amount_paid"]) == (
        "paid",
        "0.00",
        "89.90",
    )


def test_money_beyond_the_balance_is_a_credit_the_reseller_can_give_back(
    tenant: Session, other_tenant: Session, api_url: str
) -> None:
    invoice = registered_invoice(tenant, amount="150.00")
    pay(api_url, invoice, "160.00")
    position = pay(api_url, invoice, "150.00")  # a second payment: all credit
    paid = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))
    assert paid["status"] == "paid"
    assert [p["credit"] for p in paid["payments"]] == ["10.00", "150.00"]
    listed = tenant.ok(tenant.get("/v1/erp/credits", params={"after": position}))
    assert [(c["amount"], c["origin"], c["status_label"]) for c in listed["items"]] == [
        ("150.00", "duplicate_payment", "Disponível"),
        ("10.00", "overpayment", "Disponível"),
    ]
    assert {c["invoice_code"] for c in listed["items"]} == {paid["code"]}
    assert customer(tenant, invoice["client_id"], position)["credit_amount"] == "160.00"

    duplicate = listed["items"][0]
    path = f"/v1/erp/credits/{duplicate['id']}/refund"
    assert (
        tenant.login_as("auditor").post(path, json={"reason": "x"}).status_code == 403
    )
    assert other_tenant.post(path, json={"reason": "x"}).status_code == 404
    assert tenant.post(path, json={}).status_code == 422
    finance = tenant.login_as("finance")
    refunded = finance.post(path, json={"reason": "devolvido por Pix"})
    assert refunded.status_code == 200, refunded.text
    body = refunded.json()
    assert (body["status"], body["status_label"]) == ("refunded", "Devolvido")
    assert body["refunded_at"] is not None
    again = finance.post(path, json={"reason": "de novo"})
    assert again.status_code == 409
    after = int(refunded.headers["Ledger-Position"])
    assert customer(tenant, invoice["client_id"], after)["credit_amount"] == "10.00"
    available = tenant.ok(
        tenant.get("/v1/erp/credits", params={"after": after, "status": "available"})
    )
    assert [c["amount"] for c in available["items"]] == ["10.00"]
    assert tenant.get("/v1/erp/credits", params={"status": "spent"}).status_code == 422
    assert (
        tenant.post(
            f"/v1/erp/credits/{uuid4()}/refund", json={"reason": "x"}
        ).status_code
        == 404
    )


def test_a_failed_invoice_is_out_of_the_open_books_and_can_be_retried_or_cancelled(
    tenant: Session,
) -> None:
    invoice = registered_invoice(tenant, amount="80.00", **REFUSED_DUE_DATE)
    assert invoice["status"] == "failed"
    head = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}/events"))["items"][-1][
        "position"
    ]
    item = receivable(tenant, invoice["id"], head)
    assert (item["situation"], item["situation_label"], item["amount_open"]) == (
        "failed",
        "Falha no Registro",
        "0.00",
    )
    open_items = tenant.ok(
        tenant.get("/v1/erp/receivables", params={"situation": "open"})
    )
    assert open_items["totals"]["amount_open"] == "0.00"
    assert customer(tenant, invoice["client_id"], head)["open_amount"] == "0.00"
    aging = tenant.ok(
        tenant.get("/v1/erp/reports/aging", params={"as_of": days_from_today(0)})
    )
    assert aging["items"] == []

    retried = tenant.post(f"/v1/invoices/{invoice['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["failure_reason"]) == (
        "processing",
        None,
    )
    again = tenant.wait_registered(invoice["id"])
    assert again["status"] == "failed"  # the partner refuses it again
    assert (
        tenant.post(
            f"/v1/invoices/{invoice['id']}/cancel", json={"reason": "x"}
        ).json()["status"]
        == "cancelled"
    )
    assert tenant.post(f"/v1/invoices/{invoice['id']}/retry").status_code == 409


def test_a_partly_paid_invoice_can_be_cancelled_and_only_failed_ones_retried(
    tenant: Session, api_url: str
) -> None:
    invoice = registered_invoice(tenant, amount="100.00")
    assert tenant.post(f"/v1/invoices/{invoice['id']}/retry").status_code == 409
    assert tenant.post(f"/v1/invoices/{uuid4()}/retry").status_code == 404
    pay(api_url, invoice, "30.00")
    cancelled = tenant.post(
        f"/v1/invoices/{invoice['id']}/cancel", json={"reason": "x"}
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["balance"], body["amount_paid"]) == (
        "cancelled",
        "0.00",
        "30.00",
    )
