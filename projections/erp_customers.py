"""ERP customers: one per client plus ``Consumidor``, with open and credit amounts.

The open amount of a customer is the sum of the balances of its receivables still
open (a failed invoice is not open). The view keeps, per invoice, its amount, the
principal paid and whether it is open, so that a payment, a cancellation or a
failure takes off exactly what is open, whatever order the events of different
invoices arrive in. The credit amount is the sum of the customer's available
credits; the view keeps each credit's amount to take it off when refunded.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from domain.clients import Client
from domain.credits import Credit
from domain.invoices import Invoice
from domain.resellers import CONSUMER_CUSTOMER_NAME, Reseller
from projections.pages import Page
from projections.store import Row, Rows, Table
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
        "credit_amount_cents": "bigint",
        "created_at": "timestamptz",
        "seq": "bigint",
        "search": "text",
    },
    indexes=(("reseller_id", "seq DESC"),),
)
OPEN_ITEMS = Table(
    "open_items",
    {
        "id": "uuid",
        "customer_id": "uuid",
        "amount_cents": "bigint",
        "principal_cents": "bigint",
        "open": "boolean",
    },
)
CREDITS = Table(
    "credits",
    {"id": "uuid", "customer_id": "uuid", "amount_cents": "bigint"},
)
"""Each credit's customer and amount, to take off when it is refunded."""
_ITEM = [(OPEN_ITEMS, by_originator)]


def _open_cents(item: Row) -> int:
    """What is open of an invoice: its balance while it is open."""
    return item["amount_cents"] - item["principal_cents"] if item["open"] else 0


class ErpCustomers(View):
    """Customers and their open amounts."""

    name = "erp_customers"
    tables: ClassVar = (CUSTOMERS, OPEN_ITEMS, CREDITS)

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
                "credit_amount_cents": 0,
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
                "credit_amount_cents": 0,
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

    def _add(self, rows: Rows, customer_id: UUID, column: str, cents: int) -> None:
        customer = rows.get(CUSTOMERS, customer_id)
        if customer is not None and cents:
            rows.update(CUSTOMERS, customer_id, **{column: customer[column] + cents})

    def _change_item(self, rows: Rows, invoice_id: UUID, **changes: object) -> None:
        """Change an invoice's item; its customer's open amount follows."""
        item = rows.get(OPEN_ITEMS, invoice_id)
        if item is None:
            return
        before = _open_cents(item)
        item = rows.update(OPEN_ITEMS, invoice_id, **changes) or item
        delta = _open_cents(item) - before
        self._add(rows, item["customer_id"], "open_amount_cents", delta)

    @on(Invoice.Issued, load=[(CUSTOMERS, lambda e: e.client_id)])
    def _issued(self, rows: Rows, event: Invoice.Issued, _position: int) -> None:
        rows.put(
            OPEN_ITEMS,
            {
                "id": event.originator_id,
                "customer_id": event.client_id,
                "amount_cents": event.amount_cents,
                "principal_cents": 0,
                "open": True,
            },
        )
        self._add(rows, event.client_id, "open_amount_cents", event.amount_cents)

    @on(Invoice.Paid, Invoice.Cancelled, Invoice.RegistrationFailed, load=_ITEM)
    def _closed(self, rows: Rows, event: Invoice.Event, _position: int) -> None:
        self._change_item(rows, event.originator_id, open=False)

    @on(Invoice.RegistrationRetried, load=_ITEM)
    def _retried(
        self, rows: Rows, event: Invoice.RegistrationRetried, _position: int
    ) -> None:
        self._change_item(rows, event.originator_id, open=True)

    @on(Invoice.PaymentReceived, load=_ITEM)
    def _payment(
        self, rows: Rows, event: Invoice.PaymentReceived, _position: int
    ) -> None:
        item = rows.get(OPEN_ITEMS, event.originator_id)
        if item is not None:
            principal = item["principal_cents"] + event.principal_cents
            self._change_item(rows, event.originator_id, principal_cents=principal)

    @on(Invoice.PaymentUndone, load=_ITEM)
    def _payment_undone(
        self, rows: Rows, event: Invoice.PaymentUndone, _position: int
    ) -> None:
        item = rows.get(OPEN_ITEMS, event.originator_id)
        if item is not None:
            principal = item["principal_cents"] - event.principal_cents
            self._change_item(rows, event.originator_id, principal_cents=principal)

    @on(Credit.Created, load=[(CUSTOMERS, lambda e: e.customer_id)])
    def _credit(self, rows: Rows, event: Credit.Created, _position: int) -> None:
        rows.put(
            CREDITS,
            {
                "id": event.originator_id,
                "customer_id": event.customer_id,
                "amount_cents": event.amount_cents,
            },
        )
        self._add(rows, event.customer_id, "credit_amount_cents", event.amount_cents)

    @on(Credit.Refunded, load=[(CREDITS, by_originator)])
    def _credit_refunded(
        self, rows: Rows, event: Credit.Refunded, _position: int
    ) -> None:
        credit = rows.get(CREDITS, event.originator_id)
        if credit is not None:
            self._add(
                rows,
                credit["customer_id"],
                "credit_amount_cents",
                -credit["amount_cents"],
            )

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
