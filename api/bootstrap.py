"""The composition root: the one place that reads settings and wires the service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from api.auth import Tokens, resolve_secret_key
from api.database import eventsourcing_env
from api.middleware import IdempotencyStore
from api.settings import Settings, SettingsError
from application.ledger import Ledger
from projections.read_models import ReadModels
from projections.runner import EventReader, ProjectionRunner


@dataclass
class Container:
    """Everything a running service holds, built once per process."""

    settings: Settings
    database_url: str
    ledger: Ledger
    pool: ConnectionPool[Any]
    read_models: ReadModels
    tokens: Tokens
    idempotency: IdempotencyStore
    runner: ProjectionRunner | None = None
    started: bool = field(default=False)

    def start(self) -> None:
        """Start listening for view positions and, if configured, the runner."""
        self.read_models.watcher.start()
        if self.runner is not None:
            self.runner.start()
        self.started = True

    def close(self) -> None:
        """Stop background work and release connections."""
        if self.runner is not None:
            self.runner.stop()
        if self.started:
            self.read_models.watcher.stop()
        self.pool.close()
        self.ledger.close()


def reader_of(ledger: Ledger) -> EventReader:
    """A reader of the ledger's log for views and processes."""
    return EventReader(ledger.recorder, ledger.mapper)


def build_ledger(settings: Settings, database_url: str) -> Ledger:
    """The ``Ledger`` on ``database_url`` with the pool sizes of ``settings``."""
    env = eventsourcing_env(
        database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
    )
    return Ledger(env)


def build_container(
    settings: Settings, *, run_projections: bool | None = None
) -> Container:
    """Wire the service from ``settings`` (``DATABASE_URL`` must be resolved)."""
    if settings.database_url is None:
        msg = "DATABASE_URL is not set (the CLI starts the embedded database)"
        raise SettingsError(msg)
    url = settings.database_url
    ledger = build_ledger(settings, url)
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=settings.pool_size + settings.pool_max_overflow,
        open=True,
        name="views",
    )
    read_models = ReadModels.build(pool, url)
    in_process = (
        settings.run_projections if run_projections is None else run_projections
    )
    runner = None
    if in_process:
        runner = ProjectionRunner(
            reader_of(ledger), url, on_commit=read_models.watcher.update
        )
    return Container(
        settings=settings,
        database_url=url,
        ledger=ledger,
        pool=pool,
        read_models=read_models,
        tokens=Tokens(resolve_secret_key(settings)),
        idempotency=IdempotencyStore(pool),
        runner=runner,
    )
