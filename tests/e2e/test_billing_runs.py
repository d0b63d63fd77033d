"""Plans, billing runs and dunning over HTTP, with ``ledger tick`` run as a process
against the same database as the server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from tests.builders import days_from_today, reference_of, today
from tests.e2e.conftest import SECRETS, Session
from tests.e2e.server import clock_env
from tests.integration.workers import run_cli, wait_until

PLAN = {"description": "Plano Mensal", "amount": "99.90", "due_day": 28}


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def planned_contract(
    tenant: Session, plan: dict[str, Any] | None = PLAN, *, active: bool = True
) -> dict[str, Any]:
    client = tenant.client()
    body: dict[str, Any] = {"client_id": client["id"]}
    if plan is not None:
        body["plan"] = plan
    contract = tenant.ok(tenant.post("/v1/contracts", json=body), 201)
    if active:
        path = f"/v1/contracts/{contract['id']}/activate"
        contract = tenant.ok(tenant.post(path))
    return contract


def run(tenant: Session, reference: str, **extra: Any) -> dict[str, Any]:
    body = {"reference": reference, **extra}
    return tenant.ok(tenant.post("/v1/billing-runs", json=body), 201)


def tick(api_database: str, *args: str) -> str:
    result = run_cli(api_database, "tick", *args, env=SECRETS | clock_env())
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def contract_of(tenant: Session, contract_id: str) -> dict[str, Any]:
    return tenant.ok(tenant.get(f"/v1/contracts/{contract_id}"))


def test_a_months_run_bills_each_planned_active_contract_once(
    tenant: Session,
) -> None:
    billed = [planned_contract(tenant) for _ in range(2)]
    trial = planned_contract(tenant, active=False)
    suspended = planned_contract(tenant)
    tenant.ok(tenant.post(f"/v1/contracts/{suspended['id']}/suspend"))
    cancelled = planned_contract(tenant)
    tenant.ok(tenant.post(f"/v1/contracts/{cancelled['id']}/cancel"))
    planless = planned_contract(tenant, plan=None)
    assert (billed[0]["plan"], planless["plan"]) == (PLAN, None)
    assert contract_of(tenant, suspended["id"])["suspension_reason"] == "manual"
    assert trial["status"] == "trial"
    reference = month_of(today())

    first = run(tenant, reference)
    assert (first["reference"], first["issued"], first["skipped"]) == (reference, 2, 0)
    assert first["issue_date"] == today().isoformat()
    invoices = [
        tenant.ok(tenant.get(f"/v1/invoices/{i}")) for i in first["invoice_ids"]
    ]
    assert sorted(i["client_id"] for i in invoices) == sorted(
        c["client_id"] for c in billed
    )
    month, year = reference[5:], reference[:4]
    for invoice in invoices:
        assert invoice["billing_reference"] == reference
        assert invoice["description"] == f"Plano Mensal - {month}/{year}"
        assert invoice["amount"] == "99.90"
        assert (invoice["reference_month"], invoice["reference_year"]) == (
            month,
            year,
        )
        # The 28th of the month, or today once the 28th has passed.
        due = max(today().replace(day=28), today())
        assert invoice["due_date"] == due.isoformat()

    again = tenant.post("/v1/billing-runs", json={"reference": reference})
    second = tenant.ok(again, 201)
    assert (second["issued"], second["skipped"], second["invoice_ids"]) == (0, 2, [])
    position = again.headers["Ledger-Position"]
    listed = tenant.ok(tenant.get("/v1/billing-runs", params={"after": position}))
    assert [r["id"] for r in listed["items"]] == [second["id"], first["id"]]
    page = tenant.ok(tenant.get("/v1/invoices"))
    assert sum(1 for i in page["items"] if i["billing_reference"] == reference) == 2


def test_two_runs_at_once_bill_each_contract_once(tenant: Session) -> None:
    contracts = [planned_contract(tenant) for _ in range(6)]
    reference = month_of(today())
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: run(tenant, reference), range(2)))
    assert sum(r["issued"] for r in runs) == len(contracts)
    issued = [i for r in runs for i in r["invoice_ids"]]
    clients = {tenant.ok(tenant.get(f"/v1/invoices/{i}"))["client_id"] for i in issued}
    assert clients == {c["client_id"] for c in contracts}
    codes = sorted(tenant.ok(tenant.get(f"/v1/invoices/{i}"))["code"] for i in issued)
    assert codes == list(range(1, len(contracts) + 1))


def test_a_run_issued_on_a_later_day_is_due_that_day(tenant: Session) -> None:
    planned_contract(tenant, {**PLAN, "due_day": 1})
    issue_date = today() if today().day > 1 else today() + timedelta(days=1)
    reference = month_of(issue_date)
    issued = run(tenant, reference, issue_date=issue_date.isoformat())
    (invoice_id,) = issued["invoice_ids"]
    invoice = tenant.ok(tenant.get(f"/v1/invoices/{invoice_id}"))
    assert invoice["due_date"] == invoice["issue_date"] == issue_date.isoformat()


BAD_PLANS = [
    {**PLAN, "due_day": 0},
    {**PLAN, "due_day": 29},
    {**PLAN, "due_day": "5"},
    {**PLAN, "due_day": 5.5},
    {**PLAN, "amount": "0.00"},
    {**PLAN, "amount": "-1.00"},
    {**PLAN, "amount": "1.001"},
    {**PLAN, "description": ""},
    {**PLAN, "description": "x" * 201},
    {**PLAN, "description": "a\u0000b"},
    {"description": "Plano", "amount": "10.00"},
    {**PLAN, "discount": "1.00"},
]


def test_a_bad_plan_is_refused_and_nothing_is_written(tenant: Session) -> None:
    client = tenant.client()
    contract = planned_contract(tenant)
    for plan in BAD_PLANS:
        body = {"client_id": client["id"], "plan": plan}
        created = tenant.post("/v1/contracts", json=body)
        assert created.status_code == 422, (plan, created.text)
        assert created.headers["content-type"] == "application/problem+json"
        changed = tenant.patch(f"/v1/contracts/{contract['id']}", json={"plan": plan})
        assert changed.status_code == 422, (plan, changed.text)
    listed = tenant.ok(tenant.get("/v1/contracts", params={"client_id": client["id"]}))
    assert listed["items"] == []
    events = tenant.ok(tenant.get(f"/v1/contracts/{contract['id']}/events"))["items"]
    assert [e["type"] for e in events] == [
        "Contract.Opened",
        "Contract.PlanChanged",
        "Contract.Activated",
    ]


def test_a_plan_is_changed_and_removed_by_its_tenant_only(
    tenant: Session, other_tenant: Session
) -> None:
    contract = planned_contract(tenant)
    path = f"/v1/contracts/{contract['id']}"
    foreign = other_tenant.patch(path, json={"plan": None})
    assert foreign.status_code == 404, foreign.text
    assert other_tenant.ok(other_tenant.get("/v1/billing-runs"))["items"] == []
    new_plan = {"description": "Plano Anual", "amount": "1200.00", "due_day": 5}
    assert tenant.ok(tenant.patch(path, json={"plan": new_plan}))["plan"] == new_plan
    assert tenant.ok(tenant.patch(path, json={}))["plan"] == new_plan
    assert tenant.ok(tenant.patch(path, json={"plan": None}))["plan"] is None
    events = tenant.ok(tenant.get(f"{path}/events"))["items"]
    assert [e["type"] for e in events][-2:] == [
        "Contract.PlanChanged",
        "Contract.PlanRemoved",
    ]


BAD_RUNS = [
    {"reference": "2026-13"},
    {"reference": "2026-1"},
    {"reference": "1999-12"},
    {"reference": "2026-01", "issue_date": "2026-02-30"},
    {},
    {"reference": "2026-01", "dry_run": True},
]


def test_a_bad_run_is_refused(tenant: Session) -> None:
    planned_contract(tenant)
    for body in BAD_RUNS:
        refused = tenant.post("/v1/billing-runs", json=body)
        assert refused.status_code == 422, (body, refused.text)
    assert tenant.ok(tenant.get("/v1/billing-runs"))["items"] == []
    assert tenant.ok(tenant.get("/v1/invoices"))["items"] == []


def test_an_operator_may_run_billing_finance_and_auditors_may_not(
    tenant: Session,
) -> None:
    planned_contract(tenant)
    reference = month_of(today())
    for role in ("finance", "auditor"):
        user = tenant.login_as(role)
        refused = user.post("/v1/billing-runs", json={"reference": reference})
        assert refused.status_code == 403, refused.text
        assert user.ok(user.get("/v1/billing-runs"))["items"] == []
    operator = tenant.login_as("operator")
    assert run(operator, reference)["issued"] == 1


def a_late_invoice(tenant: Session, client_id: str, days_late: int) -> dict[str, Any]:
    due = days_from_today(-days_late)
    issued = tenant.ok(
        tenant.invoice(
            client_id,
            amount="100.00",
            due_date=due,
            issue_date=days_from_today(-days_late - 5),
            **reference_of(due),
        ),
        201,
    )
    assert tenant.wait_registered(issued["id"])["boleto"] is not None
    return issued


def test_a_client_31_days_late_is_suspended_by_tick_and_reinstated_by_paying(
    tenant: Session, api_database: str
) -> None:
    tenant.ok(
        tenant.patch("/v1/settings/billing", json={"suspend_after_days_overdue": 30})
    )
    late = planned_contract(tenant)
    by_hand = planned_contract(tenant)
    on_time = planned_contract(tenant)
    late_invoice = a_late_invoice(tenant, late["client_id"], 31)
    by_hand_invoice = a_late_invoice(tenant, by_hand["client_id"], 31)
    a_late_invoice(tenant, on_time["client_id"], 29)
    tenant.ok(tenant.post(f"/v1/contracts/{by_hand['id']}/suspend"))

    tick(api_database)

    suspended = contract_of(tenant, late["id"])
    assert (suspended["status"], suspended["suspension_reason"]) == (
        "suspended",
        "overdue",
    )
    assert contract_of(tenant, on_time["id"])["status"] == "active"
    assert contract_of(tenant, by_hand["id"])["suspension_reason"] == "manual"
    refused = tenant.invoice(late["client_id"])
    assert refused.status_code == 409, refused.text
    events = tenant.ok(tenant.get(f"/v1/contracts/{late['id']}/events"))["items"]
    assert events[-1]["type"] == "Contract.Suspended"
    assert events[-1]["data"]["reason"] == "overdue"

    # The one suspended by hand pays first: the process sees that payment
    # before the other one's, and leaves it suspended.
    for invoice in (by_hand_invoice, late_invoice):
        paying = tenant.post(
            f"/v1/sandbox/invoices/{invoice['id']}/pay", json={"method": "pix"}
        )
        assert paying.status_code == 202, paying.text
    wait_until(
        lambda: contract_of(tenant, late["id"])["status"] == "active",
        15,
        "the paying client's contract is active again",
    )
    reinstated = contract_of(tenant, late["id"])
    assert reinstated["suspension_reason"] is None
    events = tenant.ok(tenant.get(f"/v1/contracts/{late['id']}/events"))["items"]
    assert events[-1]["type"] == "Contract.Reinstated"
    assert tenant.wait_for(by_hand_invoice["id"], "paid")["status"] == "paid"
    still = contract_of(tenant, by_hand["id"])
    assert (still["status"], still["suspension_reason"]) == ("suspended", "manual")


def test_tick_runs_the_automatic_billing_on_its_day(
    tenant: Session, api_database: str
) -> None:
    # A past day other than today, so that the server's own sweep (which runs
    # today's work) never bills this tenant: only the tick does.
    day = today() - timedelta(days=1)
    while day.day > 28:
        day -= timedelta(days=1)
    tenant.ok(tenant.patch("/v1/settings/billing", json={"auto_billing_day": day.day}))
    contract = planned_contract(tenant)
    planned_contract(tenant, plan=None)

    out = tick(api_database, "--today", day.isoformat())

    assert "issued by automatic billing" in out, out
    (automatic,) = tenant.ok(tenant.get("/v1/billing-runs"))["items"]
    assert (automatic["reference"], automatic["issue_date"]) == (
        month_of(day),
        day.isoformat(),
    )
    assert automatic["issued"] == 1
    (invoice_id,) = automatic["invoice_ids"]
    invoice = tenant.ok(tenant.get(f"/v1/invoices/{invoice_id}"))
    assert invoice["client_id"] == contract["client_id"]
    assert invoice["billing_reference"] == month_of(day)
