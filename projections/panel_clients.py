"""Panel clients: the reseller's client list (clientes da revenda)."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from psycopg import sql

from domain.clients import Client
from projections.pages import Page, Row
from projections.store import Rows, Table
from projections.view import View, by_originator, fold, on

CLIENTS = Table(
    "clients",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "name": "text",
        "document": "text",
        "document_type": "text",
        "email": "text",
        "phone": "text",
        "city": "text",
        "state": "text",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
        "seq": "bigint",
        "search": "text",
    },
    indexes=(("reseller_id", "seq DESC"),),
)


class PanelClients(View):
    """One row per client, with a folded search column."""

    name = "panel_clients"
    tables: ClassVar = (CLIENTS,)

    @on(Client.Registered)
    def _registered(self, rows: Rows, event: Client.Registered, position: int) -> None:
        rows.put(
            CLIENTS,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "name": event.name,
                "document": event.document,
                "document_type": event.document_type,
                "email": event.email,
                "phone": event.phone,
                "city": event.city,
                "state": event.state,
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
                "seq": position,
                "search": fold(event.name),
            },
        )

    @on(Client.Updated, load=[(CLIENTS, by_originator)])
    def _updated(self, rows: Rows, event: Client.Updated, _position: int) -> None:
        rows.update(
            CLIENTS,
            event.originator_id,
            name=event.name,
            email=event.email,
            phone=event.phone,
            city=event.city,
            state=event.state,
            updated_at=event.timestamp,
            search=fold(event.name),
        )

    def query(
        self,
        reseller_id: UUID,
        *,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Clients newest first; ``q`` matches name or document, loosely."""
        return self.newest_first(
            "clients", reseller_id, q=q, limit=limit, cursor=cursor
        )

    def get(self, reseller_id: UUID, client_id: UUID) -> Row | None:
        """One client of the tenant, or ``None``."""
        statement = sql.SQL(
            "SELECT * FROM {}.clients WHERE reseller_id = %s AND id = %s"
        ).format(sql.Identifier(self.schema))
        return self.fetch_one(statement, (reseller_id, client_id))
