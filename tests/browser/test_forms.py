"""Bad input shown in Portuguese by the field, typed values kept, nothing saved; CSRF."""

from __future__ import annotations

import psycopg
from playwright.sync_api import Page, expect

from adapters.throttle import MAX_FAILURES
from tests.browser.conftest import csrf_of, masked_cpf
from tests.builders import PASSWORD, a_cpf, an_email
from tests.e2e.conftest import Session


def error_of(page: Page, label: str) -> str:
    """The error shown next to the field labelled ``label``."""
    field = page.get_by_label(label)
    described = field.get_attribute("aria-describedby")
    assert described, f"{label} has no error"
    return page.locator(f"#{described}").inner_text()


def test_bad_client_and_invoice_input_is_shown_by_the_field(
    owner_page: Page, tenant: Session
) -> None:
    page = owner_page
    page.goto("/painel/clientes/novo")
    page.get_by_label("Nome").fill("Oficina Zé")
    page.get_by_label("CPF/CNPJ").fill("123.456.789-00")
    page.get_by_label("E-mail").fill("ze-arroba-oficina")
    page.get_by_label("UF").fill("XX")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("alert")).to_contain_text("Não foi salvo")
    assert error_of(page, "CPF/CNPJ") == "não é um CPF ou CNPJ válido"
    assert error_of(page, "E-mail") == "não é um e-mail válido"
    expect(page.get_by_label("Nome")).to_have_value("Oficina Zé")
    expect(page.get_by_label("CPF/CNPJ")).to_have_value("123.456.789-00")

    # A client in trial cannot be invoiced; bad money and dates are named.
    client = tenant.client(name="Oficina Zé Trial")
    tenant.contract(client["id"], active=False)
    page.goto("/painel/faturas/nova")
    page.get_by_label("Cliente").fill("Oficina Zé Trial")
    page.get_by_label("Descrição").fill("Revisão")
    page.get_by_label("Valor").fill("12,345")
    page.get_by_label("Vencimento").fill("31/02/2027")
    page.get_by_label("Mês Referência").fill("13")
    page.get_by_role("button", name="Salvar").click()
    assert error_of(page, "Cliente") == "o cliente não tem contratação ativa"
    assert error_of(page, "Valor") == "use no máximo dois dígitos depois da vírgula"
    assert error_of(page, "Vencimento") == "não é uma data do calendário"
    expect(page.get_by_label("Valor")).to_have_value("12,345")
    # A name that is nobody's is refused the same way.
    page.get_by_label("Cliente").fill("Ninguém Com Este Nome")
    page.get_by_label("Valor").fill("10,00")
    page.get_by_label("Vencimento").fill("01/01/2027")
    page.get_by_role("button", name="Salvar").click()
    assert (
        error_of(page, "Cliente")
        == "nenhum cliente com contratação ativa tem este nome"
    )

    assert [c["name"] for c in tenant.ok(tenant.get("/v1/clients"))["items"]] == [
        "Oficina Zé Trial"
    ]
    assert tenant.ok(tenant.get("/v1/invoices"))["items"] == []


def test_a_post_without_the_csrf_token_is_refused(
    owner_page: Page, tenant: Session
) -> None:
    page = owner_page
    page.goto("/painel/clientes")
    form: dict[str, str | float | bool] = {
        "name": "Sem Token",
        "document": masked_cpf(a_cpf()),
        "email": an_email("t"),
    }
    missing = page.request.post("/painel/clientes/novo", form=form, max_redirects=0)
    assert missing.status == 403
    wrong = page.request.post(
        "/painel/clientes/novo", form={**form, "csrf_token": "x" * 43}, max_redirects=0
    )
    assert wrong.status == 403
    assert tenant.ok(tenant.get("/v1/clients"))["items"] == []
    # The same form with the page's token is saved (the refusals were the token's).
    saved = page.request.post(
        "/painel/clientes/novo",
        form={**form, "csrf_token": csrf_of(page)},
        max_redirects=0,
    )
    assert saved.status == 303
    assert [c["name"] for c in tenant.ok(tenant.get("/v1/clients"))["items"]] == [
        "Sem Token"
    ]


def test_cancel_an_invoice_from_its_page(owner_page: Page, tenant: Session) -> None:
    page = owner_page
    client = tenant.billable_client(name="Loja Cancela")
    created = tenant.invoice(client["id"])
    assert created.status_code == 201, created.text
    invoice_id = created.json()["id"]
    page.goto(f"/painel/faturas/{invoice_id}")
    expect(page.get_by_role("heading", name="Histórico")).to_be_visible()
    # Without a reason: refused by the field, still open.
    page.get_by_role("button", name="Cancelar").click()
    assert (
        error_of(page, "Motivo do cancelamento") == "deve ter ao menos 1 caractere(s)"
    )
    assert tenant.ok(tenant.get(f"/v1/invoices/{invoice_id}"))["status"] != "cancelled"
    page.get_by_label("Motivo do cancelamento").fill("Cliente desistiu")
    page.get_by_role("button", name="Cancelar").click()
    expect(page.locator(f'[data-live-invoice="{invoice_id}"]')).to_have_text(
        "Cancelada"
    )
    expect(page.get_by_role("cell", name="Cancelada", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Cancelar")).to_have_count(0)
    assert tenant.ok(tenant.get(f"/v1/invoices/{invoice_id}"))["status"] == "cancelled"
    # An id that is not an invoice of this tenant is the 404 page.
    page.goto("/painel/faturas/nao-e-um-id")
    expect(page.get_by_role("heading", name="Não encontrado")).to_be_visible()
    # So is a screen that does not exist, in its area, with the way back.
    page.goto("/erp/nao-existe")
    expect(page.get_by_role("heading", name="Não encontrado")).to_be_visible()
    expect(page.get_by_role("link", name="Painel de Revenda").first).to_be_visible()
    expect(page.get_by_role("button", name="Sair")).to_be_visible()
    page.goto("/painel/nao-existe")
    expect(page.get_by_role("heading", name="Não encontrado")).to_be_visible()
    # The API keeps its JSON problem for its own unknown paths.
    api = page.request.get("/v1/nao-existe")
    assert api.status == 404
    assert api.headers["content-type"] == "application/problem+json"


def test_the_login_is_throttled_like_the_api(
    page: Page, tenant: Session, api_database: str
) -> None:
    page.goto("/entrar")
    token = csrf_of(page)
    wrong = page.request.post(
        "/entrar",
        form={"email": tenant.email, "senha": "errada", "csrf_token": token},
        max_redirects=0,
    )
    assert wrong.status == 401
    assert "E-mail ou senha inválidos" in wrong.text()
    # The same counter as the API's: that failure counted, and at the limit
    # (set here rather than by ten slow wrong passwords) even the right one waits.
    with psycopg.connect(api_database, autocommit=True) as conn:
        counted = conn.execute(
            "UPDATE api_login_failures SET failures = %s WHERE email = %s"
            " RETURNING failures",
            (MAX_FAILURES, tenant.email),
        ).fetchall()
    assert counted == [(MAX_FAILURES,)]
    right = page.request.post(
        "/entrar",
        form={"email": tenant.email, "senha": PASSWORD, "csrf_token": token},
        max_redirects=0,
    )
    assert right.status == 429
    assert "Muitas tentativas" in right.text()
    api = page.request.post(
        "/v1/auth/token", form={"username": tenant.email, "password": PASSWORD}
    )
    assert api.status == 429
