"""Jinja2 for the screens: one environment, pt-BR filters, and ``render``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from web import formats
from web.session import CSRF_FIELD, csrf_token, session_user

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
ENV = TEMPLATES.env
ENV.filters["money"] = formats.money
ENV.filters["day"] = formats.day
ENV.filters["moment"] = formats.moment
ENV.filters["document"] = formats.document
ENV.globals["CSRF_FIELD"] = CSRF_FIELD


@dataclass(frozen=True)
class NavItem:
    """One entry of a menu: a label and where it goes (or a group of entries)."""

    label: str
    href: str | None = None
    children: tuple[NavItem, ...] = ()
    owner_only: bool = False


@dataclass
class Area:
    """One of the two applications (panel, ERP): its title, home and menu."""

    title: str
    home: str
    menu: list[NavItem] = field(default_factory=list)


# The menus of PANEL.md. A screen not built yet keeps its entry: its router adds
# the route; the link answers 404 until then.
PANEL = Area(
    "Painel de Revenda",
    "/painel",
    [
        NavItem("Clientes", "/painel/clientes"),
        NavItem(
            "Controle de Assinaturas",
            children=(
                NavItem("Contratações", "/painel/contratacoes"),
                NavItem("Faturas", "/painel/faturas"),
                NavItem("Faturamento Mensal", "/painel/faturamento"),
            ),
        ),
        NavItem("Configurações", "/painel/configuracoes", owner_only=True),
    ],
)
ERP = Area(
    "ERP",
    "/erp",
    [
        NavItem("Cadastros", children=(NavItem("Clientes", "/erp/clientes"),)),
        NavItem(
            "Financeiro",
            children=(
                NavItem("Contas a Receber", "/erp/lancamentos"),
                NavItem("Créditos", "/erp/creditos"),
                NavItem("Controle Bancário", "/erp/boletos"),
            ),
        ),
        NavItem(
            "Relatórios", children=(NavItem("Inadimplência", "/erp/inadimplencia"),)
        ),
    ],
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    area: Area | None = None,
) -> HTMLResponse:
    """A page: ``template`` with the user, its CSRF token and the area's menu.

    Pages are ``no-store``: they carry tenant data.
    """
    user = session_user(request)
    page_area = area or (ERP if request.url.path.startswith("/erp") else PANEL)
    other = PANEL if page_area is ERP else ERP
    full = {
        "user": user,
        "csrf_token": csrf_token(request),
        "area": page_area,
        "other_area": other,
        "path": request.url.path,
        **(context or {}),
    }
    response = TEMPLATES.TemplateResponse(
        request, template, full, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    return response
