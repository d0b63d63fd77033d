"""The router every screen module uses: HTML, out of the API schema, CSRF-checked."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from projections.read_models import ReadModels
from web.session import PageNotFoundError, check_csrf

SETTLE_SECONDS = 5.0


def web_router() -> APIRouter:
    """A router whose every POST must carry the session's CSRF token (403 else)."""
    return APIRouter(
        include_in_schema=False,
        default_response_class=HTMLResponse,
        dependencies=[Depends(check_csrf)],
    )


def see_other(path: str) -> RedirectResponse:
    """After a POST that worked: go to ``path`` with a GET (303)."""
    return RedirectResponse(path, status_code=303)


def settled(views: ReadModels, position: int | None) -> None:
    """Read-your-writes before a redirect: the next page shows what was saved.

    Waits (briefly) for the views to apply ``position``; past the wait the page
    shows what the views have, and the saved change appears on the next read.
    """
    if position is not None:
        views.wait_for(position, SETTLE_SECONDS)


def path_id(text: str) -> UUID:
    """An id from the path; anything else is the 404 page (not a JSON problem)."""
    try:
        return UUID(text)
    except ValueError:
        raise PageNotFoundError from None
