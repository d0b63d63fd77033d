"""The screens: the reseller panel (``/painel``) and the ERP (``/erp``), in HTML.

Server-rendered Jinja2 over the same ``Ledger`` commands and views as the API
(``web`` imports ``api``, ``application``, ``projections``; nothing imports ``web``
but ``api.app``, which calls ``install``). Every asset is served from
``/static/web`` (no CDN); the API's ``SecurityHeaders`` middleware covers every page.

Pieces:

- ``web.session``: the session cookie (signed, HttpOnly, SameSite=Lax, Secure
  outside development), the CSRF check of every POST, and the guards
  ``CurrentUser`` (logged in, else ``/entrar?next=``), ``Writer`` (owner/operator),
  ``Historian`` (owner/auditor), ``OwnerUser``; ``found()`` turns the domain's
  "not found" into the 404 page.
- ``web.formats``: ``R$ 1.234,56``, ``dd/mm/aaaa``, CPF/CNPJ masks out; money,
  dates and documents in (``parse_money``, ``parse_day``, ``FormatError``).
- ``web.forms``: ``read_form``, ``validate`` (the API's schema, errors in
  Portuguese by field), ``refusal`` (a domain error onto the form).
- ``web.templating``: ``render`` and the menus (``PANEL``, ``ERP``).
- ``web.routing``: ``web_router``, ``see_other`` (303 after a POST), ``settled``
  (wait for the views before redirecting, so the list shows what was saved) and
  ``path_id`` (an id in the path, else the 404 page).
- ``web/templates/_forms.html``: the macros ``field``, ``textarea``, ``select``,
  ``form_errors``, ``csrf`` (import them ``with context``); ``base.html``: the
  layout (menu, ERP/Painel link, Sair). Tables get ``class="cards"`` and a
  ``data-label`` per cell to read as cards on a phone.
- ``web/static/app.js``: ``data-suggest`` on an input with a ``<datalist>``
  refreshes it from a JSON endpoint as one types; ``data-live-invoice`` badges
  inside a ``data-live-endpoint`` element follow their status by polling.

How to add a page (say ``/erp/boletos``):

1. Router: in ``web/routes/<area>.py`` make ``router = web_router()`` (every POST
   is then CSRF-checked before the route runs) and add it to ``ROUTERS`` below.
2. Route: a GET takes ``user: CurrentUser`` and the ``ViewsDep``/``LedgerDep`` of
   ``api.deps``; it reads the same view the API route reads (filter by
   ``user.reseller_id``) and returns ``render(request, "erp/boletos.html", {...})``.
3. Template: ``{% extends "base.html" %}``, ``{% block title %}``,
   ``{% block content %}``; format with the filters ``money``, ``day``,
   ``moment``, ``document``; show ``+ Novo``/``Salvar``/status controls only
   ``{% if user.can_write %}``.
4. Nav: the entry is in ``web.templating.PANEL``/``ERP`` (fix its ``href``).
5. A form: the GET renders ``Form()``; the POST takes ``user: Writer`` (403 for
   finance/auditor even when they post directly), ``form = await
   read_form(request)``, parses with ``web.formats``, validates with the API's
   schema (``validate``), calls the ``Ledger`` inside ``try/except DomainError``
   (``refusal``), and on any error renders the form again with status 422;
   on success ``see_other(list_path)`` (303). In the template, ``{{ csrf() }}``
   inside every ``<form method="post">`` and ``{{ field(form, "name", "Nome") }}``
   for each input (label, value kept, error next to it).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from web.routes import auth, billing, documents, erp, panel
from web.session import (
    ForbiddenError,
    LoginRequiredError,
    PageNotFoundError,
    login_url,
    next_of,
    session_user,
)
from web.templating import render

STATIC_URL = "/static/web"
HTTP_NOT_FOUND = 404
ROUTERS = (auth.router, documents.router, panel.router, erp.router, billing.router)
"""Every screen's router."""
SCREEN_PREFIXES = ("/painel", "/erp")


def install(app: FastAPI) -> None:
    """Mount the screens, their assets and their error pages on ``app``."""
    app.mount(
        STATIC_URL,
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="web-static",
    )
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(LoginRequiredError, _to_login)
    app.add_exception_handler(ForbiddenError, _forbidden)
    app.add_exception_handler(PageNotFoundError, _not_found)
    # A path under /painel or /erp that is no screen (a menu entry not built yet)
    # is the 404 page of its area, not the API's JSON problem; any other 404 and
    # every other error keep the API's handler.
    api_handler = app.exception_handlers[StarletteHTTPException]

    async def screens_not_found(request: Request, error: Exception) -> Response:
        if (
            isinstance(error, StarletteHTTPException)
            and error.status_code == HTTP_NOT_FOUND
            and request.method == "GET"
            and _is_screen(request.url.path)
        ):
            if session_user(request) is None:
                return RedirectResponse(login_url(next_of(request)), status_code=303)
            return _not_found(request, error)
        answer = api_handler(request, error)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    app.add_exception_handler(StarletteHTTPException, screens_not_found)


def _is_screen(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in SCREEN_PREFIXES)


def _to_login(_request: Request, error: Exception) -> RedirectResponse:
    assert isinstance(error, LoginRequiredError)  # noqa: S101 - registered so
    target = login_url(error.next_path) if error.next_path else "/entrar"
    return RedirectResponse(target, status_code=303)


def _forbidden(request: Request, error: Exception) -> HTMLResponse:
    assert isinstance(error, ForbiddenError)  # noqa: S101 - registered so
    return render(
        request,
        "error.html",
        {"title": "Sem permissão", "message": error.message},
        status_code=403,
    )


def _not_found(request: Request, _error: Exception) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "title": "Não encontrado",
            "message": "Esta página não existe ou não é da sua revenda.",
        },
        status_code=404,
    )
