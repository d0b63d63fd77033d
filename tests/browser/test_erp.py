"""The ERP part of the seed's story, by the labels a person reads.

The books are set up over the API (the panel's own tests type them in): a client
whose invoice is paid through the sandbox with R$ 10,00 too much, and a client whose
invoice is 40 days past due. The ERP must show them: Pago/Liquidado in Lançamentos,
Pago in Boletos, the credit in Créditos, the late one in Inadimplência.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, br_date, csrf_of, log_in, masked_cpf
from tests.browser.test_forms import error_of
from tests.builders import a_cpf, days_from_today, reference_of
from tests.e2e.conftest import Session


def shoot(page: Page, name: str) -> Path:
    """A screenshot of the screen as it is (for the README and for a look)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"erp-{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


@pytest.fixture
def books(tenant: Session) -> dict[str, Any]:
    """A paid client (with a R$ 10,00 credit) and a late one, over the API."""
    suffix = a_cpf()[:4]
    paid_client = tenant.client(name=f"Padaria Pão Quente {suffix}")
    tenant.contract(paid_client["id"])
    paid = tenant.ok(
        tenant.invoice(
            paid_client["id"], amount="150.00", description="Mensalidade do sistema"
        ),
        201,
    )
    late_document = a_cpf()
    late_client = tenant.client(late_document, name=f"Oficina do Zé {suffix}")
    tenant.contract(late_client["id"])
    due = days_from_today(-40)
    late = tenant.ok(
        tenant.invoice(
            late_client["id"],
            amount="89.90",
            description="Mensalidade atrasada",
            issue_date=days_from_today(-45),
            due_date=due,
            **reference_of(due),
        ),
        201,
    )
    assert tenant.wait_registered(paid["id"])["status"] == "awaiting_payment"
    assert tenant.wait_registered(late["id"])["status"] in {
        "awaiting_payment",
        "overdue",
    }
    # The client pays through the sandbox, R$ 10,00 more than owed.
    pay = tenant.post(
        f"/v1/sandbox/invoices/{paid['id']}/pay",
        json={"method": "pix", "amount": "160.00"},
    )
    assert pay.status_code == 202, pay.text
    assert tenant.wait_for(paid["id"], "paid")["status"] == "paid"
    return {
        "paid_client": paid_client["name"],
        "paid_code": str(paid["code"]),
        "late_client": late_client["name"],
        "late_document": late_document,
    }


def open_erp_menu(page: Page, group: str, item: str) -> None:
    """Open an ERP menu group and follow one of its links."""
    menu = page.get_by_role("navigation", name="Menu principal")
    link = menu.get_by_role("link", name=item, exact=True)
    if not link.is_visible():
        menu.get_by_text(group, exact=True).click()
    link.click()


def test_the_seed_story_in_the_erp(
    page: Page, tenant: Session, books: dict[str, Any]
) -> None:
    log_in(page, tenant.email)
    page.get_by_role("link", name="ERP", exact=True).click()
    expect(page).to_have_url(re.compile(r"/erp/lancamentos$"))

    # Cadastros → Clientes: the reseller's clients and Consumidor.
    open_erp_menu(page, "Cadastros", "Clientes")
    expect(page.get_by_role("heading", name="Clientes")).to_contain_text(
        "Todos os Clientes"
    )
    expect(page.get_by_role("row").filter(has_text="Consumidor")).to_be_visible()
    paid_row = page.get_by_role("row").filter(has_text=books["paid_client"])
    expect(paid_row).to_contain_text("R$ 10,00")  # its credit
    late_row = page.get_by_role("row").filter(has_text=books["late_client"])
    expect(late_row).to_contain_text("R$ 89,90")  # open
    shoot(page, "clientes")

    lancamentos(page, books)
    creditos(page, tenant, books)
    boletos(page, books)
    inadimplencia(page, books)


