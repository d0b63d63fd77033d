"""Access tokens: a verified token is remembered until it expires, never beyond."""

from __future__ import annotations

import time
from uuid import uuid4

import jwt
import pytest

from api import auth
from api.auth import TOKEN_LIFETIME, Tokens
from api.problems import ProblemError
from domain.users import Role

KEY = "k" * 48


def test_a_remembered_token_still_stops_working_when_it_expires() -> None:
    now = [time.time()]
    tokens = Tokens(KEY, clock=lambda: now[0])
    user, reseller = uuid4(), uuid4()
    token, _ = tokens.issue(user, reseller, Role.OPERATOR)
    assert tokens.check(token) == auth.Caller(user, reseller, Role.OPERATOR)
    assert token in tokens._verified
    now[0] += TOKEN_LIFETIME.total_seconds() - 1
    assert tokens.check(token).user_id == user
    now[0] += 2
    with pytest.raises(ProblemError) as refused:
        tokens.check(token)
    assert refused.value.status == 401


def test_a_token_that_does_not_verify_is_refused_and_never_remembered() -> None:
    tokens = Tokens(KEY)
    token, _ = tokens.issue(uuid4(), uuid4(), Role.OWNER)
    head, payload, signature = token.split(".")
    forged = jwt.encode(
        {"sub": str(uuid4()), "rid": str(uuid4()), "role": "owner", "exp": 2**40},
        "another key" * 4,
        algorithm="HS256",
    )
    for bad in (
        f"{head}.{payload}.{signature[:-2]}AA",
        forged,
        f"{head}.{forged.split('.')[1]}.{signature}",
        "not a token",
    ):
        with pytest.raises(ProblemError):
            tokens.check(bad)
        assert bad not in tokens._verified


def test_at_most_a_bounded_number_of_tokens_are_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "MAX_VERIFIED_TOKENS", 3)
    tokens = Tokens(KEY)
    issued = [tokens.issue(uuid4(), uuid4(), Role.FINANCE)[0] for _ in range(7)]
    for token in issued:
        tokens.check(token)
        assert len(tokens._verified) <= 3
    assert all(tokens.check(token) for token in issued)  # all still valid
