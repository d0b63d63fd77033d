"""Login, access tokens and roles.

Access tokens are HS256 JWTs (PyJWT) that carry the user and its tenant, and
expire (their ``role`` claim says the role at login, for the client's information
only). The role and whether the user is disabled are read from the user on every
request (through ``UserCache``), never from the token: a disabled user's tokens stop
working at once and a changed role applies to the next request. Every route states
which roles may call it; anyone else authenticated gets 403, anyone unauthenticated
401.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ProblemError
from api.settings import Settings, SettingsError
from application.actors import Actor, set_actor
from domain.errors import UserNotFoundError
from domain.users import Role, User

ALGORITHM = "HS256"
TOKEN_LIFETIME = timedelta(hours=1)
MAX_VERIFIED_TOKENS = 10_000
SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
USER_CACHE_SECONDS = 1.0
"""How long another process may keep serving a user as it was before a change."""

bearer = HTTPBearer(auto_error=False, description="An access token from /v1/auth/token")


def resolve_secret_key(settings: Settings) -> str:
    """``LEDGER_SECRET_KEY``; in development, a random key kept in the data dir."""
    return _secret(settings, "secret_key", SECRET_FILE)


def resolve_webhook_secret(settings: Settings) -> str:
    """``LEDGER_WEBHOOK_SECRET``; in development, kept in the data dir like the key."""
    return _secret(settings, "webhook_secret", "webhook_secret")


def _secret(settings: Settings, name: str, file_name: str) -> str:
    value = getattr(settings, name)
    if value is not None:
        return str(value.get_secret_value())
    if not settings.development:
        msg = f"LEDGER_{name.upper()} must be set outside development"
        raise SettingsError(msg)
    path = Path(settings.data_dir) / file_name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user of one tenant, with a role."""

    user_id: UUID
    reseller_id: UUID
    role: Role