def lancamentos(page: Page, books: dict[str, Any]) -> None:
    open_erp_menu(page, "Financeiro", "Contas a Receber")
    expect(page.get_by_role("link", name="Lançamentos")).to_have_attribute(
        "aria-current", "page"
    )
    # Everything at first: two items, with totals over both.
    totals = page.get_by_role("region", name="Totais")
    expect(totals).to_contain_text("2")
    expect(totals).to_contain_text("R$ 239,90")
    # Pago/Liquidado for the paid client, by part of its name.
    page.get_by_label("Situação").select_option(label="Pago/Liquidado")
    page.get_by_label("Cliente").fill("padaria pão")
    page.get_by_role("button", name="Pesquisa").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text(books["paid_client"])
    expect(row).to_contain_text("Pago/Liquidado")
    expect(row.get_by_role("cell", name=books["paid_code"], exact=True)).to_be_visible()
    expect(totals.locator("[data-total=count]")).to_have_text("1")
    expect(totals.locator("[data-total=amount]")).to_have_text("R$ 150,00")
    expect(totals.locator("[data-total=amount_open]")).to_have_text("R$ 0,00")
    expect(page.get_by_label("Situação")).to_have_value("settled")
    as_the_books_stood_yesterday(page, books)
    # The late one: Aberto and Vencido, found by its CPF typed with punctuation.
    page.get_by_label("Situação").select_option(label="Aberto")
    page.get_by_label("Cliente").fill(masked_cpf(books["late_document"]))
    page.get_by_label("Vencimento de").fill(br_date(days_from_today(-41)))
    page.get_by_label("Vencimento até").fill(br_date(days_from_today(-39)))
    page.get_by_role("button", name="Pesquisa").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(books["late_client"])
    expect(rows.first).to_contain_text("Vencido")
    expect(totals.locator("[data-total=amount_open]")).to_have_text("R$ 89,90")
    # A date that is not in the calendar is named by its field.
    page.get_by_label("Lançamento de").fill("31/02/2026")
    page.get_by_role("button", name="Pesquisa").click()
    assert error_of(page, "Lançamento de") == "não é uma data do calendário"
    expect(page.get_by_label("Lançamento de")).to_have_value("31/02/2026")
    # Hostile or stale addresses: refused on the page, never an error 500.
    for query, message in [
        ("cliente=a%00b", "não pode conter caracteres de controle"),
        ("cursor=nao-e-um-cursor", "a página pedida não existe"),
        ("situacao=spent", "escolha uma opção da lista"),
        ("vencimento_de=01/01/1900", "deve estar entre 2000-01-01 e 2099-12-31"),
    ]:
        response = page.goto(f"/erp/lancamentos?{query}")
        assert response is not None
        assert response.status == 422, query
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.get_by_text(message)).to_be_visible()
    # Back to everything, for the picture.
    page.goto("/erp/lancamentos")
    expect(page.locator("tbody tr")).to_have_count(2)
    shoot(page, "lancamentos")
    # On a phone each row is a card, each value labelled by its column.
    page.set_viewport_size({"width": 390, "height": 844})
    situation = page.locator("tbody tr").first.locator("td[data-label='Situação']")
    expect(situation).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "lancamentos-celular")
    page.set_viewport_size({"width": 1280, "height": 860})


def as_the_books_stood_yesterday(page: Page, books: dict[str, Any]) -> None:
    """Posição em (the API's as_of): yesterday, before the payment, it was open."""
    rows = page.locator("tbody tr")
    totals = page.get_by_role("region", name="Totais")
    page.get_by_label("Situação").select_option(label="Aberto")
    page.get_by_label("Posição em").fill(br_date(days_from_today(-1)))
    page.get_by_role("button", name="Pesquisa").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(books["paid_client"])
    expect(totals.locator("[data-total=amount_open]")).to_have_text("R$ 150,00")
    page.get_by_label("Posição em").fill(br_date(days_from_today(1)))
    page.get_by_role("button", name="Pesquisa").click()
    assert error_of(page, "Posição em") == "não pode ser uma data futura"
    page.get_by_label("Posição em").fill("")


def creditos(page: Page, tenant: Session, books: dict[str, Any]) -> None:
    page.get_by_role("link", name="Créditos").click()
    row = page.get_by_role("row").filter(has_text=books["paid_client"])
    expect(row).to_contain_text("R$ 10,00")
    expect(row).to_contain_text("Disponível")
    # No reason: refused, nothing recorded.
    row.get_by_role("button", name="Devolver").click()
    expect(page.get_by_role("alert")).to_contain_text("Motivo")
    row = page.get_by_role("row").filter(has_text=books["paid_client"])
    expect(row).to_contain_text("Disponível")
    row.get_by_label("Motivo da devolução").fill("devolvido por Pix")
    row.get_by_role("button", name="Devolver").click()
    expect(page.get_by_role("status")).to_contain_text("Devolução registrada")
    row = page.get_by_role("row").filter(has_text=books["paid_client"])
    expect(row).to_contain_text("Devolvido")
    expect(row.get_by_role("button", name="Devolver")).to_have_count(0)
    shoot(page, "creditos")
    # Given back already: a second post (a stale page) is refused, in Portuguese.
    credit = tenant.ok(tenant.get("/v1/erp/credits"))["items"][0]
    assert credit["status"] == "refunded"
    again = page.request.post(
        f"/erp/creditos/{credit['id']}/devolver",
        form={"csrf_token": csrf_of(page), "reason": "de novo"},
        max_redirects=0,
    )
    assert again.status == 422
    assert "este crédito já foi devolvido" in again.text()


