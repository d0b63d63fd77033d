"""The sandbox adapter reads its own webhooks: signature window, then translation."""

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from psycopg_pool import ConnectionPool

from adapters.sandbox import (
    SIGNATURE_HEADER,
    SIGNATURE_TOLERANCE_SECONDS,
    SandboxGateway,
    sign,
)
from application.gateway import (
    PartnerEventKind,
    WebhookMalformedError,
    WebhookUnauthenticatedError,
)

SECRET = "s" * 40
NOW = 1_900_000_000  # a controlled "now": the check never reads the real clock


def sandbox() -> SandboxGateway:
    # Reading a webhook touches no table: an unopened pool proves it.
    pool: ConnectionPool[Any] = ConnectionPool("postgresql://unused", open=False)
    return SandboxGateway(pool, SECRET)


def payment(**data: Any) -> bytes:
    invoice_id = str(uuid4())
    return json.dumps(
        {
            "id": f"evt_{uuid4().hex}",
            "type": "payment.received",
            "created_at": "2030-01-02T03:04:05+00:00",
            "data": {"invoice_id": invoice_id, **data},
        }
    ).encode()


def signed(body: bytes, at: int, secret: str = SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(secret, at, body)}


def test_the_window_is_300_seconds() -> None:
    assert SIGNATURE_TOLERANCE_SECONDS == 300


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_signature_exactly_at_the_edge_of_the_window_is_accepted(
    offset: int,
) -> None:
    body = payment(amount="150.00", method="pix")
    event = sandbox().read_webhook(signed(body, NOW + offset), body, NOW)
    assert event.kind is PartnerEventKind.PAYMENT


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_signature_one_second_past_the_edge_is_refused(offset: int) -> None:
    body = payment(amount="150.00", method="pix")
    with pytest.raises(WebhookUnauthenticatedError):
        sandbox().read_webhook(signed(body, NOW + offset), body, NOW)


def test_a_forged_missing_or_tampered_signature_is_refused() -> None:
    body = payment(amount="150.00", method="pix")
    gateway = sandbox()
    for headers, sent in [
        (signed(body, NOW, secret="x" * 40), body),
        ({}, body),
        ({SIGNATURE_HEADER: "t=abc,v1=00"}, body),
        (signed(body, NOW), body.replace(b"150.00", b"999.00")),
    ]:
        with pytest.raises(WebhookUnauthenticatedError):
            gateway.read_webhook(headers, sent, NOW)


def test_the_signature_header_is_found_whatever_its_case() -> None:
    body = payment(amount="150.00", method="pix")
    headers = {SIGNATURE_HEADER.lower(): sign(SECRET, NOW, body)}
    assert sandbox().read_webhook(headers, body, NOW).method == "pix"


def test_a_payment_is_translated_into_a_partner_neutral_event() -> None:
    body = payment(amount="150.5", method="boleto", paid_at="2030-01-01T10:00:00Z")
    event = sandbox().read_webhook(signed(body, NOW), body, NOW)
    sent = json.loads(body)
    assert event.event_id == sent["id"]
    assert event.type == "payment.received"
    assert str(event.invoice_id) == sent["data"]["invoice_id"]
    assert event.charge_id is None
    assert event.amount_cents == 15050
    assert event.method == "boleto"
    assert event.paid_at == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert event.occurred_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("payment.refunded", PartnerEventKind.REFUND),
        ("payment.overdue", PartnerEventKind.OVERDUE),
    ],
)
def test_refunds_and_overdue_notices_keep_their_kind(
    kind: str, expected: PartnerEventKind
) -> None:
    body = json.dumps(
        {
            "id": "evt_1",
            "type": kind,
            "created_at": "2030-01-02T03:04:05Z",
            "data": {"charge_id": "sbx_1"},
        }
    ).encode()
    event = sandbox().read_webhook(signed(body, NOW), body, NOW)
    assert (event.kind, event.charge_id, event.amount_cents) == (
        expected,
        "sbx_1",
        None,
    )


def test_a_malformed_body_names_each_problem_under_body() -> None:
    body = json.dumps(
        {"id": "evt", "type": "payment.teleported", "data": {"amount": "1.234"}}
    ).encode()
    with pytest.raises(WebhookMalformedError) as raised:
        sandbox().read_webhook(signed(body, NOW), body, NOW)
    assert raised.value.detail == "the webhook body is malformed"
    locations = {tuple(error["loc"]) for error in raised.value.errors}
    assert {
        ("body", "type"),
        ("body", "created_at"),
        ("body", "data", "amount"),
    } <= locations


def test_a_payment_without_amount_or_method_is_malformed() -> None:
    for body in (payment(method="pix"), payment(amount="150.00")):
        with pytest.raises(WebhookMalformedError, match=r"needs data\.amount"):
            sandbox().read_webhook(signed(body, NOW), body, NOW)


@pytest.mark.parametrize(
    "timestamp", ["9" * 5000, "1" * 13, "-1", "١٢٣", "²", " 1900000000", ""]
)
def test_a_signature_timestamp_of_any_other_shape_is_refused(timestamp: str) -> None:
    body = payment(amount="150.00", method="pix")
    digest = sign(SECRET, NOW, body).split("v1=", 1)[1]
    header = {SIGNATURE_HEADER: f"t={timestamp},v1={digest}"}
    with pytest.raises(WebhookUnauthenticatedError):
        sandbox().read_webhook(header, body, NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "evt\x00nul"),
        ("id", "evt\nline"),
        ("id", "e" * 256),
        ("created_at", "0001-01-01T00:00:00Z"),
        ("created_at", "2100-01-01T00:00:00Z"),
        ("created_at", "1999-12-31T23:59:59Z"),
    ],
)
def test_an_id_or_timestamp_the_ledger_cannot_keep_is_malformed(
    field: str, value: str
) -> None:
    event = json.loads(payment(amount="150.00", method="pix"))
    event[field] = value
    body = json.dumps(event).encode()
    with pytest.raises(WebhookMalformedError) as raised:
        sandbox().read_webhook(signed(body, NOW), body, NOW)
    assert ("body", field) in {tuple(error["loc"]) for error in raised.value.errors}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("paid_at", '"0001-01-01T00:00:00Z"'),
        ("paid_at", '"9999-12-31T23:59:59Z"'),
        ("charge_id", '"ch\\u0000"'),
        ("amount", "9" * 5000),
        ("amount", "1e400"),
    ],
)
def test_a_hostile_data_field_is_malformed(field: str, value: str) -> None:
    event = json.loads(payment(amount="150.00", method="pix"))
    event["data"][field] = "@"
    body = json.dumps(event).encode().replace(b'"@"', value.encode())
    with pytest.raises(WebhookMalformedError) as raised:
        sandbox().read_webhook(signed(body, NOW), body, NOW)
    # A number too long for any parser is a malformed body as a whole.
    locations = {tuple(error["loc"]) for error in raised.value.errors}
    assert locations & {("body", "data", field), ("body",)}