class Tokens:
    """Issue and check access tokens.

    A token whose signature checked out is remembered with its expiry, so the next
    request with the very same text skips decoding and the HMAC (a fifth of the
    API's work on a small command); it still stops working when it expires. At
    most ``MAX_VERIFIED_TOKENS`` are remembered: a flood of valid tokens empties
    the memory, never grows it, and invalid ones are never remembered.
    """

    def __init__(
        self, secret_key: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = secret_key
        self._clock = clock
        self._verified: dict[str, tuple[float, Caller]] = {}

    def issue(self, user_id: UUID, reseller_id: UUID, role: Role) -> tuple[str, int]:
        """A signed token and its lifetime in seconds."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        claims = {
            "sub": str(user_id),
            "rid": str(reseller_id),
            "role": role.value,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return token, int(TOKEN_LIFETIME.total_seconds())

    def check(self, token: str) -> Caller:
        """The caller a valid token names, or a 401 problem."""
        known = self._verified.get(token)
        if known is not None and known[0] > self._clock():
            return known[1]
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "rid", "role", "exp"]},
            )
            caller = Caller(
                UUID(claims["sub"]), UUID(claims["rid"]), Role(claims["role"])
            )
            expires = float(claims["exp"])
        except (jwt.PyJWTError, ValueError, KeyError, TypeError):
            raise unauthorized("the access token is invalid or expired") from None
        if expires <= self._clock():  # PyJWT reads its own clock
            raise unauthorized("the access token is invalid or expired")
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = (expires, caller)
        return caller


@dataclass(frozen=True)
class Access:
    """What a request needs to know of its user."""

    reseller_id: UUID
    role: Role
    disabled: bool
    email: str = ""


class UserCache:
    """Users as requests need them, kept for ``USER_CACHE_SECONDS``.

    A command on a user in this process calls ``forget``, so the change holds from
    the next request here; other processes (``ledger serve`` with several workers)
    see it within ``USER_CACHE_SECONDS``.
    """

    def __init__(
        self,
        load: Callable[[UUID], User],
        *,
        seconds: float = USER_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._seconds = seconds
        self._clock = clock
        self._entries: dict[UUID, tuple[float, Access | None]] = {}
        self._guard = threading.Lock()

    def fresh(self, user_id: UUID) -> tuple[Access | None] | None:
        """The cached access while fresh, in a 1-tuple; ``None``: it must be read.

        Never blocks: the event loop asks it first, and only a miss costs a trip
        to a worker thread.
        """
        with self._guard:
            entry = self._entries.get(user_id)
        if entry is not None and entry[0] > self._clock():
            return (entry[1],)
        return None

    def get(self, user_id: UUID) -> Access | None:
        """The user's access, or ``None`` for a user that does not exist."""
        now = self._clock()
        cached = self.fresh(user_id)
        if cached is not None:
            return cached[0]
        try:
            user = self._load(user_id)
            access: Access | None = Access(
                user.reseller_id, user.role, user.disabled, user.email
            )
        except UserNotFoundError:
            access = None
        with self._guard:
            self._entries[user_id] = (now + self._seconds, access)
        return access

    def forget(self, user_id: UUID) -> None:
        """The user changed: read it again on its next request."""
        with self._guard:
            self._entries.pop(user_id, None)


def unauthorized(detail: str) -> ProblemError:
    """A 401 problem that names the bearer scheme."""
    return ProblemError(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The authenticated caller, or 401; the request then acts as that user.

    Async so that the actor is set in the request's own context, which the route
    (run in a worker thread) inherits: a sync dependency runs in a thread of its
    own, and what it sets there is lost when it returns.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("an access token is required")
    tokens: Tokens = request.app.state.container.tokens
    claimed = tokens.check(credentials.credentials)
    users: UserCache = request.app.state.users
    cached = users.fresh(claimed.user_id)
    access = (
        cached[0]
        if cached is not None
        else await run_in_threadpool(users.get, claimed.user_id)
    )
    caller, email = _admit(request, claimed, access)
    set_actor(Actor.user(caller.user_id, email))
    return caller


def _admit(
    request: Request, claimed: Caller, access: Access | None
) -> tuple[Caller, str]:
    if access is None or access.disabled or access.reseller_id != claimed.reseller_id:
        raise unauthorized("the access token's user is disabled or gone")
    request.state.tenant = str(claimed.reseller_id)
    return Caller(claimed.user_id, claimed.reseller_id, access.role), access.email


def allow(*roles: Role) -> object:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    # Async, like every cheap dependency: FastAPI runs a sync one in a worker
    # thread, two thread switches per request for a comparison.
    async def check(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            msg = f"this needs one of the roles: {allowed}"
            raise ProblemError(403, msg)
        return caller

    return Depends(check)


EVERYONE = (Role.OWNER, Role.OPERATOR, Role.FINANCE, Role.AUDITOR)
COMMANDERS = (Role.OWNER, Role.OPERATOR)
HISTORIANS = (Role.OWNER, Role.AUDITOR)

Reader = Annotated[Caller, allow(*EVERYONE)]
Commander = Annotated[Caller, allow(*COMMANDERS)]
Owner = Annotated[Caller, allow(Role.OWNER)]
Historian = Annotated[Caller, allow(*HISTORIANS)]


def check_admin_token(settings: Settings, presented: str | None) -> None:
    """Reseller sign-up: 403 when disabled, 401 without the right admin token."""
    if settings.admin_token is None:
        raise ProblemError(403, "reseller sign-up is disabled (LEDGER_ADMIN_TOKEN)")
    if not is_admin_token(settings, presented):
        raise unauthorized("the admin token is missing or wrong")


def is_admin_token(settings: Settings, presented: str | None) -> bool:
    """Whether ``presented`` is the configured admin token (never when unset)."""
    if settings.admin_token is None or presented is None:
        return False
    expected = settings.admin_token.get_secret_value().encode()
    return hmac.compare_digest(presented.encode(), expected)


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None
