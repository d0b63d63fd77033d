"""ERP customer credits: money received beyond what was owed, newest first.

One row per credit, from the payment that left it (``Credit.Created``) until the
reseller gives it back (``Credit.Refunded``).
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from psycopg import sql

from domain.credits import Credit
from domain.vocabulary import CreditStatus
from projections.common import CLIENT_NAMES, KeepsClientNames
from projections.pages import Page, check_limit, decode_cursor, page_of
from projections.store import Rows, Table
from projections.view import View, add_filters, by_originator, customer_match, on

CREDITS = Table(
    "credits",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "customer_id": "uuid",
        "invoice_id": "uuid",
        "invoice_code": "bigint",
        "amount_cents": "bigint",
        "origin": "text",
        "status": "text",
        "created_at": "timestamptz",
        "refunded_at": "timestamptz",
        "seq": "bigint",
    },
    indexes=(("reseller_id", "seq DESC"), ("reseller_id", "customer_id")),
)
_SELECT = (
    "SELECT c.*, n.name AS customer_name FROM {0}.credits c "
    "JOIN {0}.client_names n ON n.id = c.customer_id "
)


class ErpCredits(KeepsClientNames, View):
    """Customer credits and whether they were given back."""

    name = "erp_credits"
    tables: ClassVar = (CREDITS, CLIENT_NAMES)

    @on(Credit.Created)
    def _created(self, rows: Rows, event: Credit.Created, position: int) -> None:
        rows.put(
            CREDITS,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "customer_id": event.customer_id,
                "invoice_id": event.invoice_id,
                "invoice_code": event.invoice_code,
                "amount_cents": event.amount_cents,
                "origin": event.origin,
                "status": CreditStatus.AVAILABLE,
                "created_at": event.timestamp,
                "seq": position,
            },
        )

    @on(Credit.Refunded, load=[(CREDITS, by_originator)])
    def _refunded(self, rows: Rows, event: Credit.Refunded, _position: int) -> None:
        rows.update(
            CREDITS,
            event.originator_id,
            status=CreditStatus.REFUNDED,
            refunded_at=event.refunded_at,
        )

    def query(
        self,
        reseller_id: UUID,
        *,
        customer: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Credits newest first; ``customer`` matches an id or a name substring."""
        conditions: list[sql.Composable] = [sql.SQL("c.reseller_id = %s")]
        params: list[Any] = [reseller_id]
        filters: list[tuple[str, object]] = [("c.status = %s", status)]
        if cursor is not None:
            filters.append(("c.seq < %s", int(decode_cursor(cursor, 1)[0])))
        add_filters(conditions, params, filters)
        if customer:
            match, value = customer_match(customer, "c")
            conditions.append(match)
            params.append(value)
        statement = sql.SQL(_SELECT + "WHERE {1} ORDER BY c.seq DESC LIMIT %s").format(
            sql.Identifier(self.schema), sql.SQL(" AND ").join(conditions)
        )
        params.append(check_limit(limit) + 1)
        return page_of(self.fetch_all(statement, params), limit, "seq")
