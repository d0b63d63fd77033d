"""Outbound webhooks over HTTP: endpoints, and ``invoice.paid`` pushed to a client."""

from __future__ import annotations

import sys
import time
from typing import Any

import psycopg

from adapters.sandbox import SIGNATURE_HEADER, verify
from tests.e2e.conftest import Session
from tests.receiver import running_receiver

PUSH_DEADLINE_SECONDS = 1.0
"""The API client hears of a payment within this long of the partner's webhook."""


def endpoint(tenant: Session, url: str, events: list[str]) -> dict[str, Any]:
    body = {"url": url, "events": events}
    return tenant.ok(tenant.post("/v1/webhook-endpoints", json=body), 201)


def test_an_api_client_hears_of_a_payment_within_a_second_of_the_partner(
    tenant: Session, api_database: str
) -> None:
    client = tenant.billable_client("Cliente Webhook")
    invoice = tenant.ok(tenant.invoice(client["id"], amount="42.00"), 201)
    assert tenant.wait_registered(invoice["id"])["status"] == "awaiting_payment"
    with running_receiver() as receiver:
        created = endpoint(tenant, receiver.behave("/ledger"), ["invoice.paid"])
        paid = tenant.post(
            f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"}
        )
        assert paid.status_code == 202, paid.text
        assert receiver.wait(lambda: len(receiver.at("/ledger")) == 1, 10)
        heard_at = time.time() - (time.monotonic() - receiver.at("/ledger")[0].at)
    (request,) = receiver.at("/ledger")

    # When the partner's webhook reached the service, by the service's own log.
    with psycopg.connect(api_database) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM received_at) FROM webhook_log"
            " WHERE event_id = %s",
            (paid.json()["event_id"],),
        ).fetchone()
    assert row is not None
    latency = heard_at - float(row[0])
    # The figure the issue asks for, in the test log (``-s`` or a failure).
    sys.stderr.write(
        f"invoice.paid reached the client {latency * 1000:.0f} ms after"
        " the partner's webhook\n"
    )
    assert 0 <= latency < PUSH_DEADLINE_SECONDS, latency

    body = request.json
    assert verify(
        created["secret"],
        request.headers[SIGNATURE_HEADER.lower()],
        request.body,
        time.time(),
    )
    assert (body["type"], body["data"]["id"]) == ("invoice.paid", invoice["id"])
    now = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))
    for field in ("status", "amount_paid", "balance", "paid_at", "payments", "code"):
        assert body["data"][field] == now[field], field
    assert set(body) == {"id", "type", "created_at", "position", "data"}
    history = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}/events"))
    paid_positions = [
        e["position"]
        for e in history["items"]
        if e["type"] == "Invoice.PaymentReceived"
    ]
    assert body["position"] == paid_positions[-1]

    deliveries = tenant.ok(
        tenant.get(f"/v1/webhook-endpoints/{created['id']}/deliveries")
    )["items"]
    (delivery,) = deliveries
    assert delivery["event_id"] == body["id"]
    assert delivery["type"] == "invoice.paid"
    assert delivery["status"] in {"pending", "delivered"}  # its 2xx may be in flight


def test_endpoints_are_the_owners_and_each_tenants_own(
    tenant: Session, other_tenant: Session
) -> None:
    created = endpoint(
        tenant, "https://cliente.example.com/hooks", ["invoice.paid", "credit.created"]
    )
    assert created["secret"].startswith("whsec_")
    assert set(created) == {"id", "url", "events", "secret", "created_at"}
    listed = tenant.ok(tenant.get("/v1/webhook-endpoints"))["items"]
    assert [(e["id"], e["events"]) for e in listed] == [
        (created["id"], ["invoice.paid", "credit.created"])
    ]
    assert "secret" not in listed[0]
    assert other_tenant.ok(other_tenant.get("/v1/webhook-endpoints"))["items"] == []
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert other_tenant.get(f"{path}/deliveries").status_code == 404
    assert other_tenant.http.delete(path).status_code == 404
    operator = tenant.login_as("operator")
    refused = operator.post(
        "/v1/webhook-endpoints",
        json={"url": "https://x.example.com", "events": ["invoice.paid"]},
    )
    assert refused.status_code == 403
    assert operator.http.delete(path).status_code == 403
    assert tenant.ok(tenant.get(f"{path}/deliveries")) == {
        "items": [],
        "next_cursor": None,
    }
    keyed = {"url": "https://outro.example.com/h", "events": ["contract.changed"]}
    headers = {"Idempotency-Key": "endpoint-1"}
    first = tenant.post("/v1/webhook-endpoints", json=keyed, headers=headers)
    again = tenant.post("/v1/webhook-endpoints", json=keyed, headers=headers)
    assert tenant.ok(first, 201) == tenant.ok(again, 201)  # one endpoint, one secret
    assert len(tenant.ok(tenant.get("/v1/webhook-endpoints"))["items"]) == 2
    assert tenant.http.delete(path).status_code == 204
    assert tenant.http.delete(path).status_code == 404
    assert tenant.get(f"{path}/deliveries").status_code == 404


def test_bad_endpoints_are_refused_and_nothing_is_kept(tenant: Session) -> None:
    good = {"url": "https://cliente.example.com/hooks", "events": ["invoice.paid"]}
    bad_bodies = [
        {**good, "url": "ftp://cliente.example.com/hooks"},
        {**good, "url": "https://cliente.example.com/" + "a" * 2100},
        {**good, "url": "https://cliente.example.com/a\u0000b"},
        {**good, "url": "https://user:senha@cliente.example.com/"},
        {**good, "url": "https:///sem-host"},
        {**good, "url": "cliente.example.com"},
        {**good, "events": []},
        {**good, "events": ["invoice.pago"]},
        {**good, "events": "invoice.paid"},
        {**good, "extra": 1},
        {"url": good["url"]},
    ]
    for body in bad_bodies:
        response = tenant.post("/v1/webhook-endpoints", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert tenant.ok(tenant.get("/v1/webhook-endpoints"))["items"] == []
