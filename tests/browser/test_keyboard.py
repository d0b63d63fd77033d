"""The menu and a form work with the keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

MAX_TABS = 20


def tab_to(page: Page, text: str) -> None:
    """Press Tab until the focused element reads ``text``."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        if focused == text:
            return
    raise AssertionError(f"{text!r} is not reachable with Tab")


def test_the_menu_and_a_form_by_keyboard(owner_page: Page) -> None:
    page = owner_page
    page.goto("/painel/clientes")
    tab_to(page, "Controle de Assinaturas")
    page.keyboard.press("Enter")
    tab_to(page, "Faturas")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/painel/faturas$"))
    tab_to(page, "+ Novo")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/painel/faturas/nova$"))
    # Saving an empty form by Enter shows the errors by their fields.
    page.get_by_label("Descrição").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Não foi salvo")
    expect(page.get_by_label("Cliente")).to_have_attribute("aria-invalid", "true")
