"""``/entrar`` and ``/sair``: the login over the API's users, roles and throttle."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Form as FormField
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.bootstrap import Container
from api.deps import ContainerDep
from api.problems import ProblemError
from api.routes.accounts import log_in
from application.passwords import PasswordsBusyError
from web.routing import see_other, web_router
from web.session import (
    csrf_token,
    end_session,
    issue_session,
    safe_next,
    session_user,
    set_login_csrf,
)
from web.templating import render

router = web_router()
TOO_MANY = 429
WRONG = 401


@router.get("/")
def home(request: Request) -> RedirectResponse:
    """The service's root: the panel, or the login."""
    return see_other("/painel" if session_user(request) else "/entrar")


@router.get("/entrar")
def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
    """The login form (already logged in: straight on)."""
    if session_user(request) is not None:
        return see_other(safe_next(next))  # type: ignore[return-value]
    return _login_form(request, next_path=safe_next(next), email="")


def _login_form(
    request: Request,
    *,
    next_path: str,
    email: str,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = csrf_token(request)
    response = render(
        request,
        "login.html",
        {"next": next_path, "email": email, "error": error},
        status_code=status_code,
    )
    set_login_csrf(response, request, token)
    return response


@router.post("/entrar")
async def login(
    request: Request,
    container: ContainerDep,
    email: Annotated[str, FormField(max_length=320)] = "",
    password: Annotated[str, FormField(alias="senha", max_length=1024)] = "",
    next: Annotated[str, FormField(max_length=2000)] = "/painel",  # noqa: A002
) -> Response:
    """Check the credentials as ``POST /v1/auth/token`` does; open a session."""
    target = safe_next(next)
    try:
        user = await log_in(container, email, password)
    except ProblemError as refused:
        if refused.status == TOO_MANY:
            message = (
                "Muitas tentativas erradas para este e-mail. Aguarde alguns "
                "minutos e tente de novo."
            )
        else:
            message = "E-mail ou senha inválidos"
        return _login_form(
            request,
            next_path=target,
            email=email,
            error=message,
            status_code=refused.status if refused.status in {TOO_MANY, WRONG} else 401,
        )
    except PasswordsBusyError:
        return _login_form(
            request,
            next_path=target,
            email=email,
            error="Muitos acessos ao mesmo tempo; tente de novo em instantes.",
            status_code=503,
        )
    response = see_other(target)
    _open_session(response, container, user.id, user.reseller_id, user.email)
    return response


def _open_session(
    response: Response,
    container: Container,
    user_id: UUID,
    reseller_id: UUID,
    email: str,
) -> None:
    reseller = container.ledger.get_reseller(reseller_id)
    issue_session(
        response,
        container,
        user_id=user_id,
        reseller_id=reseller_id,
        email=email,
        reseller_name=reseller.name,
    )


@router.post("/sair")
def logout() -> RedirectResponse:
    """End the session (a POST with the CSRF token, so no page can log you out)."""
    response = see_other("/entrar")
    end_session(response)
    return response
