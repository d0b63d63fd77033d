"""Two tenants with the same client documents and invoice codes see nothing of
each other, through every endpoint, in both directions."""

from __future__ import annotations

from typing import Any

from tests.builders import a_cpf, days_from_today, reference_of
from tests.e2e.conftest import Session, new_tenant


def populate(session: Session, document: str) -> dict[str, Any]:
    client = session.client(document=document, name="Mesmo Cliente")
    contract = session.contract(client["id"])
    invoice = session.ok(session.invoice(client["id"]), 201)
    invoice = session.wait_registered(invoice["id"])
    # The boleto view is read after the registration's own log position, not after
    # 0: the invoice is current at once, a view only once it has applied the event.
    history = session.ok(session.get(f"/v1/invoices/{invoice['id']}/events"))
    registered_at = history["items"][-1]["position"]
    boletos = session.ok(
        session.get("/v1/erp/boletos", params={"after": registered_at})
    )["items"]
    boleto = next(b for b in boletos if b["invoice_id"] == invoice["id"])
    return {
        "client": client["id"],
        "contract": contract["id"],
        "invoice": invoice["id"],
        "boleto": boleto["id"],
        "code": invoice["code"],
    }


def reads(ids: dict[str, Any]) -> list[str]:
    return [
        f"/v1/clients/{ids['client']}",
        f"/v1/clients/{ids['client']}/events",
        f"/v1/contracts/{ids['contract']}",
        f"/v1/contracts/{ids['contract']}/events",
        f"/v1/invoices/{ids['invoice']}",
        f"/v1/invoices/{ids['invoice']}?version=1",
        f"/v1/invoices/{ids['invoice']}/events",
        f"/v1/invoices/{ids['invoice']}/html",
        f"/v1/invoices/{ids['invoice']}/pdf",
        f"/v1/erp/boletos/{ids['boleto']}/print",
    ]


def writes(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("PATCH", f"/v1/clients/{ids['client']}", {"city": "Outra"}),
        ("POST", "/v1/contracts", {"client_id": ids["client"]}),
        ("POST", f"/v1/contracts/{ids['contract']}/suspend", None),
        ("POST", f"/v1/contracts/{ids['contract']}/activate", None),
        ("POST", f"/v1/contracts/{ids['contract']}/cancel", None),
        ("POST", f"/v1/invoices/{ids['invoice']}/cancel", {"reason": "x"}),
        ("POST", f"/v1/sandbox/invoices/{ids['invoice']}/pay", {"method": "pix"}),
        (
            "POST",
            "/v1/invoices",
            {
                "client_id": ids["client"],
                "description": "x",
                "amount": "10.00",
                "due_date": days_from_today(10),
                **reference_of(days_from_today(10)),
            },
        ),
    ]


LISTS = [
    "/v1/clients",
    "/v1/contracts",
    "/v1/invoices",
    "/v1/erp/customers",
    "/v1/erp/receivables",
    "/v1/erp/boletos",
    "/v1/erp/bank-accounts",
]


def test_tenants_with_the_same_documents_and_codes_see_nothing_of_each_other(
    api_url: str,
) -> None:
    document = a_cpf()
    alpha, beta = new_tenant(api_url), new_tenant(api_url)
    ids = {"alpha": populate(alpha, document), "beta": populate(beta, document)}
    assert ids["alpha"]["code"] == ids["beta"]["code"] == 1
    sessions = {"alpha": alpha, "beta": beta}
    for me, other in (("alpha", "beta"), ("beta", "alpha")):
        session, theirs, mine = sessions[me], ids[other], ids[me]
        for path in reads(theirs):
            assert session.get(path).status_code == 404, (me, path)
        for path in reads(mine):
            assert session.get(path).status_code == 200, (me, path)
        for method, path, body in writes(theirs):
            response = session.http.request(method, path, json=body)
            assert response.status_code == 404, (me, method, path, response.text)
        their_ids = {str(v) for k, v in theirs.items() if k != "code"}
        for path in LISTS:
            listed = session.ok(session.get(path, params={"after": 0}))
            shown = {str(v) for item in listed["items"] for v in item.values()}
            assert shown.isdisjoint(their_ids), (me, path)
        feed = session.ok(session.get("/v1/audit/events", params={"limit": 1000}))
        assert {e["aggregate_id"] for e in feed["items"]}.isdisjoint(their_ids)
        aging = session.ok(session.get("/v1/erp/reports/aging"))
        assert {i["customer_id"] for i in aging["items"]} == {mine["client"]}
        me_body = session.ok(session.get("/v1/me"))
        assert me_body["reseller"]["id"] == session.reseller_id
