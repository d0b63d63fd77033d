"""Dependencies shared by the routes, and the route class that reads JSON money."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.routing import APIRoute

from api.bootstrap import Container
from api.problems import ProblemError
from application.ledger import Ledger
from projections.read_models import ReadModels

AFTER_TIMEOUT_SECONDS = 5.0


MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether the JSON text ``body`` opens more than ``limit`` nested levels.

    Strings are skipped first (a bracket inside one is text); the scan is linear
    and needs no parser, so a hostile body costs no recursion.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", body)):
        if bracket.group() in {b"[", b"{"}:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class DecimalJSONRoute(APIRoute):
    """Parse JSON bodies with ``Decimal`` numbers, so money keeps its decimal text."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler: pre-parse the body once, exactly."""
        handler = super().get_route_handler()

        reads_body = self.body_field is not None

        async def parse_then_handle(request: Request) -> Response:
            body = await request.body()
            if (
                reads_body
                and body
                and "json" in request.headers.get("content-type", "json")
            ):
                # Checked before any parser walks it: 5,000 levels would exhaust
                # the stack (a RecursionError, not a refusal).
                if nested_deeper_than(body, MAX_JSON_DEPTH):
                    raise ProblemError(
                        422,
                        f"the request body is nested deeper than {MAX_JSON_DEPTH}"
                        " levels",
                        errors=[{"loc": ["body"], "msg": "nested too deep"}],
                    )
                # A malformed body is left to FastAPI, which reports it.
                with contextlib.suppress(ValueError):
                    request._json = json.loads(body, parse_float=Decimal)  # noqa: SLF001
            return await handler(request)

        return parse_then_handle


def get_container(request: Request) -> Container:
    """The process's wired service."""
    container: Container = request.app.state.container
    return container


def get_ledger(request: Request) -> Ledger:
    """The write side."""
    return get_container(request).ledger


def get_views(request: Request) -> ReadModels:
    """The read side."""
    return get_container(request).read_models


ContainerDep = Annotated[Container, Depends(get_container)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
ViewsDep = Annotated[ReadModels, Depends(get_views)]
After = Annotated[
    int | None,
    Query(ge=0, description="Wait until the views have this log position (≤ 5 s)."),
]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


def wait_after(views: ReadModels, after: int | None) -> None:
    """Read-your-writes: wait for ``after`` or answer 503 with ``Retry-After``."""
    if after is not None and not views.wait_for(after, AFTER_TIMEOUT_SECONDS):
        raise ProblemError(
            503,
            f"the views have not reached position {after} yet; retry shortly",
            headers={"Retry-After": "1"},
        )


def set_position(response: Response, ledger: Ledger, position: int | None) -> None:
    """``Ledger-Position``: the command's last event (or the head, for a no-op)."""
    if position is None:
        position = ledger.recorder.max_notification_id() or 0
    response.headers["Ledger-Position"] = str(position)
