"""The FastAPI application: operations endpoints for now, the API next."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.bootstrap import Container, build_container
from api.database import is_reachable
from api.settings import Settings

PROBLEM_JSON = "application/problem+json"


class Health(BaseModel):
    """The answer of the health endpoints."""

    status: str


def get_container(request: Request) -> Container:
    """The process's wired service."""
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def unavailable(detail: str) -> JSONResponse:
    """A 503 problem."""
    return JSONResponse(
        status_code=503,
        media_type=PROBLEM_JSON,
        content={
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": detail,
        },
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the container is wired when it starts and closed when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings or Settings())
        container.start()
        app.state.container = container
        try:
            yield
        finally:
            container.close()

    app = FastAPI(
        title="revenda-ledger",
        version="0.1.0",
        summary="Event-sourced billing ledger for SaaS resellers in Brazil.",
        lifespan=lifespan,
    )

    @app.get("/healthz", tags=["operations"])
    def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=Health,
        responses={503: {"description": "The database is unreachable."}},
    )
    def readyz(container: ContainerDep) -> Health | JSONResponse:
        """The database answers and the in-process view runner is running."""
        if not is_reachable(container.database_url):
            return unavailable("the database is unreachable")
        runner = container.runner
        if runner is not None and not runner.state.alive:
            return unavailable("the projection runner is not running")
        return Health(status="ready")

    return app
