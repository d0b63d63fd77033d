"""Pieces several views share: the client names they display, and date helpers."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.clients import Client
from projections.store import Rows, Table
from projections.view import by_originator, fold, on

SAO_PAULO = ZoneInfo("America/Sao_Paulo")

CLIENT_NAMES = Table(
    "client_names",
    {"id": "uuid", "reseller_id": "uuid", "name": "text", "search": "text"},
)
"""The name of every client, kept by each view that shows client names."""


def sao_paulo_date(moment: datetime) -> date:
    """The calendar date of ``moment`` in São Paulo."""
    return moment.astimezone(SAO_PAULO).date()


class KeepsClientNames:
    """Mixin for views that display client names: keeps ``CLIENT_NAMES``."""

    @on(Client.Registered)
    def _client_registered(
        self, rows: Rows, event: Client.Registered, _position: int
    ) -> None:
        rows.put(
            CLIENT_NAMES,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "name": event.name,
                "search": fold(event.name),
            },
        )

    @on(Client.Updated, load=[(CLIENT_NAMES, by_originator)])
    def _client_updated(
        self, rows: Rows, event: Client.Updated, _position: int
    ) -> None:
        rows.update(
            CLIENT_NAMES, event.originator_id, name=event.name, search=fold(event.name)
        )
