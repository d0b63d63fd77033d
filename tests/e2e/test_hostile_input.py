"""A corpus of hostile requests against a real server: each is a 4xx problem, never
a 5xx, and writes nothing (the event log keeps its size).

Cases follow the contract's "Hostile input never causes a 5xx": control characters
and NUL in every text field of every command, oversized text, out-of-range dates
and timestamps (bodies and filters), deep nesting, malformed cursors, hostile
``q``, another tenant's ids, and signed partner webhooks carrying what the ledger
cannot keep. The webhooks' raw log is checked too: an authentic delivery is kept
whatever its content.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from adapters.sandbox import sign
from tests.builders import PASSWORD, a_cnpj, a_cpf, an_email, days_from_today
from tests.e2e.conftest import ADMIN_TOKEN, Session, new_tenant
from tests.e2e.test_partner import WEBHOOK_SECRET, event, log_size, registered_invoice

CONTROLS = ["\x00", "\x01", "\x1f", "\x7f", "\t", "\n"]
"""One of each kind: NUL, other C0 controls, DEL, and the tab and line feed."""
HUGE = "x" * 100_000
FAR_DATES = ["0001-01-01", "1999-12-31", "2100-01-01", "9999-12-31"]


@pytest.fixture(scope="module")
def owner(api_url: str) -> Session:
    return new_tenant(api_url)


@pytest.fixture(scope="module")
def stranger(api_url: str) -> Session:
    return new_tenant(api_url)


@pytest.fixture(scope="module")
def billable(owner: Session) -> dict[str, Any]:
    return owner.billable_client()


@pytest.fixture(scope="module")
def invoice(owner: Session) -> dict[str, Any]:
    return registered_invoice(owner)


def assert_refused(
    response: httpx.Response, status: int | tuple[int, ...] = 422
) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


@pytest.fixture
def writes_nothing(
    api_database: str,
    owner: Session,
    stranger: Session,
    billable: dict[str, Any],
    invoice: dict[str, Any],
) -> Iterator[None]:
    """The test's requests add no event (the module's own data exists before)."""
    del owner, stranger, billable, invoice
    before = log_size(api_database)
    yield
    assert log_size(api_database) == before, "a refused request wrote events"


def with_text(value: str, valid: dict[str, Any], field: str) -> dict[str, Any]:
    return valid | {field: value}


def with_control(control: str, valid: dict[str, Any], field: str) -> dict[str, Any]:
    """``valid`` with ``control`` inside its ``field`` (a NUL e-mail: ``c\\0x@...``)."""
    value = str(valid.get(field, "ab"))
    return valid | {field: value[:1] + control + value[1:]}


# -- text in every command's body ----------------------------------------------


def client_body() -> dict[str, Any]:
    return {
        "name": "Cliente",
        "document": a_cpf(),
        "email": an_email("c"),
        "phone": "11 5555-0000",
        "city": "São Paulo",
        "state": "SP",
    }


def invoice_body(client_id: str) -> dict[str, Any]:
    due = days_from_today(10)
    return {
        "client_id": client_id,
        "description": "Mensalidade",
        "amount": "150.00",
        "due_date": due,
        "reference_month": due[5:7],
        "reference_year": due[:4],
    }


Command = tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]], list[str]]


def commands(billable: dict[str, Any], invoice: dict[str, Any]) -> list[Command]:
    """``(method, path, valid body, text fields)`` of every command with text."""
    return [
        (
            "POST",
            "/v1/clients",
            lambda _: client_body(),
            ["name", "document", "email", "phone", "city", "state"],
        ),
        (
            "PATCH",
            f"/v1/clients/{billable['id']}",
            lambda _: {"name": "Outro Nome"},
            ["name", "email", "phone", "city", "state"],
        ),
        (
            "POST",
            "/v1/invoices",
            lambda _: invoice_body(billable["id"]),
            ["description", "client_id", "reference_month", "reference_year"],
        ),
        (
            "POST",
            f"/v1/invoices/{invoice['id']}/cancel",
            lambda _: {"reason": "Desistência"},
            ["reason"],
        ),
        (
            "POST",
            "/v1/users",
            lambda _: {"email": an_email("u"), "password": PASSWORD, "role": "finance"},
            ["email", "password", "role"],
        ),
        (
            "POST",
            "/v1/contracts",
            lambda _: {"client_id": billable["id"]},
            ["client_id"],
        ),
        (
            "POST",
            f"/v1/sandbox/invoices/{invoice['id']}/pay",
            lambda _: {"method": "pix"},
            ["method"],
        ),
    ]


def reseller_body() -> dict[str, Any]:
    return {
        "name": "Revenda",
        "document": a_cnpj(),
        "email": an_email("owner"),
        "password": PASSWORD,
    }


@pytest.mark.usefixtures("writes_nothing")
def test_control_characters_in_any_text_field_are_422_at_that_field(
    owner: Session, billable: dict[str, Any], invoice: dict[str, Any]
) -> None:
    for method, path, valid, fields in commands(billable, invoice):
        for field in fields:
            for control in CONTROLS:
                if field == "description" and control == "\n":
                    continue  # a description may hold line breaks
                body = with_control(control, valid({}), field)
                response = owner.http.request(method, path, json=body)
                problem = assert_refused(response)
                assert ["body", field] in [e["loc"] for e in problem["errors"]], (
                    method,
                    path,
                    field,
                    repr(control),
                )


@pytest.mark.usefixtures("writes_nothing")
def test_control_characters_in_a_reseller_sign_up_are_422(api_url: str) -> None:
    for field in ("name", "document", "email", "password"):
        for control in CONTROLS:
            body = with_control(control, reseller_body(), field)
            response = httpx.post(
                f"{api_url}/v1/resellers",
                json=body,
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            problem = assert_refused(response)
            assert ["body", field] in [e["loc"] for e in problem["errors"]]


@pytest.mark.usefixtures("writes_nothing")
def test_oversized_text_in_any_field_is_422(
    owner: Session, billable: dict[str, Any], invoice: dict[str, Any]
) -> None:
    for method, path, valid, fields in commands(billable, invoice):
        for field in fields:
            response = owner.http.request(
                method, path, json=with_text(HUGE, valid({}), field)
            )
            assert_refused(response)


@pytest.mark.usefixtures("writes_nothing")
def test_a_nul_in_a_login_is_401_not_a_crash(api_url: str, owner: Session) -> None:
    for username, password in [
        (f"{owner.email}\x00", PASSWORD),
        (owner.email, f"{PASSWORD}\x00"),
        ("\x00", "\x00"),
    ]:
        response = httpx.post(
            f"{api_url}/v1/auth/token",
            data={"username": username, "password": password},
        )
        assert_refused(response, (401, 422))


# -- dates and timestamps ----------------------------------------------------------


@pytest.mark.usefixtures("writes_nothing")
def test_dates_outside_2000_to_2099_are_422_in_bodies(
    owner: Session, billable: dict[str, Any], invoice: dict[str, Any]
) -> None:
    for day in FAR_DATES:
        for field in ("due_date", "issue_date"):
            body = invoice_body(billable["id"]) | {field: day}
            problem = assert_refused(owner.post("/v1/invoices", json=body))
            assert ["body", field] in [e["loc"] for e in problem["errors"]]
        paid = owner.post(
            f"/v1/sandbox/invoices/{invoice['id']}/pay",
            json={"method": "pix", "paid_at": f"{day}T12:00:00Z"},
        )
        problem = assert_refused(paid)
        assert ["body", "paid_at"] in [e["loc"] for e in problem["errors"]]


FILTERS = [
    ("/v1/invoices", "due_from"),
    ("/v1/invoices", "due_to"),
    ("/v1/erp/receivables", "issued_from"),
    ("/v1/erp/receivables", "issued_to"),
    ("/v1/erp/receivables", "due_from"),
    ("/v1/erp/receivables", "due_to"),
    ("/v1/erp/boletos", "due_from"),
    ("/v1/erp/boletos", "due_to"),
    ("/v1/erp/reports/aging", "as_of"),
]


def test_dates_outside_2000_to_2099_are_422_in_filters(owner: Session) -> None:
    for path, name in FILTERS:
        for day in FAR_DATES:
            problem = assert_refused(owner.get(path, params={name: day}))
            assert ["query", name] in [e["loc"] for e in problem["errors"]]
        # The edges themselves are dates like any other.
        for day in ("2000-01-01", "2099-12-31"):
            assert owner.get(path, params={name: day}).status_code == 200


# -- nesting, cursors, q -----------------------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"name": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.usefixtures("writes_nothing")
def test_json_nested_deeper_than_32_levels_is_refused_before_it_is_parsed(
    api_url: str, owner: Session
) -> None:
    headers = {"content-type": "application/json"}
    for depth in (33, 5_000, 100_000):
        unauthenticated = httpx.post(
            f"{api_url}/v1/resellers", content=nested(depth), headers=headers
        )
        assert_refused(unauthenticated, (400, 422))
        signed_in = owner.post("/v1/clients", content=nested(depth), headers=headers)
        assert_refused(signed_in, (400, 422))
    # 32 levels are read (and refused by the schema, as a list is not a name).
    problem = assert_refused(
        owner.post("/v1/clients", content=nested(31), headers=headers)
    )
    assert ["body", "name"] in [e["loc"] for e in problem["errors"]]


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_CURSORS = [
    "!!!",
    "\x00",
    "é",
    cursor_of("not json"),
    cursor_of("{}"),
    cursor_of("[]"),
    cursor_of('["x"]'),
    cursor_of("[true]"),
    cursor_of("[1.5]"),
    cursor_of("[-1]"),
    cursor_of("[99999999999999999999999]"),
    cursor_of('["9999-99-99", 1]'),
    cursor_of("[[1]]"),
    cursor_of('["\\u0000"]'),
]
LISTS = [
    "/v1/clients",
    "/v1/contracts",
    "/v1/invoices",
    "/v1/erp/customers",
    "/v1/erp/receivables",
    "/v1/erp/boletos",
]


def test_malformed_cursors_are_422(owner: Session) -> None:
    for path in LISTS:
        for cursor in BAD_CURSORS:
            problem = assert_refused(owner.get(path, params={"cursor": cursor}))
            assert problem["errors"], (path, cursor)


def test_hostile_text_filters_are_422(owner: Session) -> None:
    for path, name in [
        ("/v1/clients", "q"),
        ("/v1/erp/customers", "q"),
        ("/v1/erp/receivables", "customer"),
    ]:
        for value in ("\x00", "a\x00b", "\x1b[31m", "q" * 201):
            problem = assert_refused(owner.get(path, params={name: value}))
            assert ["query", name] in [e["loc"] for e in problem["errors"]]


# -- another tenant's ids ----------------------------------------------------------


@pytest.mark.usefixtures("writes_nothing")
def test_another_tenants_ids_are_404(
    stranger: Session, billable: dict[str, Any], invoice: dict[str, Any]
) -> None:
    for method, path, body in [
        ("GET", f"/v1/clients/{billable['id']}", None),
        ("PATCH", f"/v1/clients/{billable['id']}", {"name": "Roubado"}),
        ("POST", "/v1/contracts", {"client_id": billable["id"]}),
        ("POST", "/v1/invoices", invoice_body(billable["id"])),
        ("GET", f"/v1/invoices/{invoice['id']}", None),
        ("POST", f"/v1/invoices/{invoice['id']}/cancel", {"reason": "Minha"}),
        ("POST", f"/v1/sandbox/invoices/{invoice['id']}/pay", {"method": "pix"}),
    ]:
        response = stranger.http.request(method, path, json=body)
        assert_refused(response, 404)


# -- partner webhooks --------------------------------------------------------------


def deliver_raw(api_url: str, body: bytes, stamp: str | None = None) -> httpx.Response:
    signature = sign(WEBHOOK_SECRET, int(time.time()), body)
    if stamp is not None:
        signature = f"t={stamp},v1={signature.split('v1=', 1)[1]}"
    return httpx.post(
        f"{api_url}/v1/webhooks/sandbox",
        content=body,
        # Latin-1, as HTTP carries it: "²" is a digit to ``str.isdigit``.
        headers={
            b"content-type": b"application/json",
            b"Ledger-Signature": signature.encode("latin-1"),
        },
    )


def log_rows(database_url: str, marker: bytes) -> list[tuple[str, str | None, bool]]:
    """``(result, event id, payload parsed?)`` of the deliveries holding ``marker``."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT result, event_id, payload IS NOT NULL FROM webhook_log"
            " WHERE position(%s in body) > 0 ORDER BY id",
            (marker,),
        ).fetchall()
    return [(str(r[0]), r[1], bool(r[2])) for r in rows]


