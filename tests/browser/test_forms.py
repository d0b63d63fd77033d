"""Bad input shown in Portuguese by the field, typed values kept, nothing saved; CSRF."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import csrf_of, masked_cpf
from tests.builders import a_cpf, an_email
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
