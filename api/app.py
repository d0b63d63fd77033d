"""The FastAPI application: the routes of docs/api.md, problems, logs and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel

from api import problems
from api.auth import UserCache, bearer_of, is_admin_token
from api.bootstrap import Container, build_container
from api.database import is_reachable
from api.deps import ContainerDep
from api.middleware import AccessLog, BodyLimit, Idempotency, Scope, SecurityHeaders
from api.problems import ProblemError, documented, problem
from api.routes import accounts, audit, billing, erp, panel, partner
from api.settings import Settings
from application.passwords import PasswordsBusyError
from projections import set_aside
from web import install as install_web

LOOPBACK = frozenset({"127.0.0.1", "::1"})


class Health(BaseModel):
    """The answer of the health endpoints."""

    status: str


class Readiness(BaseModel):
    """The answer of ``/readyz``: ready, and how many events are set aside."""

    status: str
    set_aside: int
    """Events a view or process could not apply (``ledger projections status``)."""


def set_aside_counts(container: Container) -> dict[str, int]:
    """How many events each view or process has set aside."""
    with container.pool.connection() as conn:
        return set_aside.counts(conn)


class LedgerCollector(Collector):
    """Events recorded and each view's lag, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.container: Container | None = None

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """The gauges, from the container of this process."""
        container = self.container
        if container is None:
            return
        head = container.ledger.recorder.max_notification_id() or 0
        yield GaugeMetricFamily(
            "ledger_events_recorded", "Position of the last event in the log", head
        )
        lag = GaugeMetricFamily(
            "ledger_view_lag_events", "Events the view has not applied", labels=["view"]
        )
        for name, position in container.read_models.watcher.positions.items():
            lag.add_metric([name], max(0, head - position))
        yield lag
        aside = GaugeMetricFamily(
            "ledger_set_aside_events",
            "Events a view or process set aside (see ledger projections status)",
            labels=["follower"],
        )
        for name, count in set_aside_counts(container).items():
            aside.add_metric([name], count)
        yield aside


DOCS_ASSETS_URL = "/static/docs"
COLLECTOR = LedgerCollector()
REGISTRY.register(COLLECTOR)


def _caller_scope(app: FastAPI) -> Any:  # noqa: ANN401 - a callable for the middleware
    """The key space of an authenticated request: its tenant, or the admin.

    ``None`` (not authenticated) leaves the key alone: the route answers 401.
    """

    def scope_of(scope: Scope) -> str | None:
        container: Container | None = getattr(app.state, "container", None)
        authorization = dict(scope.get("headers", [])).get(b"authorization", b"")
        token = bearer_of(authorization.decode("latin-1"))
        if container is None or token is None:
            return None
        if scope["path"] == "/v1/resellers":
            return "admin" if is_admin_token(container.settings, token) else None
        try:
            return f"tenant:{container.tokens.check(token).reseller_id}"
        except ProblemError:
            return None

    return scope_of


def check_metrics_access(request: Request, settings: Settings) -> None:
    """``/metrics``: from loopback, or with the admin token; else 403."""
    host = request.client.host if request.client is not None else None
    if host in LOOPBACK:
        return
    if is_admin_token(settings, bearer_of(request.headers.get("authorization"))):
        return
    raise ProblemError(403, "metrics are served to loopback or the admin token only")


def _busy(_request: Request, _error: Exception) -> Response:
    return problem(
        503, "too many logins at once; try again shortly", headers={"Retry-After": "1"}
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the container is wired when it starts and closed when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings or Settings())
        container.start()
        app.state.container = container
        app.state.users = UserCache(container.ledger.get_user)
        COLLECTOR.container = container
        try:
            yield
        finally:
            container.close()

    # /docs and /redoc load Swagger UI, ReDoc and the favicon from this service
    # (fastapi-offline ships them), so they render with no network beyond it.
    app = FastAPIOffline(
        title="revenda-ledger",
        version="0.1.0",
        summary="Event-sourced billing ledger for SaaS resellers in Brazil.",
        lifespan=lifespan,
        static_url=DOCS_ASSETS_URL,
        # Swagger UI would otherwise fetch a badge from its online validator.
        swagger_ui_parameters={"validatorUrl": None},
    )
    problems.install(app)
    app.add_exception_handler(PasswordsBusyError, _busy)
    for router in (
        accounts.router,
        panel.router,
        billing.router,
        erp.router,
        audit.router,
        partner.router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", tags=["operations"], responses=documented(503))
    def readyz(container: ContainerDep) -> Readiness:
        """The database answers and the in-process view runner is running.

        Events set aside do not make the service unready (every other event goes
        on); their count is reported for operators.
        """
        if not is_reachable(container.database_url):
            raise ProblemError(503, "the database is unreachable")
        runner = container.runner
        if runner is not None and not runner.state.alive:
            raise ProblemError(503, "the projection runner is not running")
        return Readiness(
            status="ready", set_aside=sum(set_aside_counts(container).values())
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {}}},
            **documented(403),
        },
    )
    def metrics(request: Request, container: ContainerDep) -> Response:
        """Prometheus metrics (loopback or the admin token): requests, lag, events."""
        check_metrics_access(request, container.settings)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    install_web(app)

    app.add_middleware(
        Idempotency,
        store=lambda: app.state.container.idempotency,
        caller_scope=_caller_scope(app),
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    app.add_middleware(BodyLimit)
    return app
