"""``ledger webhooks list|replay``: the partners' deliveries, and replaying one.

Every authenticated delivery is kept raw in the webhook log with what it did
(applied, ignored, duplicate, refused...). ``list`` shows the latest with their
ids; ``replay ID`` runs one again through the same receiver as the HTTP route, as
Lago and Asaas let an operator resend an event. The ledger processes each partner
event at most once, so replaying one already applied changes nothing and says so.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from adapters.webhook_log import PostgresWebhookLog
from api.bootstrap import build_container
from api.settings import Settings
from application.gateway import WebhookMalformedError
from application.ledger import NotificationResult
from application.webhooks import (
    NoInvoiceForEventError,
    UnknownProviderError,
    WebhookReceiver,
)
from domain.errors import DomainError

console = Console()
MAX_LIST = 1000


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``webhooks`` command and its two actions."""
    parser = commands.add_parser("webhooks", help="list or replay partner webhooks")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the latest deliveries, newest first")
    listing.add_argument("--provider", default=None)
    listing.add_argument("--limit", type=int, default=50)
    replay = actions.add_parser("replay", help="apply one kept delivery again")
    replay.add_argument("id", type=int, metavar="ID")


def run(settings: Settings, url: str, args: argparse.Namespace) -> int:
    """Run ``ledger webhooks`` on the database at ``url``."""
    container = build_container(
        settings.model_copy(update={"database_url": url}), run_projections=False
    )
    try:
        log = PostgresWebhookLog(container.pool)
        log.create_tables()
        if args.action == "list":
            return _list(log, args.provider, args.limit)
        return _replay(container.webhooks, log, args.id)
    finally:
        container.close()


def _list(log: PostgresWebhookLog, provider: str | None, limit: int) -> int:
    if not 1 <= limit <= MAX_LIST:
        console.print(f"[red]--limit must be 1..{MAX_LIST}[/red]")
        return 2
    table = Table("id", "provider", "received at", "event", "type", "outcome")
    for entry in log.recent(limit, provider):
        outcome = entry.result + (f" ({entry.error})" if entry.error else "")
        table.add_row(
            str(entry.id),
            entry.provider,
            entry.received_at.isoformat(timespec="seconds"),
            entry.event_id or "",
            entry.type or "",
            outcome,
        )
    console.print(table)
    return 0


def _replay(receiver: WebhookReceiver, log: PostgresWebhookLog, entry_id: int) -> int:
    entry = log.entry(entry_id)
    if entry is None:
        console.print(f"[red]no webhook delivery {entry_id}[/red]")
        return 1
    try:
        receipt = receiver.replay(entry.provider, entry.body, of=entry.id)
    except (
        UnknownProviderError,
        WebhookMalformedError,
        NoInvoiceForEventError,
        DomainError,
    ) as error:
        console.print(f"[red]delivery {entry_id} not replayed: {error}[/red]")
        return 1
    if receipt.result is NotificationResult.DUPLICATE:
        console.print(
            f"delivery {entry_id}: already processed, nothing changed (duplicate)"
        )
    else:
        console.print(f"delivery {entry_id} replayed: {receipt.result.value}")
    return 0