def payment_body(
    invoice: dict[str, Any], marker: str, changes: dict[str, str] | None = None
) -> bytes:
    """A valid payment of ``invoice`` carrying ``marker``, its text then edited."""
    payload = event("payment.received", invoice, amount="150.00", method="pix")
    payload["data"]["note"] = marker
    text = json.dumps(payload)
    for old, new in (changes or {}).items():
        text = text.replace(old, new)
    return text.encode()


METHOD = '"method": "pix"'
HOSTILE_WEBHOOKS: list[tuple[str, dict[str, str]]] = [
    ("nul in the id", {'"id": "evt_': '"id": "evt_\\u0000'}),
    ("line feed in the id", {'"id": "evt_': '"id": "evt_\\n'}),
    ("nul in the charge id", {METHOD: METHOD + ', "charge_id": "c\\u0000"'}),
    ("year 1 created_at", {'"created_at": "': '"created_at": "0001-01-01", "x": "'}),
    ("year 9999 paid_at", {METHOD: METHOD + ', "paid_at": "9999-12-31T23:59:59Z"'}),
    ("a 5,000-digit amount", {'"amount": "150.00"': '"amount": ' + "9" * 5000}),
    ("an amount with an exponent", {'"amount": "150.00"': '"amount": 1e999'}),
    ("a NUL byte", {METHOD: '"method": "pix\x00"'}),
    ("nesting 5,000 deep", {METHOD: METHOD + ', "deep": ' + "[" * 5000 + "]" * 5000}),
]


