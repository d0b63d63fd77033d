"""Resellers, login, users and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import Owner, Reader, check_admin_token, unauthorized
from api.deps import ContainerDep, DecimalJSONRoute, LedgerDep, set_position
from api.problems import ProblemError, documented
from api.schemas import (
    MePublic,
    ResellerCreate,
    ResellerPublic,
    ResellerRef,
    TokenPublic,
    UserCreate,
    UserPublic,
)

router = APIRouter(route_class=DecimalJSONRoute)


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
    scheme, _, token = (authorization or "").partition(" ")
    check_admin_token(container.settings, token if scheme.lower() == "bearer" else None)
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


@router.post("/v1/auth/token", tags=["auth"], responses=documented(401, 422))
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], container: ContainerDep
) -> TokenPublic:
    """Log in with e-mail and password (OAuth2 password grant)."""
    user = container.ledger.authenticate(form.username, form.password)
    if user is None:
        raise unauthorized("wrong e-mail or password")
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
