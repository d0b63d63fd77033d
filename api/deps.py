"""Dependencies shared by the routes, and the route class that reads JSON money.

``?after=`` (read-your-writes) is awaited by an async dependency before the route
runs: a position the views already have costs nothing; one beyond the head of the
log answers 409 at once (nothing will ever reach it); one that exists waits on a
thread of its own small pool (``AFTER_WAITERS``), never on the worker threads that
serve requests, so slow views cannot starve other tenants' requests.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any

import anyio
from fastapi import Depends, Query, Request, Response
from fastapi.routing import APIRoute

from api.bootstrap import Container
from api.problems import ProblemError
from application.ledger import Ledger
from projections.read_models import ReadModels

AFTER_TIMEOUT_SECONDS = 5.0
AFTER_WAITERS = 8
"""Threads that may wait for the views at once; more waiters queue without one."""


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


def container_of(request: Request) -> Container:
    """The process's wired service."""
    container: Container = request.app.state.container
    return container


# The dependencies are async because they only read what the app holds: FastAPI
# runs a sync dependency in a worker thread, two thread switches per request each.


async def get_container(request: Request) -> Container:
    """The process's wired service."""
    return container_of(request)


async def get_ledger(request: Request) -> Ledger:
    """The write side."""
    return container_of(request).ledger


async def get_views(request: Request) -> ReadModels:
    """The read side."""
    return container_of(request).read_models


ContainerDep = Annotated[Container, Depends(get_container)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
ViewsDep = Annotated[ReadModels, Depends(get_views)]
_waiters: list[anyio.CapacityLimiter] = []


def _waiting_threads() -> anyio.CapacityLimiter:
    # Created on first use: a limiter belongs to the running event loop.
    if not _waiters:
        _waiters.append(anyio.CapacityLimiter(AFTER_WAITERS))
    return _waiters[0]


async def await_after(
    request: Request,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            description="Wait until the views have this log position (≤ 5 s); "
            "beyond the end of the log: 409.",
        ),
    ] = None,
) -> int | None:
    """Read-your-writes: 409 beyond the head, else wait (503 after 5 s)."""
    if after is None:
        return None
    views = container_of(request).read_models
    if min(views.watcher.positions.values(), default=0) >= after:
        return after
    deadline = time.monotonic() + AFTER_TIMEOUT_SECONDS
    recorder = container_of(request).ledger.recorder
    threads = _waiting_threads()
    head = await anyio.to_thread.run_sync(recorder.max_notification_id, limiter=threads)
    if after > (head or 0):
        msg = f"position {after} is beyond the end of the log ({head or 0})"
        raise ProblemError(409, msg)
    reached = False
    with anyio.move_on_after(AFTER_TIMEOUT_SECONDS):
        reached = await anyio.to_thread.run_sync(
            views.wait_for,
            after,
            max(0.0, deadline - time.monotonic()),
            limiter=threads,
        )
    if not reached:
        raise _not_yet(after)
    return after


After = Annotated[int | None, Depends(await_after)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


def wait_after(views: ReadModels, after: int | None) -> None:
    """Read-your-writes: wait for ``after`` or answer 503 with ``Retry-After``."""
    if after is not None and not views.wait_for(after, AFTER_TIMEOUT_SECONDS):
        raise _not_yet(after)


def _not_yet(after: int) -> ProblemError:
    return ProblemError(
        503,
        f"the views have not reached position {after} yet; retry shortly",
        headers={"Retry-After": "1"},
    )


def set_position(response: Response, ledger: Ledger, position: int | None) -> None:
    """``Ledger-Position``: the command's last event (or the head, for a no-op)."""
    if position is None:
        position = ledger.recorder.max_notification_id() or 0
    response.headers["Ledger-Position"] = str(position)
