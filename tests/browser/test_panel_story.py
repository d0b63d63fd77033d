"""The seed's story in the panel, by the labels a person reads."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.browser.conftest import br_date, masked_cpf, open_menu
from tests.builders import (
    PASSWORD,
    a_cpf,
    an_email,
    clock_offset_days,
    days_from_today,
    reference_of,
)
from tests.e2e.conftest import Session


def test_the_seed_story_in_the_panel(page: Page, tenant: Session) -> None:
    log_in_after_a_wrong_password(page, tenant.email)
    name = register_a_client(page)
    contract_to_active(page, name)
    invoice_id = issue_and_watch_it_registered(page, name)
    open_the_printable_invoice(page, invoice_id)
    print_the_boleto(page, tenant, invoice_id)
    # The client pays through the sandbox (over HTTP); Faturas shows Pago by itself.
    paid = tenant.post(f"/v1/sandbox/invoices/{invoice_id}/pay", json={"method": "pix"})
    assert paid.status_code == 202, paid.text
    badge = page.locator(f'[data-live-invoice="{invoice_id}"]')
    expect(badge).to_have_text("Pago")
    assert page.evaluate("window.stillTheSamePage") is True
    filter_the_invoices(page, name)


def filter_the_invoices(page: Page, name: str) -> None:
    """Pago it stays after a reload; filters by status, client and reference."""
    row = page.get_by_role("row").filter(has_text="Mensalidade do sistema")
    reference = reference_of(days_from_today(10))
    month_year = f"{reference['reference_month']}/{reference['reference_year']}"
    page.get_by_label("Status").select_option(label="Pago")
    page.get_by_label("Cliente").fill(name)
    page.get_by_label("Referência").fill(month_year)
    page.get_by_role("button", name="Filtrar").click()
    expect(row).to_contain_text("Pago")
    next_year = f"{reference['reference_month']}/{int(reference['reference_year']) + 1}"
    page.get_by_label("Referência").fill(next_year)
    page.get_by_role("button", name="Filtrar").click()
    expect(page.get_by_text("Nenhuma fatura com estes filtros.")).to_be_visible()
    page.get_by_label("Status").select_option(label="Aguardando Pagamento")
    page.get_by_label("Referência").fill(month_year)
    page.get_by_role("button", name="Filtrar").click()
    expect(page.get_by_text("Nenhuma fatura com estes filtros.")).to_be_visible()


def log_in_after_a_wrong_password(page: Page, email: str) -> None:
    # A page asked for without a session goes to /entrar, and back after login.
    page.goto("/painel/clientes")
    expect(page).to_have_url(re.compile(r"/entrar\?next=/painel/clientes$"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha").fill("errada-mesmo")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_text("E-mail ou senha inválidos")).to_be_visible()
    expect(page.get_by_label("E-mail")).to_have_value(email)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page).to_have_url(re.compile(r"/painel/clientes$"))
    expect(page.get_by_role("button", name="Sair")).to_be_visible()
    # The session is an HttpOnly, SameSite=Lax cookie, Secure outside development
    # (the shared server is in development only when the run moves its clock).
    (session,) = [c for c in page.context.cookies() if c["name"] == "ledger_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is (clock_offset_days() == 0)


def register_a_client(page: Page) -> str:
    name = f"Padaria Pão Quente {a_cpf()[:4]}"
    page.get_by_role("link", name="+ Novo").click()
    page.get_by_label("Nome").fill(name)
    page.get_by_label("CPF/CNPJ").fill(masked_cpf(a_cpf()))
    page.get_by_label("E-mail").fill(an_email("padaria"))
    page.get_by_label("Telefone").fill("(11) 98765-4321")
    page.get_by_label("Cidade").fill("Campinas")
    page.get_by_label("UF").fill("sp")
    page.get_by_role("button", name="Salvar").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("Campinas/SP")
    # Searching finds it by a part of its name.
    page.get_by_label("Pesquisar").fill(name.rsplit(maxsplit=1)[-1])
    page.get_by_role("button", name="Pesquisar").click()
    expect(page.get_by_role("row").filter(has_text=name)).to_be_visible()
    return name


def contract_to_active(page: Page, name: str) -> None:
    open_menu(page, "Controle de Assinaturas", "Contratações")
    expect(page.get_by_text("Nenhuma contratação ainda")).to_be_visible()
    page.get_by_role("link", name="+ Novo").click()
    # Typing part of the name suggests the client (it has no open contract).
    page.get_by_label("Cliente").fill(name[:8])
    expect(
        page.locator("datalist#clientes-sem-contrato option").first
    ).to_have_attribute("value", name)
    page.get_by_label("Cliente").fill(name)
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("tab", name="Dados da Contratação")).to_be_visible()
    status = page.get_by_label("Status")
    expect(status).to_have_value("trial")
    # Only the transitions allowed from Em Teste, by their labels.
    assert status.locator("option").all_inner_texts() == [
        "Em Teste",
        "Ativo",
        "Cancelado",
    ]
    status.select_option(label="Ativo")
    page.get_by_role("button", name="Salvar").click()
    expect(page).to_have_url(re.compile(r"/painel/contratacoes\?salvo=1$"))
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("Ativo")
    # Suggestions as one types: no longer for a contract, now for an invoice.
    word = name.rsplit(maxsplit=1)[-1]
    for purpose, expected in [("contrato", []), ("fatura", [name])]:
        answer = page.request.get(f"/painel/clientes/sugestoes?para={purpose}&q={word}")
        assert [item["value"] for item in answer.json()["items"]] == expected


def issue_and_watch_it_registered(page: Page, name: str) -> str:
    open_menu(page, "Controle de Assinaturas", "Faturas")
    page.get_by_role("link", name="+ Novo").click()
    expect(page.get_by_label("Código")).to_have_value("automático")
    expect(page.get_by_label("Status")).to_have_value("Em Processamento")
    # Lançamento is today in São Paulo, by the service's business clock.
    expect(page.get_by_label("Lançamento")).to_have_value(br_date(days_from_today(0)))
    due = days_from_today(10)
    reference = reference_of(due)
    page.get_by_label("Cliente").fill(name)
    page.get_by_label("Descrição").fill("Mensalidade do sistema")
    page.get_by_label("Valor").fill("1.234,56")
    page.get_by_label("Vencimento").fill(br_date(due))
    page.get_by_label("Mês Referência").fill(reference["reference_month"])
    page.get_by_label("Ano Referência").fill(reference["reference_year"])
    page.get_by_role("button", name="Salvar").click()
    row = page.get_by_role("row").filter(has_text="Mensalidade do sistema")
    expect(row).to_contain_text("R$ 1.234,56")
    expect(row).to_contain_text(name)
    expect(row).to_contain_text(br_date(due))
    expect(row).to_contain_text(
        f"{reference['reference_month']}/{reference['reference_year']}"
    )
    badge = row.locator("[data-live-invoice]")
    expect(badge).to_have_text(re.compile("Em Processamento|Aguardando Pagamento"))
    # Without a reload: a mark left on this page's window survives the change.
    page.evaluate("window.stillTheSamePage = true")
    expect(badge).to_have_text("Aguardando Pagamento")
    assert page.evaluate("window.stillTheSamePage") is True
    invoice_id = badge.get_attribute("data-live-invoice")
    assert invoice_id
    return invoice_id


def open_the_printable_invoice(page: Page, invoice_id: str) -> None:
    row = page.get_by_role("row").filter(
        has=page.locator(f'[data-live-invoice="{invoice_id}"]')
    )
    with page.context.expect_page() as opened:
        row.get_by_role("link", name=re.compile("^HTML")).click()
    html = opened.value
    expect(html.locator("body")).to_contain_text("Mensalidade do sistema")
    html.close()
    # The PDF opens inline with the session cookie alone (no bearer header).
    pdf = page.request.get(f"/painel/faturas/{invoice_id}/pdf")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    assert pdf.body().startswith(b"%PDF")
    assert page.evaluate("window.stillTheSamePage") is True


def print_the_boleto(page: Page, tenant: Session, invoice_id: str) -> None:
    """The printable boleto opens with the session cookie too (the ERP links it)."""
    deadline = time.monotonic() + 10
    while True:  # the boletos view follows the log on its own
        boletos = tenant.ok(tenant.get("/v1/erp/boletos"))["items"]
        mine = [b for b in boletos if b["invoice_id"] == invoice_id]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    (boleto,) = mine
    printed = page.request.get(f"/erp/boletos/{boleto['id']}/imprimir")
    assert printed.status == 200
    assert boleto["digitable_line"] in printed.text()
