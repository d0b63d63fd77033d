"""Resellers, login (throttled), users and the caller."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.auth import (
    Owner,
    Reader,
    UserCache,
    bearer_of,
    check_admin_token,
    unauthorized,
)
from api.bootstrap import Container
from api.deps import (
    After,
    ContainerDep,
    Cursor,
    DecimalJSONRoute,
    LedgerDep,
    Limit,
    ViewsDep,
    set_position,
    wait_after,
)
from api.problems import ProblemError, documented
from api.schemas import (
    MePublic,
    ResellerCreate,
    ResellerPublic,
    ResellerRef,
    Strict,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from application.actors import Actor, acting_as
from application.passwords import (
    HASH_WAIT_SECONDS,
    MAX_CONCURRENT_HASHES,
    PasswordsBusyError,
)
from domain.errors import InvalidInputError
from domain.text import email_address
from domain.users import User

router = APIRouter(route_class=DecimalJSONRoute)


class UserAccount(UserPublic):
    """A user as its owner manages it."""

    disabled: bool


class UsersPublic(BaseModel):
    """A page of the tenant's users, newest first."""

    items: list[UserAccount]
    next_cursor: str | None


class UserChange(Strict):
    """What an owner may change of a user; an absent field stays as it is."""

    role: Literal["owner", "operator", "finance", "auditor"] | None = None
    disabled: bool | None = None


@router.post(
    "/v1/resellers",
    status_code=201,
    tags=["resellers"],
    responses=documented(400, 401, 403, 409, 422),
)
def create_reseller(
    body: ResellerCreate,
    container: ContainerDep,
    response: Response,
    authorization: Annotated[str | None, Header()] = None,
) -> ResellerPublic:
    """Sign up a reseller (needs the admin token)."""
    check_admin_token(container.settings, bearer_of(authorization))
    # The holder of the admin token: the service's operator, no user of a tenant.
    with acting_as(Actor.system("admin")):
        registered = container.ledger.register_reseller(
            body.name, body.document, body.email, body.password
        )
    set_position(response, container.ledger, registered.position)
    reseller = registered.reseller
    return ResellerPublic(
        id=reseller.id,
        name=reseller.name,
        document=reseller.document,
        email=reseller.email,
        created_at=reseller.created_on,
    )


@router.post("/v1/auth/token", tags=["auth"], responses=documented(401, 422, 429, 503))
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], container: ContainerDep
) -> TokenPublic:
    """Log in with e-mail and password (OAuth2 password grant); throttled per e-mail.

    Logins queue here, without a thread, for one of ``MAX_CONCURRENT_HASHES``
    slots: a burst of logins can hold neither memory (argon2) nor the worker threads
    that serve other requests. One that waits ``HASH_WAIT_SECONDS`` is refused (503).
    """
    slots = _login_slots()
    acquired = False
    with anyio.move_on_after(HASH_WAIT_SECONDS):
        await slots.acquire()
        acquired = True
    if not acquired:
        raise PasswordsBusyError
    try:
        return await run_in_threadpool(_log_in, form, container)
    finally:
        slots.release()


_slots: list[anyio.CapacityLimiter] = []


def _login_slots() -> anyio.CapacityLimiter:
    # Created on first use: a limiter belongs to the running event loop.
    if not _slots:
        _slots.append(anyio.CapacityLimiter(MAX_CONCURRENT_HASHES))
    return _slots[0]


def _log_in(form: OAuth2PasswordRequestForm, container: Container) -> TokenPublic:
    throttle = container.login_throttle
    try:
        email: str | None = email_address(form.username)
    except InvalidInputError:
        email = None  # no such login can exist: nothing to throttle
    if email is not None and (wait := throttle.retry_after(email)) is not None:
        raise ProblemError(
            429,
            "too many failed logins for this e-mail; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = container.ledger.authenticate(form.username, form.password)
    if user is None:
        if email is not None:
            throttle.failed(email)
        raise unauthorized("wrong e-mail or password")
    throttle.succeeded(user.email)
    token, lifetime = container.tokens.issue(user.id, user.reseller_id, user.role)
    return TokenPublic(access_token=token, expires_in=lifetime)


@router.post(
    "/v1/users",
    status_code=201,
    tags=["users"],
    responses=documented(400, 401, 403, 409, 422),
)
def create_user(
    body: UserCreate, caller: Owner, ledger: LedgerDep, response: Response
) -> UserPublic:
    """Give someone a login to the caller's reseller (owners only)."""
    recorded = ledger.add_user(caller.reseller_id, body.email, body.password, body.role)
    set_position(response, ledger, recorded.position)
    user = recorded.aggregate
    return UserPublic(
        id=user.id, email=user.email, role=user.role.value, created_at=user.created_on
    )


@router.get("/v1/me", tags=["users"], responses=documented(401))
def me(caller: Reader, ledger: LedgerDep) -> MePublic:
    """Who the caller is."""
    user = ledger.get_user(caller.user_id)
    if user.reseller_id != caller.reseller_id:
        raise ProblemError(401, "the access token no longer matches its user")
    reseller = ledger.get_reseller(caller.reseller_id)
    return MePublic(
        user_id=user.id,
        email=user.email,
        role=user.role.value,
        reseller=ResellerRef(id=reseller.id, name=reseller.name),
    )


@router.get("/v1/users", tags=["users"], responses=documented(401, 403, 409, 422, 503))
def list_users(
    caller: Owner,
    views: ViewsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> UsersPublic:
    """The tenant's users, newest first (owners only)."""
    wait_after(views, after)
    page = views.users.query(caller.reseller_id, limit=limit, cursor=cursor)
    return UsersPublic(
        items=[
            UserAccount(
                id=row["id"],
                email=row["email"],
                role=row["role"],
                disabled=row["disabled"],
                created_at=row["created_at"],
            )
            for row in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.patch(
    "/v1/users/{user_id}",
    tags=["users"],
    responses=documented(400, 401, 403, 404, 409, 422),
)
def change_user(
    user_id: UUID,
    body: UserChange,
    caller: Owner,
    ledger: LedgerDep,
    views: ViewsDep,
    request: Request,
    response: Response,
) -> UserAccount:
    """Change a user's role, or disable or enable it (owners only).

    The tenant's last enabled owner cannot be disabled or demoted (409).
    """
    recorded = ledger.update_user(
        caller.reseller_id,
        user_id,
        role=body.role,
        disabled=body.disabled,
        colleagues=lambda: views.users.ids_of(caller.reseller_id),
    )
    users: UserCache = request.app.state.users
    users.forget(user_id)
    set_position(response, ledger, recorded.position)
    return _account(recorded.aggregate)


def _account(user: User) -> UserAccount:
    return UserAccount(
        id=user.id,
        email=user.email,
        role=user.role.value,
        disabled=user.disabled,
        created_at=user.created_on,
    )
