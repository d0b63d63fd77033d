"""The composition root: the one place that reads settings and wires the service."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from psycopg_pool import ConnectionPool

from adapters.asaas import AsaasGateway
from adapters.documents import TemplateRenderer
from adapters.idempotency import IdempotencyStore
from adapters.mail import FileSender, SmtpSender
from adapters.outbound import Dispatcher, DispatchSettings, OutboundStore
from adapters.sandbox import SandboxGateway, WebhookDelivery
from adapters.throttle import LoginThrottle
from adapters.webhook_log import PostgresWebhookLog
from api.auth import Tokens, resolve_secret_key, resolve_webhook_secret
from api.database import eventsourcing_env
from api.presenters import PublicResources
from api.settings import Settings, SettingsError
from application.documents import DocumentRenderer
from application.dunning import Reinstatement, automatic_billing, dunning
from application.gateway import PaymentGateway
from application.ledger import Ledger
from application.mail import MailSender
from application.outbound import OutboundEvents
from application.processes import (
    ChargeRegistration,
    DailyJob,
    InvoiceMailer,
    Periodic,
    notice_sweep,
    overdue_sweep,
    run_daily,
)
from application.webhooks import WebhookReceiver
from projections.followers import (
    ProcessFollower,
    ProjectionRunner,
    Reactor,
    ViewsFirst,
)
from projections.outbox import OutboxFollower
from projections.read_models import ReadModels
from projections.reader import EventReader, RecentEvents


class Worker(Protocol):
    """Something that runs in the background of a process."""

    def start(self) -> None:
        """Start it."""

    def stop(self) -> None:
        """Stop it."""


class Store(Protocol):
    """Something that keeps its own tables in the service's database."""

    def create_tables(self) -> None:
        """Create its tables if missing."""


@dataclass
class Partner:
    """The payment partner chosen by ``LEDGER_GATEWAY``: its adapter and its needs."""

    gateway: PaymentGateway
    stores: list[Store] = field(default_factory=list)
    delivery: WebhookDelivery | None = None
    """The worker that sends the sandbox's webhooks; a real partner sends its own."""


def sandbox_partner(
    settings: Settings, pool: ConnectionPool[Any], ledger: Ledger, secret: str
) -> Partner:
    """The sandbox, delivering its signed webhooks to this service's own URL."""
    gateway = SandboxGateway(pool, secret, clock=ledger.clock)
    delivery = WebhookDelivery(
        pool,
        f"{settings.own_url.rstrip('/')}/v1/webhooks/{gateway.name}",
        secret,
        base_backoff_seconds=settings.outbox_backoff_seconds,
    )
    return Partner(gateway, stores=[gateway], delivery=delivery)


def asaas_partner(
    settings: Settings,
    _pool: ConnectionPool[Any],
    ledger: Ledger,
    _secret: str,
) -> Partner:
    """Asaas (API v3): it keeps the charges and sends its own webhooks."""
    api_key, token = settings.asaas_api_key, settings.asaas_webhook_token
    if api_key is None or token is None:  # the settings refuse this already
        msg = "LEDGER_ASAAS_API_KEY and LEDGER_ASAAS_WEBHOOK_TOKEN must be set"
        raise SettingsError(msg)
    gateway = AsaasGateway(
        api_key=api_key.get_secret_value(),
        webhook_token=token.get_secret_value(),
        base_url=settings.asaas_base_url,
        clock=ledger.clock,
    )
    return Partner(gateway)