@pytest.mark.parametrize(
    "changes", [c for _, c in HOSTILE_WEBHOOKS], ids=[n for n, _ in HOSTILE_WEBHOOKS]
)
def test_a_signed_hostile_webhook_is_422_kept_as_malformed_and_records_nothing(
    api_url: str,
    api_database: str,
    owner: Session,
    invoice: dict[str, Any],
    changes: dict[str, str],
) -> None:
    marker = f"hostile-{uuid4().hex}"
    body = payment_body(invoice, marker, changes)
    before = log_size(api_database)
    problem = assert_refused(deliver_raw(api_url, body))
    assert problem["errors"]
    assert log_size(api_database) == before
    assert [(r, e) for r, e, _ in log_rows(api_database, marker.encode())] == [
        ("malformed", None)
    ]
    fresh = owner.ok(owner.get(f"/v1/invoices/{invoice['id']}"))
    assert fresh["status"] == "awaiting_payment"


@pytest.mark.parametrize("stamp", ["9" * 5000, "1" * 20, "²³", "-5", ""])
def test_a_signature_timestamp_of_any_other_shape_is_401(
    api_url: str, api_database: str, invoice: dict[str, Any], stamp: str
) -> None:
    marker = f"stamp-{uuid4().hex}"
    before = log_size(api_database)
    body = payment_body(invoice, marker)
    assert_refused(deliver_raw(api_url, body, stamp=stamp), 401)
    assert log_size(api_database) == before
    assert log_rows(api_database, marker.encode()) == []  # not the partner's


