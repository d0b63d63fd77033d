"""Playwright on the system's Chromium, against the session's ``ledger serve``.

Playwright's own browser download is not reachable here: the tests drive
``/usr/bin/chromium`` (``apt-get install chromium``). A failing test leaves a
screenshot of its page under ``test-output/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.builders import PASSWORD
from tests.e2e.conftest import Session, new_tenant

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
TIMEOUT_MS = 10_000
"""How long an expectation waits for the page (the partner registers in well under)."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Chromium: apt-get install -y chromium")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(browser: Browser, api_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=api_url,
        locale="pt-BR",
        timezone_id="America/Sao_Paulo",
        viewport={"width": 1280, "height": 860},
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        for index, open_page in enumerate(context.pages):
            suffix = "" if index == 0 else f"-{index}"
            open_page.screenshot(
                path=SCREENSHOTS / f"{name}{suffix}.png", full_page=True
            )


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in through ``/entrar`` as a person would."""
    page.goto("/entrar")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha").fill(password)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("button", name="Sair")).to_be_visible()


def open_menu(page: Page, group: str, item: str) -> None:
    """Open a menu group (when closed) and follow one of its links."""
    menu = page.get_by_role("navigation", name="Menu principal")
    link = menu.get_by_role("link", name=item, exact=True)
    if not link.is_visible():
        menu.get_by_text(group, exact=True).click()
    link.click()


def masked_cpf(cpf: str) -> str:
    """A CPF as people type it: ``000.000.000-00``."""
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


def br_date(iso: str) -> str:
    """``aaaa-mm-dd`` → ``dd/mm/aaaa``."""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def csrf_of(page: Page) -> str:
    """The CSRF token the page's forms carry (the Sair form has one)."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    return token


@pytest.fixture
def tenant(api_url: str) -> Session:
    """A new reseller (signed up over the API) and its owner's API session."""
    return new_tenant(api_url)


@pytest.fixture
def owner_page(page: Page, tenant: Session) -> Page:
    """The owner of ``tenant`` logged in, in the browser."""
    log_in(page, tenant.email)
    return page
