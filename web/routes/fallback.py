"""The 404 page for any other path under ``/painel`` and ``/erp`` (registered last).

Without it an unknown screen would answer the API's JSON problem; a menu entry whose
screen is not built yet shows the page in its area instead.
"""

from __future__ import annotations

from web.routing import web_router
from web.session import CurrentUser, PageNotFoundError

router = web_router()


@router.get("/erp")
@router.get("/erp/{_rest:path}")
@router.get("/painel/{_rest:path}")
def not_a_screen(_user: CurrentUser) -> None:
    """Logged in: the 404 page of the area; else the login first."""
    raise PageNotFoundError