def test_a_payment_with_a_value_jsonb_refuses_is_applied_and_kept_raw(
    api_url: str, api_database: str, owner: Session
) -> None:
    """``\\u0000`` in a field the ledger does not read: paid, answered 200, logged."""
    invoice = registered_invoice(owner)
    marker = f"raw-{uuid4().hex}"
    body = payment_body(invoice, marker, {marker: marker + "\\u0000"})
    assert json.loads(body)["data"]["note"] == marker + "\x00"
    response = deliver_raw(api_url, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "applied"}
    again = deliver_raw(api_url, body)
    assert again.json() == {"result": "duplicate"}
    event_id = json.loads(body)["id"]
    assert log_rows(api_database, marker.encode()) == [
        ("applied", event_id, False),
        ("duplicate", event_id, False),
    ]
    assert owner.wait_for(invoice["id"], "paid")["status"] == "paid"


def test_a_readable_delivery_is_kept_with_its_parsed_payload(
    api_url: str, api_database: str, owner: Session
) -> None:
    invoice = registered_invoice(owner)
    marker = f"plain-{uuid4().hex}"
    body = payment_body(invoice, marker)
    assert deliver_raw(api_url, body).json() == {"result": "applied"}
    event_id = json.loads(body)["id"]
    assert log_rows(api_database, marker.encode()) == [("applied", event_id, True)]
    with psycopg.connect(api_database) as conn:
        row = conn.execute(
            "SELECT body, payload, headers FROM webhook_log WHERE event_id = %s",
            (event_id,),
        ).fetchone()
    assert row is not None
    assert bytes(row[0]) == body
    assert row[1]["data"]["note"] == marker
    assert row[2]["ledger-signature"].startswith("t=")


