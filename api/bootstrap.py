"""The composition root: the one place that reads settings and wires the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from api.auth import Tokens, resolve_secret_key, resolve_webhook_secret
from api.database import eventsourcing_env
from api.documents import TemplateRenderer
from api.middleware import IdempotencyStore
from api.settings import Settings, SettingsError
from api.webhook_log import WebhookLog
from application.ledger import Ledger
from application.mail import FileSender, MailSender, SmtpSender
from application.processes import (
    ChargeRegistration,
    InvoiceMailer,
    Periodic,
    overdue_sweep,
)
from application.sandbox import SandboxGateway, WebhookDelivery
from projections.read_models import ReadModels
from projections.runner import EventReader, ProcessFollower, ProjectionRunner


class Worker(Protocol):
    """Something that runs in the background of a process."""

    def start(self) -> None:
        """Start it."""

    def stop(self) -> None:
        """Stop it."""


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
    gateway: SandboxGateway
    webhook_secret: str
    webhook_log: WebhookLog
    delivery: WebhookDelivery
    renderer: TemplateRenderer
    runner: ProjectionRunner | None = None
    workers: list[Worker] = field(default_factory=list)
    started: bool = False

    def start(self) -> None:
        """Create tables, then start the watcher and the background workers."""
        self.idempotency.create_table()
        self.webhook_log.create_table()
        self.gateway.create_tables()
        self.read_models.watcher.start()
        for worker in self.workers:
            worker.start()
        self.started = True

    def wake_delivery(self) -> None:
        """A webhook was queued: deliver it now rather than at the next poll."""
        self.delivery.wake()

    def close(self) -> None:
        """Stop background work and release connections."""
        if self.started:
            for worker in reversed(self.workers):
                worker.stop()
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
    return Ledger(env, clock=business_clock(settings))


def business_clock(settings: Settings) -> Callable[[], datetime]:
    """The ledger's clock: the real one, moved by ``LEDGER_CLOCK_OFFSET_DAYS``.

    Only business dates follow it; security times stay on the real clock.
    """
    offset = timedelta(days=settings.clock_offset_days)
    return lambda: datetime.now(UTC) + offset


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
    gateway = SandboxGateway(pool)
    webhook_secret = resolve_webhook_secret(settings)
    delivery = WebhookDelivery(
        pool,
        f"{settings.own_url.rstrip('/')}/v1/webhooks/{gateway.name}",
        webhook_secret,
        base_backoff_seconds=settings.outbox_backoff_seconds,
    )
    container = Container(
        settings=settings,
        database_url=url,
        ledger=ledger,
        pool=pool,
        read_models=read_models,
        tokens=Tokens(resolve_secret_key(settings)),
        idempotency=IdempotencyStore(pool),
        gateway=gateway,
        webhook_secret=webhook_secret,
        webhook_log=WebhookLog(pool),
        delivery=delivery,
        renderer=TemplateRenderer(),
    )
    in_process = (
        settings.run_projections if run_projections is None else run_projections
    )
    if in_process:
        container.runner = ProjectionRunner(
            reader_of(ledger), url, on_commit=read_models.watcher.update
        )
        container.workers += background_workers(container)
    return container


def background_workers(container: Container) -> list[Worker]:
    """The views' runner, the processes, the overdue sweep and webhook delivery."""
    ledger, url = container.ledger, container.database_url
    views = container.read_models
    workers: list[Worker] = []
    if container.runner is not None:
        workers.append(container.runner)
    workers.append(
        ProcessFollower(
            reader_of(ledger), url, ChargeRegistration(ledger, container.gateway)
        )
    )
    workers.append(
        Periodic(
            "overdue-sweep",
            container.settings.overdue_sweep_seconds,
            lambda: overdue_sweep(ledger, views.invoices.past_due),
        )
    )
    workers.append(
        ProcessFollower(
            reader_of(ledger),
            url,
            InvoiceMailer(
                ledger,
                container.renderer,
                mail_sender(container.settings),
                container.pool,
                container.settings.mail_from,
            ),
        )
    )
    workers.append(container.delivery)
    return workers


def mail_sender(settings: Settings) -> MailSender:
    """SMTP when ``LEDGER_SMTP_URL`` is set, else ``.eml`` files in the data dir."""
    if settings.smtp_url is not None:
        return SmtpSender(settings.smtp_url.get_secret_value())
    return FileSender(Path(settings.data_dir) / "mail")