def boletos(page: Page, books: dict[str, Any]) -> None:
    open_erp_menu(page, "Financeiro", "Controle Bancário")
    account = page.get_by_label("Conta Corrente")
    expect(account.locator("option:checked")).to_have_text("Conta Principal")
    paid = page.get_by_role("row").filter(has_text=books["paid_client"])
    expect(paid).to_contain_text("Pago")
    expect(paid).to_contain_text("R$ 150,00")
    expect(paid.get_by_role("cell").nth(3)).to_contain_text(re.compile(r"[0-9]{5}\."))
    late = page.get_by_role("row").filter(has_text=books["late_client"])
    expect(late).to_contain_text("Vencido")
    page.get_by_label("Situação").select_option(label="Pago")
    page.get_by_role("button", name="Pesquisa").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.goto("/erp/boletos")
    shoot(page, "boletos")
    # The printer button opens the printable boleto in the browser, by cookie.
    paid = page.get_by_role("row").filter(has_text=books["paid_client"])
    with page.context.expect_page() as opened:
        paid.get_by_role("button", name="Imprimir").click()
    printable = opened.value
    printable.wait_for_load_state()
    # A paid boleto prints so, with the payer, and no barcode to pay it twice.
    expect(
        printable.get_by_text(re.compile(r"PAGO em [0-9]{2}/[0-9]{2}/[0-9]{4}")).first
    ).to_be_visible()
    expect(printable.locator("body")).to_contain_text(books["paid_client"])
    expect(printable.locator(".barcode")).to_have_count(0)
    printable.close()


def inadimplencia(page: Page, books: dict[str, Any]) -> None:
    open_erp_menu(page, "Relatórios", "Inadimplência")
    expect(page.get_by_label("Data Base")).to_have_value(br_date(days_from_today(0)))
    late = page.get_by_role("row").filter(has_text=books["late_client"])
    expect(late).to_be_visible()
    headers = [h.strip() for h in page.locator("thead th").all_inner_texts()]
    assert headers == [
        "Cliente",
        "A vencer",
        "1\N{EN DASH}30",
        "31\N{EN DASH}60",
        "61\N{EN DASH}90",
        "Mais de 90",
        "Total",
    ]
    cells = late.get_by_role("cell").all_inner_texts()
    assert cells[3] == "R$ 89,90", cells  # 31 to 60 days late
    assert cells[-1] == "R$ 89,90", cells
    # The paid client owes nothing: not listed.
    expect(page.get_by_role("row").filter(has_text=books["paid_client"])).to_have_count(
        0
    )
    # Thirty days on, the same item is 61 to 90 days late.
    page.get_by_label("Data Base").fill(br_date(days_from_today(30)))
    page.get_by_role("button", name="Pesquisa").click()
    cells = late.get_by_role("cell").all_inner_texts()
    assert cells[4] == "R$ 89,90", cells
    shoot(page, "inadimplencia")


def test_settings_save_and_refuse_bad_input_in_portuguese(
    owner_page: Page, tenant: Session
) -> None:
    page = owner_page
    page.get_by_role("navigation", name="Menu principal").get_by_role(
        "link", name="Configurações"
    ).click()
    expect(page.get_by_label("Multa (%)")).to_have_value("0,00")
    page.get_by_label("Multa (%)").fill("2")
    page.get_by_label("Juros ao mês (%)").fill("1,5")
    page.get_by_label("Lembrete (dias antes do vencimento)").fill("3")
    page.get_by_label("Suspender após (dias de atraso)").fill("30")
    page.get_by_label("Dia do faturamento automático").fill("5")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("status")).to_contain_text("Configurações salvas")
    expect(page.get_by_label("Multa (%)")).to_have_value("2,00")
    expect(page.get_by_label("Juros ao mês (%)")).to_have_value("1,50")
    saved = tenant.ok(tenant.get("/v1/settings/billing"))
    assert saved == {
        "fine_percent": "2.00",
        "interest_monthly_percent": "1.50",
        "reminder_days_before_due": 3,
        "suspend_after_days_overdue": 30,
        "auto_billing_day": 5,
    }
    shoot(page, "configuracoes")

    # Bad input: every field named in Portuguese, what was typed kept, nothing saved.
    page.get_by_label("Multa (%)").fill("12,5")
    page.get_by_label("Juros ao mês (%)").fill("dois")
    page.get_by_label("Dia do faturamento automático").fill("31")
    page.get_by_label("Lembrete (dias antes do vencimento)").fill("")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("alert")).to_contain_text("Não foi salvo")
    assert error_of(page, "Multa (%)") == "deve estar entre 0,00 e 10,00"
    assert error_of(page, "Juros ao mês (%)") == "use um percentual como 2,00"
    assert (
        error_of(page, "Dia do faturamento automático")
        == "deve ser um número inteiro de 1 a 28"
    )
    expect(page.get_by_label("Multa (%)")).to_have_value("12,5")
    assert tenant.ok(tenant.get("/v1/settings/billing")) == saved
    shoot(page, "configuracoes-erros")


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_readers_cannot_change_settings_nor_bill_and_auditors_cannot_refund(
    page: Page, tenant: Session, role: str
) -> None:
    reader = tenant.login_as(role)
    log_in(page, reader.email)
    menu = page.get_by_role("navigation", name="Menu principal")
    expect(menu.get_by_role("link", name="Configurações")).to_have_count(0)
    response = page.goto("/painel/configuracoes")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("button", name="Salvar")).to_have_count(0)
    token = csrf_of(page)
    posted = page.request.post(
        "/painel/configuracoes",
        form={
            "csrf_token": token,
            "fine_percent": "9",
            "interest_monthly_percent": "9",
        },
        max_redirects=0,
    )
    assert posted.status == 403
    assert "Sem permissão" in posted.text()
    assert tenant.ok(tenant.get("/v1/settings/billing"))["fine_percent"] == "0.00"
    # Faturamento Mensal: the runs are listed, the button is not, the post refused.
    page.goto("/painel/faturamento")
    expect(page.get_by_role("heading", name="Faturamento Mensal")).to_be_visible()
    expect(page.get_by_role("button", name="Gerar Faturas")).to_have_count(0)
    run = page.request.post(
        "/painel/faturamento",
        form={"csrf_token": token, "reference_month": "01", "reference_year": "2030"},
        max_redirects=0,
    )
    assert run.status == 403
    assert tenant.ok(tenant.get("/v1/billing-runs"))["items"] == []
    # Giving a credit back: finance may (as in the API), the auditor may not.
    refund = page.request.post(
        "/erp/creditos/00000000-0000-0000-0000-000000000000/devolver",
        form={"csrf_token": token, "reason": "x"},
        max_redirects=0,
    )
    assert refund.status == (404 if role == "finance" else 403)