PartnerFactory = Callable[[Settings, ConnectionPool[Any], Ledger, str], Partner]
PARTNERS: dict[str, PartnerFactory] = {
    "sandbox": sandbox_partner,
    "asaas": asaas_partner,
}
"""Each value of ``LEDGER_GATEWAY`` and how to build its partner."""


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
    login_throttle: LoginThrottle
    gateway: PaymentGateway
    webhooks: WebhookReceiver
    renderer: DocumentRenderer
    stores: list[Store]
    outbound: OutboundStore
    delivery: WebhookDelivery | None = None
    runner: ProjectionRunner | None = None
    workers: list[Worker] = field(default_factory=list)
    started: bool = False

    def start(self) -> None:
        """Create tables, then start the watcher and the background workers."""
        for store in self.stores:
            store.create_tables()
        self.read_models.watcher.start()
        for worker in self.workers:
            worker.start()
        self.started = True

    def wake_delivery(self) -> None:
        """A webhook was queued: deliver it now rather than at the next poll."""
        if self.delivery is not None:
            self.delivery.wake()

    def close(self) -> None:
        """Stop background work and release connections."""
        if self.started:
            for worker in reversed(self.workers):
                worker.stop()
            self.read_models.watcher.stop()
        self.pool.close()
        self.ledger.close()


@dataclass(frozen=True)
class ViewBillingQueries:
    """The daily jobs' questions (``application.dunning.BillingQueries``).

    Answered by the views: candidates only, checked against the log by the jobs.
    """

    views: ReadModels

    def auto_billing_resellers(self, day: int) -> list[UUID]:
        """Resellers whose ``auto_billing_day`` is ``day``."""
        return self.views.billing.auto_billing_resellers(day)

    def dunning_resellers(self) -> list[UUID]:
        """Resellers with ``suspend_after_days_overdue`` set."""
        return self.views.billing.dunning_resellers()

    def billable_contracts(self, reseller_id: UUID) -> list[UUID]:
        """The reseller's active contracts with a plan."""
        return self.views.contracts.billable(reseller_id)

    def late_clients(self, reseller_id: UUID, due_on_or_before: date) -> list[UUID]:
        """Clients with an unpaid invoice due on or before the date."""
        return self.views.invoices.late_clients(reseller_id, due_on_or_before)

    def unpaid_invoices(
        self, reseller_id: UUID, client_id: UUID, due_before: date
    ) -> list[UUID]:
        """The client's unpaid invoices due before the date."""
        return self.views.invoices.unpaid_invoices(reseller_id, client_id, due_before)

    def contracts_suspended_for_overdue(self) -> list[tuple[UUID, UUID]]:
        """(reseller, contract) of every contract suspended for overdue debts."""
        return self.views.contracts.suspended_for_overdue()


def daily_jobs(container: Container) -> list[DailyJob]:
    """The day's work, in order, for the service's sweep and ``ledger tick``.

    Billing first (today's invoices exist before anything judges debts), then the
    overdue sweep, the notices it makes due (reminders, overdue notices of invoices
    paid in part), then dunning. Other daily work joins by appending a ``DailyJob``.
    """
    ledger, views = container.ledger, container.read_models
    queries = ViewBillingQueries(views)
    return [
        DailyJob(
            "automatic_billing", lambda day: automatic_billing(ledger, queries, day)
        ),
        DailyJob(
            "overdue_sweep",
            lambda day: overdue_sweep(ledger, views.invoices.past_due, day),
        ),
        DailyJob(
            "notice_sweep",
            lambda day: notice_sweep(ledger, views.invoices.notice_candidates, day),
        ),
        DailyJob("dunning", lambda day: dunning(ledger, queries, day)),
    ]


_recent_events: weakref.WeakKeyDictionary[Ledger, RecentEvents] = (
    weakref.WeakKeyDictionary()
)


