"""ERP customers: one per reseller client plus ``Consumidor``, with the open amount.

The open amount of a customer is the sum of its receivables still open. The view
keeps, per invoice, how much of it is open, so that a payment or a cancellation
closes exactly what it opened, whatever order the events of different invoices
arrive in.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from domain.clients import Client
from domain.invoices import Invoice
from domain.resellers import CONSUMER_CUSTOMER_NAME, Reseller
from projections.pages import Page
from projections.store import Rows, Table
from projections.view import View, by_originator, fold, on

CUSTOMERS = Table(
    "customers",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "name": "text",
        "document": "text",
        "email": "text",
        "origin": "text",
        "open_amount_cents": "bigint",
        "created_at": "timestamptz",
        "seq": "bigint",
        "search": "text",
    },
    indexes=(("reseller_id", "seq DESC"),),
)
OPEN_ITEMS = Table(
    "open_items",
    {"id": "uuid", "customer_id": "uuid", "open_cents": "bigint"},
)


class ErpCustomers(View):
    """Customers and their open amounts."""

    name = "erp_customers"
    tables: ClassVar = (CUSTOMERS, OPEN_ITEMS)

    @on(Reseller.Registered)
    def _reseller(self, rows: Rows, event: Reseller.Registered, position: int) -> None:
        rows.put(
            CUSTOMERS,
            {
                "id": event.consumer_customer_id,
                "reseller_id": event.reseller_id,
                "name": CONSUMER_CUSTOMER_NAME,
                "document": None,
                "email": None,
                "origin": "system",
                "open_amount_cents": 0,
                "created_at": event.timestamp,
                "seq": position,
                "search": fold(CONSUMER_CUSTOMER_NAME),
            },
        )

    @on(Client.Registered)
    def _client(self, rows: Rows, event: Client.Registered, position: int) -> None:
        rows.put(
            CUSTOMERS,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "name": event.name,
                "document": event.document,
                "email": event.email,
                "origin": "reseller",
                "open_amount_cents": 0,
                "created_at": event.timestamp,
                "seq": position,
                "search": fold(event.name),
            },
        )

    @on(Client.Updated, load=[(CUSTOMERS, by_originator)])
    def _client_updated(
        self, rows: Rows, event: Client.Updated, _position: int
    ) -> None:
        rows.update(
            CUSTOMERS,
            event.originator_id,
            name=event.name,
            email=event.email,
            search=fold(event.name),
        )

    @on(Invoice.Issued, load=[(CUSTOMERS, lambda e: e.client_id)])
    def _issued(self, rows: Rows, event: Invoice.Issued, _position: int) -> None:
        rows.put(
            OPEN_ITEMS,
            {
                "id": event.originator_id,
                "customer_id": event.client_id,
                "open_cents": event.amount_cents,
            },
        )
        customer = rows.get(CUSTOMERS, event.client_id)
        if customer is not None:
            rows.update(
                CUSTOMERS,
                event.client_id,
                open_amount_cents=customer["open_amount_cents"] + event.amount_cents,
            )

    @on(Invoice.Paid, Invoice.Cancelled, load=[(OPEN_ITEMS, by_originator)])
    def _closed(self, rows: Rows, event: Invoice.Event, _position: int) -> None:
        item = rows.get(OPEN_ITEMS, event.originator_id)
        if item is None or item["open_cents"] == 0:
            return  # a late payment of a cancelled invoice: nothing was open
        customer = rows.get(CUSTOMERS, item["customer_id"])
        if customer is not None:
            rows.update(
                CUSTOMERS,
                item["customer_id"],
                open_amount_cents=customer["open_amount_cents"] - item["open_cents"],
            )
        rows.update(OPEN_ITEMS, event.originator_id, open_cents=0)

    def query(
        self,
        reseller_id: UUID,
        *,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Customers newest first; ``q`` matches name or document."""
        return self.newest_first(
            "customers", reseller_id, q=q, limit=limit, cursor=cursor
        )