def test_a_description_may_hold_line_breaks(
    owner: Session, billable: dict[str, Any]
) -> None:
    """The one place the contract lets a control character in: LF and CR LF."""
    description = "Mensalidade\nSuporte\r\nHospedagem"
    body = invoice_body(billable["id"]) | {"description": description}
    issued = owner.ok(owner.post("/v1/invoices", json=body), 201)
    assert issued["description"] == description
    # Registered by the partner process, which also shows it carries no harm there
    # (and leaves no write pending for the next test).
    registered = owner.wait_registered(issued["id"])
    assert registered["status"] == "awaiting_payment"
    assert registered["description"] == description


@pytest.mark.usefixtures("writes_nothing")
def test_an_idempotency_key_over_255_characters_is_422(owner: Session) -> None:
    response = owner.post(
        "/v1/clients", json=client_body(), headers={"Idempotency-Key": "k" * 256}
    )
    problem = assert_refused(response)
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in problem["errors"]]


PORTUGUESE = {"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"}


def test_problems_are_in_portuguese_when_the_request_prefers_pt(
    owner: Session,
) -> None:
    hostile = client_body() | {"name": "Cli\x00ente"}
    english = assert_refused(owner.post("/v1/clients", json=hostile))
    assert english["errors"] == [
        {
            "loc": ["body", "name"],
            "msg": "Value error, must not contain control characters",
        }
    ]
    problem = assert_refused(
        owner.post("/v1/clients", json=hostile, headers=PORTUGUESE)
    )
    assert (problem["title"], problem["detail"]) == (
        "Dados inválidos",
        "a requisição é inválida",
    )
    assert problem["errors"] == [
        {"loc": ["body", "name"], "msg": "não pode conter caracteres de controle"}
    ]
    bad_document = client_body() | {"document": "123.456.789-00"}
    refused = assert_refused(
        owner.post("/v1/clients", json=bad_document, headers=PORTUGUESE)
    )
    assert refused["detail"] == "document: não é um CPF ou CNPJ válido"
    missing = assert_refused(
        owner.get(f"/v1/clients/{uuid4()}", headers=PORTUGUESE), 404
    )
    assert (missing["title"], missing["detail"]) == (
        "Não encontrado",
        "recurso não encontrado",
    )


def test_a_recorded_payment_is_200_even_if_its_log_entry_cannot_be_updated(
    api_url: str, api_database: str, owner: Session
) -> None:
    """The log's update fails after the ledger recorded: still 200, not a retry."""
    invoice = registered_invoice(owner)
    marker = f"unsettled-{uuid4().hex}"
    trigger = f"refuse_{uuid4().hex[:8]}"
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute(
            f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.settled_at IS NOT NULL AND"
            f" position('{marker}'::bytea in NEW.body) > 0 THEN"
            " RAISE EXCEPTION 'the log is broken'; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER {trigger} BEFORE UPDATE ON webhook_log"
            f" FOR EACH ROW EXECUTE FUNCTION {trigger}()"
        )
    try:
        response = deliver_raw(api_url, payment_body(invoice, marker))
    finally:
        with psycopg.connect(api_database, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER {trigger} ON webhook_log")
            conn.execute(f"DROP FUNCTION {trigger}()")
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "applied"}
    assert owner.wait_for(invoice["id"], "paid")["status"] == "paid"
    # Kept raw before it was applied; its result could not be noted.
    assert [r for r, _, _ in log_rows(api_database, marker.encode())] == ["received"]
