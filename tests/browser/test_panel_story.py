"""The seed's story in the panel, by the labels a person reads."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.builders import a_cpf, an_email, days_from_today, reference_of
from tests.e2e.conftest import Session


def open_menu(page: Page, group: str, item: str) -> None:
    """Open a menu group (if closed) and follow one of its links."""
    link = page.get_by_role("navigation", name="Menu principal").get_by_role(
        "link", name=item, exact=True
    )
    if not link.is_visible():
        page.get_by_text(group, exact=True).click()
    link.click()


def test_the_seed_story_in_the_panel(page: Page, tenant: Session) -> None:  # noqa: PLR0915 - one story, in order
    # A page asked for without a session goes to /entrar and back after login.
    page.goto("/painel/clientes")
    expect(page).to_have_url(re.compile(r"/entrar\?next=/painel/clientes$"))
    page.get_by_label("E-mail").fill(tenant.email)
    page.get_by_label("Senha").fill("errada-mesmo")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_text("E-mail ou senha inválidos")).to_be_visible()
    log_in_here(page, tenant.email)
    expect(page).to_have_url(re.compile(r"/painel/clientes$"))

    # Clientes → + Novo.
    name = "Padaria Pão Quente " + a_cpf()[:4]
    document = a_cpf()
    page.get_by_role("link", name="+ Novo").click()
    page.get_by_label("Nome").fill(name)
    page.get_by_label("CPF/CNPJ").fill(
        f"{document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}"
    )
    page.get_by_label("E-mail").fill(an_email("padaria"))
    page.get_by_label("Telefone").fill("(11) 98765-4321")
    page.get_by_label("Cidade").fill("Campinas")
    page.get_by_label("UF").fill("SP")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("cell", name=name)).to_be_visible()
    expect(page.get_by_role("cell", name="Campinas/SP")).to_be_visible()

    # Controle de Assinaturas → Contratações: empty, then + Novo with a suggestion.
    open_menu(page, "Controle de Assinaturas", "Contratações")
    expect(page.get_by_text("Nenhuma contratação ainda")).to_be_visible()
    page.get_by_role("link", name="+ Novo").click()
    page.get_by_label("Cliente").fill(name[:8])
    options = page.locator("datalist#clientes-sem-contrato option")
    expect(options.first).to_have_attribute("value", name)
    page.get_by_label("Cliente").fill(name)
    page.get_by_role("button", name="Salvar").click()
    expect(
        page.get_by_role("tab", name="Dados da Contratação").or_(
            page.get_by_role("link", name="Dados da Contratação")
        )
    ).to_be_visible()
    status = page.get_by_label("Status")
    expect(status).to_have_value("trial")
    assert status.locator("option").all_inner_texts() == [
        "Em Teste",
        "Ativo",
        "Cancelado",
    ]
    status.select_option(label="Ativo")
    page.get_by_role("button", name="Salvar").click()
    expect(page).to_have_url(re.compile(r"/painel/contratacoes\?salvo=1$"))
    row = page.get_by_role("row").filter(has_text=name)
    expect(row.get_by_text("Ativo")).to_be_visible()

    # Faturas → + Novo: the invoice shows Em Processamento, then Aguardando
    # Pagamento on the same page, without a reload.
    open_menu(page, "Controle de Assinaturas", "Faturas")
    page.get_by_role("link", name="+ Novo").click()
    expect(page.get_by_label("Código")).to_have_value("automático")
    expect(page.get_by_label("Status")).to_have_value("Em Processamento")
    lancamento = page.get_by_label("Lançamento").input_value()
    assert lancamento == days_from_today(0)
    due = days_from_today(10)
    page.get_by_label("Cliente").fill(name)
    page.get_by_label("Descrição").fill("Mensalidade do sistema")
    page.get_by_label("Valor").fill("1.234,56")
    page.get_by_label("Vencimento").fill(due)
    reference = reference_of(due)
    page.get_by_label("Mês Referência").fill(reference["reference_month"])
    page.get_by_label("Ano Referência").fill(reference["reference_year"])
    page.get_by_role("button", name="Salvar").click()
    row = page.get_by_role("row").filter(has_text="Mensalidade do sistema")
    expect(row).to_contain_text("R$ 1.234,56")
    expect(row).to_contain_text(name)
    page.evaluate("window.stillTheSamePage = true")
    badge = row.locator("[data-live-invoice]")
    expect(badge).to_have_text("Aguardando Pagamento")
    assert page.evaluate("window.stillTheSamePage") is True

    # HTML and PDF open in the browser with the session cookie.
    invoice_id = badge.get_attribute("data-live-invoice")
    assert invoice_id
    with page.context.expect_page() as opened:
        row.get_by_role("link", name=re.compile("^HTML")).click()
    html = opened.value
    html.wait_for_load_state()
    expect(html.locator("body")).to_contain_text("Mensalidade do sistema")
    html.close()
    pdf = page.request.get(f"/painel/faturas/{invoice_id}/pdf")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    # The client pays through the sandbox (over HTTP); Faturas shows Pago by itself.
    paid = tenant.post(f"/v1/sandbox/invoices/{invoice_id}/pay", json={"method": "pix"})
    assert paid.status_code == 202, paid.text
    expect(badge).to_have_text("Pago")
    assert page.evaluate("window.stillTheSamePage") is True


def log_in_here(page: Page, email: str) -> None:
    """Log in on the login page the browser is on."""
    from tests.builders import PASSWORD  # noqa: PLC0415

    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