def test_a_plan_on_the_contract_and_the_monthly_billing_run(
    owner_page: Page, tenant: Session
) -> None:
    page = owner_page
    client = tenant.client(name=f"Academia Corpo Em Forma {a_cpf()[:4]}")
    contract = tenant.contract(client["id"])
    page.goto(f"/painel/contratacoes/{contract['id']}")
    expect(page.get_by_role("tab", name="Dados da Contratação")).to_be_visible()
    # Bad plan: named by the field, nothing saved.
    page.get_by_label("Descrição do Plano").fill("Plano Academia")
    page.get_by_label("Valor Mensal").fill("12,345")
    page.get_by_label("Dia de Vencimento").fill("31")
    page.get_by_role("button", name="Salvar").click()
    assert error_of(page, "Valor Mensal") == (
        "use no máximo dois dígitos depois da vírgula"
    )
    assert error_of(page, "Dia de Vencimento") == "deve ser menor ou igual a 28"
    assert tenant.ok(tenant.get(f"/v1/contracts/{contract['id']}"))["plan"] is None
    page.get_by_label("Valor Mensal").fill("1.199,90")
    page.get_by_label("Dia de Vencimento").fill("10")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("row").filter(has_text=client["name"])).to_contain_text(
        "Plano Academia"
    )
    assert tenant.ok(tenant.get(f"/v1/contracts/{contract['id']}"))["plan"] == {
        "description": "Plano Academia",
        "amount": "1199.90",
        "due_day": 10,
    }

    page.get_by_role("navigation", name="Menu principal").get_by_text(
        "Controle de Assinaturas", exact=True
    ).click()
    page.get_by_role("link", name="Faturamento Mensal").click()
    expect(page.get_by_text("Nenhum faturamento ainda")).to_be_visible()
    month, year = reference_of(days_from_today(0)).values()
    expect(page.get_by_label("Mês Referência")).to_have_value(month)
    expect(page.get_by_label("Ano Referência")).to_have_value(year)
    page.get_by_label("Mês Referência").fill("13")
    page.get_by_role("button", name="Gerar Faturas").click()
    assert error_of(page, "Mês Referência") == "deve ter dois dígitos, de 01 a 12"
    page.get_by_label("Mês Referência").fill(month)
    page.get_by_role("button", name="Gerar Faturas").click()
    expect(page.get_by_role("status")).to_contain_text("1 fatura emitida")
    runs = page.locator("tbody tr")
    expect(runs).to_have_count(1)
    expect(runs.first.get_by_role("cell").nth(2)).to_have_text("1")
    shoot(page, "faturamento")
    # Again: the contract was billed this month already, nothing new.
    page.get_by_role("button", name="Gerar Faturas").click()
    expect(page.get_by_role("status")).to_contain_text("0 faturas emitidas")
    expect(runs).to_have_count(2)
    invoices = tenant.ok(tenant.get("/v1/invoices"))["items"]
    assert [(i["client_id"], i["amount"]) for i in invoices] == [
        (client["id"], "1199.90")
    ]
