"""The browser session: a signed cookie, its CSRF token, the user and its role.

The cookie holds a JWT signed with a key derived from the service's secret key (a
separate purpose, so a session cookie is never an API token and back): the user,
its tenant, a random CSRF token and an expiry. As in the API, the role and whether
the user is disabled are read on every request (``api.auth.UserCache``), never
trusted from the cookie. Before login, the CSRF token of the login form lives in a
cookie of its own. Every POST of a web router is checked (``check_csrf``) before
its route runs: a missing or wrong token is a 403 and nothing is written.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

import jwt
from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import COMMANDERS, HISTORIANS, UserCache, resolve_secret_key
from api.bootstrap import Container
from application.actors import Actor, set_actor
from domain.errors import NotFoundError
from domain.users import Role

SESSION_COOKIE = "ledger_session"
LOGIN_CSRF_COOKIE = "ledger_login_csrf"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME = timedelta(hours=12)
_ALGORITHM = "HS256"
_AUDIENCE = "revenda-ledger-web"
_ROLE_LABELS = {
    Role.OWNER: "Proprietário",
    Role.OPERATOR: "Operador",
    Role.FINANCE: "Financeiro",
    Role.AUDITOR: "Auditor",
}


class LoginRequiredError(Exception):
    """No valid session: the handler sends the browser to ``/entrar?next=``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ForbiddenError(Exception):
    """The user's role may not do this, or the CSRF token is wrong: 403."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PageNotFoundError(Exception):
    """What the page shows does not exist in the user's tenant: a 404 page."""


@contextmanager
def found() -> Iterator[None]:
    """Turn the domain's "not found" into the 404 page (not the API's problem)."""
    try:
        yield
    except NotFoundError:
        raise PageNotFoundError from None


@dataclass(frozen=True)
class WebUser:
    """The person behind a request, with the role it has now."""

    user_id: UUID
    reseller_id: UUID
    role: Role
    email: str
    reseller_name: str
    csrf: str

    @property
    def can_write(self) -> bool:
        """Owners and operators create and change things; the others only read."""
        return self.role in COMMANDERS

    @property
    def can_see_history(self) -> bool:
        """Owners and auditors read each aggregate's events."""
        return self.role in HISTORIANS

    @property
    def is_owner(self) -> bool:
        """Owners alone manage settings."""
        return self.role is Role.OWNER

    @property
    def role_label(self) -> str:
        """The role in Portuguese."""
        return _ROLE_LABELS[self.role]


_keys: dict[int, bytes] = {}


def _key(container: Container) -> bytes:
    # The API's signing key is not used as it is: a session cookie must never
    # verify as an access token, nor the other way round.
    key = _keys.get(id(container))
    if key is None:
        secret = resolve_secret_key(container.settings).encode()
        key = hmac.new(secret, b"web-session", hashlib.sha256).digest()
        _keys[id(container)] = key
    return key


def issue_session(  # noqa: PLR0913 - the claims of a session
    response: Response,
    container: Container,
    *,
    user_id: UUID,
    reseller_id: UUID,
    email: str,
    reseller_name: str,
) -> None:
    """Set the session cookie for a user who just logged in (a new CSRF token)."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "rid": str(reseller_id),
        "email": email,
        "rname": reseller_name,
        "csrf": secrets.token_urlsafe(32),
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + SESSION_LIFETIME,
    }
    token = jwt.encode(claims, _key(container), algorithm=_ALGORITHM)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=not container.settings.development,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def end_session(response: Response) -> None:
    """Forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/")


def session_user(request: Request) -> WebUser | None:
    """The user of a valid session cookie (enabled, in its tenant), else ``None``."""
    if hasattr(request.state, "web_user"):
        cached: WebUser | None = request.state.web_user
        return cached
    user = _read_session(request)
    request.state.web_user = user
    if user is not None:
        request.state.tenant = str(user.reseller_id)
    return user