def reader_of(ledger: Ledger) -> EventReader:
    """A reader of the ledger's log for views and processes.

    The readers of one ledger share the events lately decoded (``RecentEvents``).
    """
    recent = _recent_events.get(ledger)
    if recent is None:
        recent = _recent_events[ledger] = RecentEvents()
    return EventReader(ledger.recorder, ledger.mapper, recent)


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
    partner = PARTNERS[settings.gateway](
        settings, pool, ledger, resolve_webhook_secret(settings)
    )
    idempotency = IdempotencyStore(pool)
    login_throttle = LoginThrottle(pool)
    webhook_log = PostgresWebhookLog(pool)
    outbound = OutboundStore(pool)
    container = Container(
        settings=settings,
        database_url=url,
        ledger=ledger,
        pool=pool,
        read_models=read_models,
        tokens=Tokens(resolve_secret_key(settings)),
        idempotency=idempotency,
        login_throttle=login_throttle,
        gateway=partner.gateway,
        webhooks=WebhookReceiver(
            ledger, {partner.gateway.name: partner.gateway}, webhook_log
        ),
        renderer=TemplateRenderer(),
        stores=[idempotency, login_throttle, webhook_log, outbound, *partner.stores],
        outbound=outbound,
        delivery=partner.delivery,
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
    """The views' runner, the processes, the daily sweep and webhook delivery."""
    ledger, url = container.ledger, container.database_url
    workers: list[Worker] = []
    gate: ViewsFirst | None = None
    if container.runner is not None:
        workers.append(container.runner)
        gate = container.runner.views_first = ViewsFirst()
    # ``ledger serve`` may have its own ``ledger mail`` child mail the notices
    # (rendering a PDF each is CPU the API's requests would wait behind).
    mailer = not container.settings.mailer_elsewhere
    followers = [
        ProcessFollower(reader_of(ledger), url, reactor)
        for reactor in processes(container, mailer=mailer)
    ]
    for follower in followers:
        follower.views_first = gate
    workers += followers
    jobs = daily_jobs(container)
    workers.append(
        Periodic(
            "daily-sweep",
            container.settings.overdue_sweep_seconds,
            lambda: run_daily(jobs, ledger.today()),
        )
    )
    if container.delivery is not None:
        workers.append(container.delivery)
    outbound = outbound_workers(container)
    for worker in outbound:
        if isinstance(worker, OutboxFollower):
            worker.views_first = gate
    workers += outbound
    return workers


def outbound_events(container: Container) -> OutboundEvents:
    """The process that queues API clients' webhooks (its follower feeds it)."""
    ledger = container.ledger
    return OutboundEvents(ledger, container.outbound, PublicResources(ledger))


def outbound_workers(container: Container) -> list[Worker]:
    """API clients' webhooks: the follower that queues them, the dispatcher."""
    settings = container.settings
    dispatcher = Dispatcher(
        container.pool,
        DispatchSettings(
            timeout_seconds=settings.outbound_timeout_seconds,
            base_backoff_seconds=settings.outbound_backoff_seconds,
            give_up_seconds=settings.outbound_retry_hours * 3600,
            concurrency=settings.outbound_concurrency,
        ),
    )
    follower = OutboxFollower(
        reader_of(container.ledger),
        container.database_url,
        outbound_events(container),
        on_queued=dispatcher.wake,
    )
    return [dispatcher, follower]


def processes(container: Container, *, mailer: bool = True) -> list[Reactor]:
    """The processes: charge registration, reinstatement, the invoice mailer."""
    found: list[Reactor] = [
        ChargeRegistration(container.ledger, container.gateway),
        Reinstatement(container.ledger, ViewBillingQueries(container.read_models)),
    ]
    if mailer:
        found.append(
            invoice_mailer(container.ledger, container.renderer, container.settings)
        )
    return found


def invoice_mailer(
    ledger: Ledger, renderer: DocumentRenderer, settings: Settings
) -> InvoiceMailer:
    """The process that renders and mails each notice of an invoice."""
    return InvoiceMailer(ledger, renderer, mail_sender(settings), settings.mail_from)


def mail_follower(ledger: Ledger, settings: Settings, url: str) -> ProcessFollower:
    """The mailer fed by its own follower (``ledger mail``)."""
    mailer = invoice_mailer(ledger, TemplateRenderer(), settings)
    return ProcessFollower(reader_of(ledger), url, mailer)


def mail_sender(settings: Settings) -> MailSender:
    """SMTP when ``LEDGER_SMTP_URL`` is set, else ``.eml`` files in the data dir."""
    if settings.smtp_url is not None:
        return SmtpSender(settings.smtp_url.get_secret_value())
    return FileSender(Path(settings.data_dir) / "mail")
