"""Where the login sends the browser back to: local paths only."""

from __future__ import annotations

import pytest

from web.session import login_url, safe_next


@pytest.mark.parametrize(
    "path",
    ["/painel/faturas", "/erp/boletos?situacao=pago", "/painel/clientes?q=Jo%C3%A3o"],
)
def test_a_local_path_is_kept(path: str) -> None:
    assert safe_next(path) == path


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/painel",
        "/\\evil.example",
        "javascript:alert(1)",
        "/painel\r\nSet-Cookie: x=1",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_goes_to_the_panel(target: str | None) -> None:
    assert safe_next(target) == "/painel"


def test_the_login_url_carries_the_page_asked_for() -> None:
    assert login_url("/painel/faturas?status=paid") == (
        "/entrar?next=/painel/faturas%3Fstatus%3Dpaid"
    )