def _read_session(request: Request) -> WebUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    container: Container = request.app.state.container
    try:
        claims = jwt.decode(
            token,
            _key(container),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["sub", "rid", "csrf", "exp"]},
        )
        user_id, reseller_id = UUID(claims["sub"]), UUID(claims["rid"])
    except (jwt.PyJWTError, ValueError, KeyError):
        return None
    users: UserCache = request.app.state.users
    access = users.get(user_id)
    if access is None or access.disabled or access.reseller_id != reseller_id:
        return None
    return WebUser(
        user_id=user_id,
        reseller_id=reseller_id,
        role=access.role,
        email=str(claims.get("email", "")),
        reseller_name=str(claims.get("rname", "")),
        csrf=str(claims["csrf"]),
    )


def login_csrf(request: Request) -> str:
    """The login form's CSRF token: the cookie's, or a new one to set."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    return token if token and len(token) <= 64 else secrets.token_urlsafe(32)  # noqa: PLR2004


def set_login_csrf(response: Response, request: Request, token: str) -> None:
    """Keep the login form's CSRF token in its cookie."""
    container: Container = request.app.state.container
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=not container.settings.development,
    )


def csrf_token(request: Request) -> str:
    """The token this request's forms carry (the session's, or the login's)."""
    user = session_user(request)
    if user is not None:
        return user.csrf
    token: str | None = getattr(request.state, "login_csrf", None)
    if token is None:
        token = login_csrf(request)
        request.state.login_csrf = token
    return token


async def check_csrf(request: Request) -> None:
    """Every POST carries the form's CSRF token, or it is refused (403) unread."""
    if request.method != "POST":
        return
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    user = session_user(request)
    expected = user.csrf if user is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if (
        not isinstance(sent, str)
        or not expected
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise ForbiddenError(
            "O formulário expirou ou não veio desta página (token CSRF ausente "
            "ou inválido). Recarregue a página e tente de novo."
        )


def next_of(request: Request) -> str:
    """Where to come back after login: this request's path and query."""
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def login_url(next_path: str) -> str:
    """``/entrar?next=...``."""
    return "/entrar?next=" + quote(next_path, safe="/")


def safe_next(value: str | None, default: str = "/painel") -> str:
    """A local path to go to after login; anything else goes to the panel."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(c) < 0x20 for c in value)  # noqa: PLR2004
        or len(value) > 2000  # noqa: PLR2004
    ):
        return default
    return value


async def require_user(request: Request) -> WebUser:
    """A dependency: the session's user, or off to ``/entrar`` and back.

    Async, like the API's ``current_caller``, so that the actor it sets belongs to
    the request's own context and every event the page's command stores names the
    person (a sync dependency runs in a thread whose context is then thrown away).
    """
    user = await run_in_threadpool(session_user, request)
    if user is None:
        raise LoginRequiredError(next_of(request) if request.method == "GET" else "")
    set_actor(Actor.user(user.user_id, user.email))
    return user


def require_writer(user: Annotated[WebUser, Depends(require_user)]) -> WebUser:
    """A dependency: owners and operators only (403 for finance and auditor)."""
    if not user.can_write:
        raise ForbiddenError("Seu perfil pode consultar, mas não criar nem alterar.")
    return user


def require_historian(user: Annotated[WebUser, Depends(require_user)]) -> WebUser:
    """A dependency: owners and auditors only."""
    if not user.can_see_history:
        raise ForbiddenError("Só proprietários e auditores veem o histórico.")
    return user


def require_owner(user: Annotated[WebUser, Depends(require_user)]) -> WebUser:
    """A dependency: owners only."""
    if not user.is_owner:
        raise ForbiddenError("Só o proprietário pode fazer isto.")
    return user


CurrentUser = Annotated[WebUser, Depends(require_user)]
Writer = Annotated[WebUser, Depends(require_writer)]
Historian = Annotated[WebUser, Depends(require_historian)]
OwnerUser = Annotated[WebUser, Depends(require_owner)]
