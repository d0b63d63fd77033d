"""The HTTP API end to end, against a real ``ledger serve`` process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import jwt
import pytest

from tests.builders import (
    PASSWORD,
    a_cnpj,
    a_cpf,
    an_email,
    days_from_today,
    reference_of,
    today,
)
from tests.e2e.conftest import (
    ADMIN_TOKEN,
    DUE_IN_DAYS,
    ISSUED_DAYS_AGO,
    SECRETS,
    Session,
    login,
    new_tenant,
)

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    if status == 422:
        assert body["errors"]
    return body


def position(response: httpx.Response) -> int:
    return int(response.headers["Ledger-Position"])


# -- the main path ---------------------------------------------------------------------


def test_an_invoice_is_issued_on_the_services_today_by_default(
    tenant: Session,
) -> None:
    """The service and this test run share one calendar (``make test-future``)."""
    client = tenant.billable_client()
    invoice = tenant.ok(tenant.invoice(client["id"], issue_date=None), 201)
    assert invoice["issue_date"] == today().isoformat()


def test_reseller_client_contract_invoice_and_erp_path(tenant: Session) -> None:
    me = tenant.ok(tenant.get("/v1/me"))
    assert me["role"] == "owner"
    assert me["reseller"]["id"] == tenant.reseller_id
    client = tenant.client(document="145.382.206-20", name="Ana Souza")
    assert client["document"] == "14538220620"
    assert client["document_type"] == "cpf"
    contract = tenant.ok(
        tenant.post("/v1/contracts", json={"client_id": client["id"]}), 201
    )
    assert (contract["status"], contract["status_label"]) == ("trial", "Em Teste")
    active = tenant.post(f"/v1/contracts/{contract['id']}/activate")
    assert tenant.ok(active)["status_label"] == "Ativo"
    issued = tenant.invoice(client["id"], amount=150.5)
    invoice = tenant.ok(issued, 201)
    assert invoice["amount"] == "150.50"
    assert (invoice["code"], invoice["status"]) == (1, "processing")
    assert invoice["status_label"] == "Em Processamento"
    after = position(issued)
    listed = tenant.ok(tenant.get("/v1/invoices", params={"after": after}))
    assert [i["id"] for i in listed["items"]] == [invoice["id"]]
    customers = tenant.ok(tenant.get("/v1/erp/customers", params={"after": after}))
    by_name = {c["name"]: c for c in customers["items"]}
    assert by_name["Consumidor"]["origin"] == "system"
    assert by_name["Ana Souza"]["open_amount"] == "150.50"
    receivables = tenant.ok(tenant.get("/v1/erp/receivables", params={"after": after}))
    assert receivables["totals"] == {
        "count": 1,
        "amount": "150.50",
        "amount_paid": "0.00",
        "amount_open": "150.50",
    }
    item = receivables["items"][0]
    assert (item["situation"], item["situation_label"]) == ("open", "Aberto")
    accounts = tenant.ok(tenant.get("/v1/erp/bank-accounts", params={"after": after}))
    assert [(a["name"], a["kind"]) for a in accounts["items"]] == [
        ("Conta Principal", "online")
    ]
    registered = tenant.wait_registered(invoice["id"])
    assert registered["status"] == "awaiting_payment"
    history = tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}/events"))
    registered_at = history["items"][-1]["position"]
    boletos = tenant.ok(tenant.get("/v1/erp/boletos", params={"after": registered_at}))
    assert [b["invoice_id"] for b in boletos["items"]] == [invoice["id"]]
    aging = tenant.ok(tenant.get("/v1/erp/reports/aging", params={"after": after}))
    assert aging["totals"]["total"] == "150.50"
    assert [e["type"] for e in history["items"]] == [
        "Invoice.Issued",
        "Invoice.Registered",
    ]
    assert history["items"][0]["position"] == after
    feed = tenant.ok(tenant.get("/v1/audit/events", params={"limit": 1000}))
    assert feed["items"][0]["type"] == "Reseller.Registered"
    assert all("password_hash" not in e["data"] for e in feed["items"])


def test_a_client_can_be_read_updated_and_searched(tenant: Session) -> None:
    client = tenant.client(name="José da Silva")
    changed = tenant.patch(
        f"/v1/clients/{client['id']}", json={"city": "Campinas", "state": "sp"}
    )
    updated = tenant.ok(changed)
    assert (updated["city"], updated["state"], updated["name"]) == (
        "Campinas",
        "SP",
        "José da Silva",
    )
    assert tenant.ok(tenant.get(f"/v1/clients/{client['id']}"))["city"] == "Campinas"
    found = tenant.ok(
        tenant.get("/v1/clients", params={"q": "jose", "after": position(changed)})
    )
    assert [c["id"] for c in found["items"]] == [client["id"]]
    cleared = tenant.ok(
        tenant.patch(f"/v1/clients/{client['id']}", json={"city": None})
    )
    assert cleared["city"] is None


def test_an_invoice_can_be_cancelled_and_read_as_of_a_version(tenant: Session) -> None:
    client = tenant.billable_client()
    invoice = tenant.ok(tenant.invoice(client["id"]), 201)
    cancelled = tenant.post(
        f"/v1/invoices/{invoice['id']}/cancel", json={"reason": "cliente desistiu"}
    )
    assert tenant.ok(cancelled)["status_label"] == "Cancelada"
    before = tenant.ok(
        tenant.get(f"/v1/invoices/{invoice['id']}", params={"version": 1})
    )
    assert before["status"] == "processing"
    assert (
        tenant.ok(tenant.get(f"/v1/invoices/{invoice['id']}"))["status"] == "cancelled"
    )
    assert_problem(
        tenant.get(f"/v1/invoices/{invoice['id']}", params={"version": 9}), 404
    )
    again = tenant.post(f"/v1/invoices/{invoice['id']}/cancel", json={"reason": "x"})
    assert_problem(again, 409)


def test_lists_page_with_cursors_and_filter(tenant: Session) -> None:
    client = tenant.billable_client()
    for _ in range(3):
        issued = tenant.invoice(client["id"])
    after = position(issued)
    first = tenant.ok(tenant.get("/v1/invoices", params={"limit": 2, "after": after}))
    assert [i["code"] for i in first["items"]] == [3, 2]
    rest = tenant.ok(
        tenant.get("/v1/invoices", params={"limit": 2, "cursor": first["next_cursor"]})
    )
    assert [i["code"] for i in rest["items"]] == [1]
    assert rest["next_cursor"] is None
    due = today() + timedelta(days=DUE_IN_DAYS)
    month_before = due.replace(day=1) - timedelta(days=1)
    before = tenant.get("/v1/invoices", params={"reference": f"{month_before:%Y-%m}"})
    assert tenant.ok(before)["items"] == []
    referenced = tenant.get("/v1/invoices", params={"reference": f"{due:%Y-%m}"})
    assert len(tenant.ok(referenced)["items"]) == 3
    trial = tenant.ok(tenant.get("/v1/contracts", params={"status": "trial"}))
    assert trial["items"] == []


# -- 401 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/me", "/v1/clients", "/v1/invoices", "/v1/erp/receivables"]
)
def test_no_or_a_bad_token_is_401(api_url: str, path: str) -> None:
    assert_problem(httpx.get(f"{api_url}{path}"), 401)
    bad = httpx.get(f"{api_url}{path}", headers={"Authorization": "Bearer nonsense"})
    assert_problem(bad, 401)


def test_an_expired_or_forged_token_is_401(tenant: Session, api_url: str) -> None:
    claims = {
        "sub": str(uuid4()),
        "rid": tenant.reseller_id,
        "role": "owner",
        "exp": datetime.now(UTC) - timedelta(minutes=1),
    }
    expired = jwt.encode(claims, SECRETS["LEDGER_SECRET_KEY"], algorithm="HS256")
    forged = jwt.encode(
        claims | {"exp": datetime.now(UTC) + timedelta(hours=1)}, "x" * 40, "HS256"
    )
    for token in (expired, forged):
        response = httpx.get(
            f"{api_url}/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401)


def test_login_answers_the_same_401_for_unknown_email_and_wrong_password(
    tenant: Session, api_url: str
) -> None:
    wrong = httpx.post(
        f"{api_url}/v1/auth/token",
        data={"username": tenant.email, "password": "wrong-password"},
    )
    unknown = httpx.post(
        f"{api_url}/v1/auth/token",
        data={"username": an_email("nobody"), "password": PASSWORD},
    )
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert wrong.json() == unknown.json()


def test_reseller_sign_up_needs_the_admin_token(api_url: str) -> None:
    body = {
        "name": "Revenda",
        "document": a_cnpj(),
        "email": an_email("owner"),
        "password": PASSWORD,
    }
    assert_problem(httpx.post(f"{api_url}/v1/resellers", json=body), 401)
    wrong = httpx.post(
        f"{api_url}/v1/resellers",
        json=body,
        headers={"Authorization": "Bearer not-the-token"},
    )
    assert_problem(wrong, 401)


def test_reseller_sign_up_is_disabled_without_an_admin_token(
    database_url: str, tmp_path: object
) -> None:
    from pathlib import Path  # noqa: PLC0415

    from tests.e2e.server import running_server  # noqa: PLC0415

    env = {"DATABASE_URL": database_url, **SECRETS, "LEDGER_RUN_PROJECTIONS": "false"}
    log = Path(str(tmp_path)) / "serve.log"
    with running_server(env, log, unset=("LEDGER_ADMIN_TOKEN",)) as base_url:
        response = httpx.post(
            f"{base_url}/v1/resellers",
            json={
                "name": "R",
                "document": a_cnpj(),
                "email": an_email(),
                "password": "x",
            },
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert_problem(response, 403)


# -- 403: every role against every command ---------------------------------------------


COMMANDS = [
    ("client", "POST", "/v1/clients"),
    ("contract", "POST", "/v1/contracts"),
    ("activate", "POST", "/v1/contracts/{contract}/activate"),
    ("suspend", "POST", "/v1/contracts/{contract}/suspend"),
    ("cancel contract", "POST", "/v1/contracts/{contract}/cancel"),
    ("invoice", "POST", "/v1/invoices"),
    ("cancel invoice", "POST", "/v1/invoices/{invoice}/cancel"),
    ("update client", "PATCH", "/v1/clients/{client}"),
    ("user", "POST", "/v1/users"),
]
ALLOWED = {
    "owner": {name for name, _, _ in COMMANDS},
    "operator": {name for name, _, _ in COMMANDS} - {"user"},
    "finance": set(),
    "auditor": set(),
}


def _command_body(name: str, ids: dict[str, str]) -> dict[str, object]:
    bodies: dict[str, dict[str, object]] = {
        "client": {"name": "Novo", "document": a_cpf(), "email": "n@x.com"},
        "contract": {"client_id": ids.get("spare_client")},
        "invoice": {
            "client_id": ids["client"],
            "description": "Mensalidade",
            "amount": "10.00",
            "due_date": days_from_today(10),
            **reference_of(days_from_today(10)),
        },
        "cancel invoice": {"reason": "teste"},
        "update client": {"city": "Santos"},
        "user": {"email": an_email(), "password": PASSWORD, "role": "finance"},
    }
    return bodies.get(name, {})


@pytest.mark.parametrize("role", ["owner", "operator", "finance", "auditor"])
def test_every_role_against_every_command(tenant: Session, role: str) -> None:
    client = tenant.billable_client()
    spare = tenant.client()
    other_contract = tenant.contract(tenant.client()["id"], active=False)
    invoice = tenant.ok(tenant.invoice(client["id"]), 201)
    ids = {
        "client": client["id"],
        "spare_client": spare["id"],
        "contract": other_contract["id"],
        "invoice": invoice["id"],
    }
    caller = tenant if role == "owner" else tenant.login_as(role)
    for name, method, template in COMMANDS:
        path = template.format(**ids)
        response = caller.http.request(method, path, json=_command_body(name, ids))
        if name in ALLOWED[role]:
            assert response.status_code in {200, 201}, (name, response.text)
        else:
            assert_problem(response, 403)


@pytest.mark.parametrize("role", ["operator", "finance"])
def test_histories_and_the_audit_feed_are_for_owners_and_auditors(
    tenant: Session, role: str
) -> None:
    client = tenant.client()
    caller = tenant.login_as(role)
    assert_problem(caller.get(f"/v1/clients/{client['id']}/events"), 403)
    assert_problem(caller.get("/v1/audit/events"), 403)
    assert caller.get(f"/v1/clients/{client['id']}").status_code == 200
    auditor = tenant.login_as("auditor")
    assert auditor.get(f"/v1/clients/{client['id']}/events").status_code == 200
    assert auditor.get("/v1/audit/events").status_code == 200


# -- 404 and tenancy -----------------------------------------------------------------------


def test_another_tenants_ids_are_404_and_its_lists_empty(
    tenant: Session, other_tenant: Session
) -> None:
    document = a_cpf()
    client = tenant.client(document=document)
    contract = tenant.contract(client["id"])
    issued = tenant.invoice(client["id"])
    invoice = tenant.ok(issued, 201)
    other_tenant.client(document=document)  # the same document is fine elsewhere
    after = position(issued)
    for path in (
        f"/v1/clients/{client['id']}",
        f"/v1/clients/{client['id']}/events",
        f"/v1/contracts/{contract['id']}",
        f"/v1/contracts/{contract['id']}/events",
        f"/v1/invoices/{invoice['id']}",
        f"/v1/invoices/{invoice['id']}/events",
        f"/v1/invoices/{invoice['id']}/html",
        f"/v1/invoices/{invoice['id']}/pdf",
        f"/v1/erp/boletos/{uuid4()}/print",
    ):
        assert_problem(other_tenant.get(path), 404)
        assert_problem(
            other_tenant.get(path.replace(path.split("/")[3], str(uuid4()))), 404
        )
    for method, path, body in (
        ("PATCH", f"/v1/clients/{client['id']}", {"name": "x"}),
        ("POST", f"/v1/contracts/{contract['id']}/suspend", None),
        ("POST", f"/v1/invoices/{invoice['id']}/cancel", {"reason": "x"}),
        ("POST", "/v1/contracts", {"client_id": client["id"]}),
        (
            "POST",
            "/v1/invoices",
            {**_command_body("invoice", {"client": client["id"]})},
        ),
    ):
        assert_problem(other_tenant.http.request(method, path, json=body), 404)
    for path in (
        "/v1/invoices",
        "/v1/contracts",
        "/v1/erp/receivables",
        "/v1/erp/boletos",
    ):
        listed = other_tenant.ok(other_tenant.get(path, params={"after": after}))
        assert listed["items"] == [], path
    clients = other_tenant.ok(other_tenant.get("/v1/clients"))["items"]
    assert client["id"] not in {c["id"] for c in clients}
    customers = other_tenant.ok(other_tenant.get("/v1/erp/customers"))["items"]
    assert client["id"] not in {c["id"] for c in customers}
    aging = other_tenant.ok(other_tenant.get("/v1/erp/reports/aging"))
    assert aging["items"] == []
    feed = other_tenant.ok(other_tenant.get("/v1/audit/events", params={"limit": 1000}))
    assert {e["aggregate_id"] for e in feed["items"]}.isdisjoint(
        {client["id"], contract["id"], invoice["id"]}
    )


def test_unknown_routes_and_methods_are_problems(api_url: str, tenant: Session) -> None:
    assert_problem(httpx.get(f"{api_url}/v1/nothing-here"), 404)
    assert_problem(tenant.http.delete("/v1/clients"), 405)


# -- 409 ----------------------------------------------------------------------------------


def test_conflicts_are_409(
    tenant: Session, other_tenant: Session, api_url: str
) -> None:
    client = tenant.client()
    duplicate = tenant.post(
        "/v1/clients",
        json={"name": "Outro", "document": client["document"], "email": "o@x.com"},
    )
    assert_problem(duplicate, 409)
    contract = tenant.contract(client["id"], active=False)
    assert_problem(tenant.post("/v1/contracts", json={"client_id": client["id"]}), 409)
    assert_problem(tenant.post(f"/v1/contracts/{contract['id']}/suspend"), 409)
    no_contract = tenant.invoice(client["id"])
    body = assert_problem(no_contract, 409)
    assert "active contract" in str(body["detail"])
    taken = tenant.post(
        "/v1/users",
        json={"email": other_tenant.email, "password": PASSWORD, "role": "finance"},
    )
    assert_problem(taken, 409)
    again = httpx.post(
        f"{api_url}/v1/resellers",
        json={
            "name": "R",
            "document": a_cnpj(),
            "email": tenant.email,
            "password": PASSWORD,
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert_problem(again, 409)


# -- 400 and 422 --------------------------------------------------------------------------


def test_a_malformed_body_is_400(tenant: Session) -> None:
    response = tenant.post(
        "/v1/clients",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "amount", ["1.234", "1e2", -5, 0, "0.00", "abc", "100000000.00", True, None, [1]]
)
def test_an_invalid_amount_is_422_and_writes_nothing(
    tenant: Session, amount: object
) -> None:
    client = tenant.billable_client()
    response = tenant.invoice(client["id"], amount=amount)
    body = assert_problem(response, 422)
    assert any("amount" in error["loc"] for error in body["errors"])  # type: ignore[attr-defined]
    assert tenant.ok(tenant.get(f"/v1/clients/{client['id']}"))
    assert tenant.ok(tenant.get("/v1/invoices"))["items"] == []


@pytest.mark.parametrize(
    ("raw", "status"),
    [("1e2", 422), ("1E2", 422), ("1.005", 422), ("12.5", 201), ("150", 201)],
)
def test_json_numbers_are_read_by_their_decimal_text(
    tenant: Session, raw: str, status: int
) -> None:
    client = tenant.billable_client()
    due = today() + timedelta(days=10)
    body = (
        (
            '{"client_id": "CLIENT", "description": "Mensal", "amount": RAW,'
            ' "due_date": "DUE", "reference_month": "MM", "reference_year": "YYYY"}'
        )
        .replace("CLIENT", client["id"])
        .replace("RAW", raw)
        .replace("DUE", due.isoformat())
        .replace("MM", f"{due.month:02d}")
        .replace("YYYY", str(due.year))
    )
    response = tenant.post(
        "/v1/invoices", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["amount"] == f"{float(raw):.2f}"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"reference_month": "13"}, "reference_month"),
        ({"reference_month": "1"}, "reference_month"),
        ({"reference_year": "26"}, "reference_year"),
        ({"description": ""}, "description"),
        ({"description": "x" * 501}, "description"),
        ({"due_date": days_from_today(-ISSUED_DAYS_AGO - 1)}, "due_date"),
        ({"due_date": f"{today() + timedelta(days=10):%d/%m/%Y}"}, "due_date"),
        ({"due_date": f"{today().year + 1}-02-30"}, "due_date"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_an_invalid_invoice_is_422(
    tenant: Session, extra: dict[str, object], field: str
) -> None:
    client = tenant.billable_client()
    body = assert_problem(tenant.invoice(client["id"], **extra), 422)
    assert any(field in error["loc"] for error in body["errors"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "document": "145.382.206-21", "email": "a@x.com"}, "document"),
        ({"name": "A", "document": "111.111.111-11", "email": "a@x.com"}, "document"),
        ({"name": "A", "document": "14538220620", "email": "nope"}, "email"),
        ({"name": "", "document": "14538220620", "email": "a@x.com"}, "name"),
        ({"name": "A", "document": "14538220620", "email": "a@x.com", "x": 1}, "x"),
        (
            {"name": "A", "document": "14538220620", "email": "a@x.com", "state": "ZZ"},
            "state",
        ),
    ],
)
def test_an_invalid_client_is_422(
    tenant: Session, body: dict[str, object], field: str
) -> None:
    problem = assert_problem(tenant.post("/v1/clients", json=body), 422)
    assert any(field in error["loc"] for error in problem["errors"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"cursor": "not-a-cursor"},
        {"status": "unknown"},
        {"reference": f"{today().year}-13"},
        {"due_from": "yesterday"},
        {"after": -1},
    ],
)
def test_invalid_query_parameters_are_422(
    tenant: Session, params: dict[str, object]
) -> None:
    assert_problem(tenant.get("/v1/invoices", params=params), 422)


def test_invalid_ids_and_versions_are_422(tenant: Session) -> None:
    assert_problem(tenant.get("/v1/invoices/not-a-uuid"), 422)
    assert_problem(tenant.get(f"/v1/invoices/{uuid4()}", params={"version": 0}), 422)
    assert_problem(
        tenant.post(
            "/v1/users",
            json={"email": an_email(), "password": PASSWORD, "role": "admin"},
        ),
        422,
    )
    short = tenant.post(
        "/v1/users", json={"email": an_email(), "password": "short", "role": "finance"}
    )
    assert_problem(short, 422)


# -- 503 and read-your-writes ---------------------------------------------------------------


def test_after_makes_a_list_show_the_write_just_answered(tenant: Session) -> None:
    for _ in range(5):
        created = tenant.post(
            "/v1/clients",
            json={"name": "Rápido", "document": a_cpf(), "email": "r@x.com"},
        )
        client = tenant.ok(created, 201)
        listed = tenant.ok(
            tenant.get("/v1/clients", params={"after": position(created)})
        )
        assert client["id"] in {c["id"] for c in listed["items"]}


def test_a_new_user_can_log_in_at_once(tenant: Session, api_url: str) -> None:
    email = an_email("new")
    created = tenant.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "role": "finance"}
    )
    tenant.ok(created, 201)
    session = login(api_url, email, tenant.reseller_id)
    assert session.ok(session.get("/v1/me"))["role"] == "finance"


# -- idempotency keys ------------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_original_response(tenant: Session) -> None:
    body = {"name": "Idem", "document": a_cpf(), "email": "i@x.com"}
    headers = {"Idempotency-Key": f"key-{uuid4()}"}
    first = tenant.post("/v1/clients", json=body, headers=headers)
    second = tenant.post("/v1/clients", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert first.headers["Ledger-Position"] == second.headers["Ledger-Position"]
    assert second.headers["Idempotent-Replayed"] == "true"
    other = tenant.post(
        "/v1/clients", json=body | {"name": "Outro nome"}, headers=headers
    )
    assert_problem(other, 422)


def test_concurrent_requests_with_one_key_have_one_effect(tenant: Session) -> None:
    client = tenant.billable_client()
    headers = {"Idempotency-Key": f"key-{uuid4()}"}
    body = _command_body("invoice", {"client": client["id"]})

    def issue() -> httpx.Response:
        return tenant.post("/v1/invoices", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: issue(), range(6)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    after = max(position(r) for r in responses)
    invoices = tenant.ok(tenant.get("/v1/invoices", params={"after": after}))
    assert len(invoices["items"]) == 1


def test_a_refused_request_leaves_its_key_for_the_corrected_one(
    tenant: Session,
) -> None:
    headers = {"Idempotency-Key": f"key-{uuid4()}"}
    wrong = {"name": "", "document": a_cpf(), "email": "i@x.com"}
    first = tenant.post("/v1/clients", json=wrong, headers=headers)
    again = tenant.post("/v1/clients", json=wrong, headers=headers)
    assert first.status_code == again.status_code == 422
    assert "Idempotent-Replayed" not in again.headers
    fixed = tenant.post("/v1/clients", json=wrong | {"name": "Certo"}, headers=headers)
    assert fixed.status_code == 201, fixed.text
    replayed = tenant.post(
        "/v1/clients", json=wrong | {"name": "Certo"}, headers=headers
    )
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == fixed.json()


def test_keys_belong_to_their_user(tenant: Session, other_tenant: Session) -> None:
    key = {"Idempotency-Key": f"shared-{uuid4()}"}
    body = {"name": "Mesmo", "document": a_cpf(), "email": "m@x.com"}
    mine = tenant.ok(tenant.post("/v1/clients", json=body, headers=key), 201)
    theirs = other_tenant.ok(
        other_tenant.post("/v1/clients", json=body, headers=key), 201
    )
    assert mine["id"] != theirs["id"]


# -- operations ---------------------------------------------------------------------------


def test_metrics_show_requests_events_and_view_lag(
    api_url: str, tenant: Session
) -> None:
    tenant.get("/v1/me")
    text = httpx.get(f"{api_url}/metrics").text
    assert (
        'ledger_http_requests_total{method="GET",route="/v1/me",status="200"}' in text
    )
    assert "ledger_http_request_duration_seconds_bucket" in text
    assert "ledger_events_recorded " in text
    assert 'ledger_view_lag_events{view="panel_invoices"}' in text


def test_oversized_bodies_are_413(tenant: Session) -> None:
    response = tenant.post(
        "/v1/clients",
        content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 413)


def test_openapi_and_docs_are_served(api_url: str) -> None:
    spec = httpx.get(f"{api_url}/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/v1/resellers",
        "/v1/auth/token",
        "/v1/users",
        "/v1/me",
        "/v1/clients/{client_id}",
        "/v1/contracts/{contract_id}/activate",
        "/v1/invoices/{invoice_id}/cancel",
        "/v1/erp/reports/aging",
        "/v1/audit/events",
    ):
        assert path in paths
    assert httpx.get(f"{api_url}/docs").status_code == 200


def test_a_new_tenant_helper_isolates_tests(api_url: str) -> None:
    first, second = new_tenant(api_url), new_tenant(api_url)
    assert first.reseller_id != second.reseller_id


def test_the_audit_feed_pages_by_position(tenant: Session) -> None:
    for _ in range(3):
        tenant.client()
    first = tenant.ok(tenant.get("/v1/audit/events", params={"limit": 2}))
    assert len(first["items"]) == 2
    assert first["next_after"] == first["items"][-1]["position"]
    rest = tenant.ok(
        tenant.get(
            "/v1/audit/events", params={"after": first["next_after"], "limit": 1000}
        )
    )
    positions = [e["position"] for e in first["items"] + rest["items"]]
    assert positions == sorted(set(positions))
    assert rest["next_after"] is None
    assert [e["type"] for e in rest["items"]][-3:] == ["Client.Registered"] * 3
    assert_problem(tenant.get("/v1/audit/events", params={"limit": 1001}), 422)


def test_the_invoice_list_filters_by_due_dates_status_and_client(
    tenant: Session,
) -> None:
    ana, bia = tenant.billable_client(), tenant.billable_client()
    early = tenant.ok(tenant.invoice(ana["id"], due_date=days_from_today(5)), 201)
    late = tenant.ok(tenant.invoice(bia["id"], due_date=days_from_today(51)), 201)
    tenant.post(f"/v1/invoices/{late['id']}/cancel", json={"reason": "x"})
    after = max(
        e["position"]
        for e in tenant.ok(tenant.get(f"/v1/invoices/{late['id']}/events"))["items"]
    )

    def ids(**params: object) -> list[str]:
        listed = tenant.ok(
            tenant.get("/v1/invoices", params={"after": after, **params})
        )
        return [i["id"] for i in listed["items"]]

    assert ids(due_to=days_from_today(30)) == [early["id"]]
    assert ids(due_from=days_from_today(31)) == [late["id"]]
    assert ids(status="cancelled") == [late["id"]]
    assert ids(client_id=ana["id"]) == [early["id"]]
