"""Each role's limits: finance and auditor read, the server refuses their writes."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import csrf_of, log_in, masked_cpf
from tests.builders import a_cpf, an_email
from tests.e2e.conftest import Session


@pytest.fixture
def books(tenant: Session) -> dict[str, str]:
    """A client with an active contract and one registered invoice, over the API."""
    client = tenant.client(name="Mercado Bom Preço")
    contract = tenant.contract(client["id"])
    response = tenant.invoice(client["id"])
    assert response.status_code == 201, response.text
    invoice = tenant.wait_registered(response.json()["id"])
    return {
        "client": client["id"],
        "invoice": invoice["id"],
        "contract": contract["id"],
    }


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_readers_see_no_controls_and_the_server_refuses_their_posts(
    page: Page, tenant: Session, books: dict[str, str], role: str
) -> None:
    reader = tenant.login_as(role)
    log_in(page, reader.email)

    page.goto("/painel/clientes")
    expect(page.get_by_role("row").filter(has_text="Mercado Bom Preço")).to_be_visible()
    expect(page.get_by_role("link", name="+ Novo")).to_have_count(0)
    page.goto("/painel/faturas")
    expect(page.get_by_role("row").filter(has_text="Mercado Bom Preço")).to_be_visible()
    expect(page.get_by_role("link", name="+ Novo")).to_have_count(0)
    page.goto(f"/painel/contratacoes/{books['contract']}")
    expect(page.get_by_role("tab", name="Dados da Contratação")).to_be_visible()
    expect(page.get_by_label("Status")).to_have_count(0)
    expect(page.get_by_role("button", name="Salvar")).to_have_count(0)
    page.goto(f"/painel/faturas/{books['invoice']}")
    expect(page.get_by_text("Aguardando Pagamento")).to_be_visible()
    expect(page.get_by_role("button", name="Cancelar")).to_have_count(0)
    history = page.get_by_role("heading", name="Histórico")
    if role == "auditor":
        expect(history).to_be_visible()
        expect(page.get_by_role("cell", name="Emitida")).to_be_visible()
        expect(page.get_by_role("cell", name="Registrada no parceiro")).to_be_visible()
    else:
        expect(history).to_have_count(0)
    # Forms they cannot see are refused by the server too, with a valid token.
    token = csrf_of(page)
    for path, form in [
        (
            "/painel/clientes/novo",
            {
                "name": "Intruso",
                "document": masked_cpf(a_cpf()),
                "email": an_email("x"),
            },
        ),
        (f"/painel/contratacoes/{books['contract']}", {"status": "cancelled"}),
        (f"/painel/faturas/{books['invoice']}/cancelar", {"reason": "não"}),
        ("/painel/contratacoes/novo", {"client": "Mercado Bom Preço"}),
    ]:
        response = page.request.post(
            path, form={"csrf_token": token, **form}, max_redirects=0
        )
        assert response.status == 403, (path, response.status)
        assert "Sem permissão" in response.text()
    # Nothing was written.
    clients = tenant.ok(tenant.get("/v1/clients"))["items"]
    assert [c["name"] for c in clients] == ["Mercado Bom Preço"]
    assert (
        tenant.ok(tenant.get(f"/v1/contracts/{books['contract']}"))["status"]
        == "active"
    )
    assert (
        tenant.ok(tenant.get(f"/v1/invoices/{books['invoice']}"))["status"]
        == "awaiting_payment"
    )
