"""ERP bank control (controle bancário): bank accounts and the boletos in them.

A boleto exists once the partner has registered the invoice; until then the view
keeps the invoice's facts in a row without status, which queries do not show. A
boleto is paid once its invoice's whole amount is; a partial payment leaves it as
it was.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from psycopg import sql

from domain.base import derived_id
from domain.invoices import Invoice
from domain.resellers import MAIN_BANK_ACCOUNT_NAME, Reseller, main_bank_account_id
from domain.vocabulary import BoletoStatus
from projections.common import CLIENT_NAMES, KeepsClientNames, sao_paulo_date
from projections.pages import Page, Row, check_limit, decode_cursor, page_of
from projections.store import Rows, Table
from projections.view import View, add_filters, by_originator, customer_match, on

ACCOUNTS = Table(
    "accounts",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "name": "text",
        "kind": "text",
        "seq": "bigint",
    },
    indexes=(("reseller_id",),),
)
BOLETOS = Table(
    "boletos",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "invoice_id": "uuid",
        "invoice_code": "bigint",
        "account_id": "uuid",
        "customer_id": "uuid",
        "our_number": "text",
        "digitable_line": "text",
        "barcode": "text",
        "amount_cents": "bigint",
        "principal_paid_cents": "bigint",
        "due_date": "date",
        "status": "text",
        "paid_at": "timestamptz",
    },
    key="invoice_id",
    indexes=(
        ("reseller_id", "invoice_code DESC"),
        ("reseller_id", "status"),
        ("reseller_id", "id"),
    ),
)


def boleto_id(invoice_id: UUID) -> UUID:
    """The id of the boleto of an invoice."""
    return derived_id("erp-boleto", invoice_id)


_LOAD = [(BOLETOS, by_originator)]
_SELECT = (
    "SELECT b.*, n.name AS customer_name FROM {0}.boletos b "
    "JOIN {0}.client_names n ON n.id = b.customer_id "
)


class ErpBoletos(KeepsClientNames, View):
    """Bank accounts and one boleto per registered invoice."""

    name = "erp_boletos"
    tables: ClassVar = (ACCOUNTS, BOLETOS, CLIENT_NAMES)

    @on(Reseller.Registered)
    def _reseller(self, rows: Rows, event: Reseller.Registered, position: int) -> None:
        rows.put(
            ACCOUNTS,
            {
                "id": main_bank_account_id(event.reseller_id),
                "reseller_id": event.reseller_id,
                "name": MAIN_BANK_ACCOUNT_NAME,
                "kind": "online",
                "seq": position,
            },
        )

    @on(Invoice.Issued)
    def _issued(self, rows: Rows, event: Invoice.Issued, _position: int) -> None:
        rows.put(
            BOLETOS,
            {
                "id": boleto_id(event.originator_id),
                "reseller_id": event.reseller_id,
                "invoice_id": event.originator_id,
                "invoice_code": event.code,
                "account_id": main_bank_account_id(event.reseller_id),
                "customer_id": event.client_id,
                "amount_cents": event.amount_cents,
                "principal_paid_cents": 0,
                "due_date": event.due_date,
                "status": None,
            },
        )

    @on(Invoice.Registered, load=_LOAD)
    def _registered(
        self, rows: Rows, event: Invoice.Registered, _position: int
    ) -> None:
        rows.update(
            BOLETOS,
            event.originator_id,
            status=BoletoStatus.REGISTERED,
            our_number=event.our_number,
            digitable_line=event.digitable_line,
            barcode=event.barcode,
        )

    def _set_status(self, rows: Rows, invoice_id: UUID, **changes: object) -> None:
        boleto = rows.get(BOLETOS, invoice_id)
        if boleto is not None and boleto["status"] is not None:
            rows.update(BOLETOS, invoice_id, **changes)

    @on(Invoice.BecameOverdue, load=_LOAD)
    def _overdue(
        self, rows: Rows, event: Invoice.BecameOverdue, _position: int
    ) -> None:
        self._set_status(rows, event.originator_id, status=BoletoStatus.OVERDUE)

    @on(Invoice.Paid, load=_LOAD)
    def _paid(self, rows: Rows, event: Invoice.Paid, _position: int) -> None:
        self._set_status(
            rows, event.originator_id, status=BoletoStatus.PAID, paid_at=event.paid_at
        )

    @on(Invoice.PaymentReceived, load=_LOAD)
    def _payment(
        self, rows: Rows, event: Invoice.PaymentReceived, _position: int
    ) -> None:
        boleto = rows.get(BOLETOS, event.originator_id)
        if boleto is None or not event.principal_cents:
            return
        principal = boleto["principal_paid_cents"] + event.principal_cents
        rows.update(BOLETOS, event.originator_id, principal_paid_cents=principal)
        if principal == boleto["amount_cents"]:
            self._set_status(
                rows,
                event.originator_id,
                status=BoletoStatus.PAID,
                paid_at=event.paid_at,
            )

    @on(Invoice.PaymentUndone, load=_LOAD)
    def _payment_undone(
        self, rows: Rows, event: Invoice.PaymentUndone, _position: int
    ) -> None:
        boleto = rows.get(BOLETOS, event.originator_id)
        if boleto is None or not event.principal_cents:
            return
        principal = boleto["principal_paid_cents"] - event.principal_cents
        rows.update(BOLETOS, event.originator_id, principal_paid_cents=principal)
        if boleto["status"] == BoletoStatus.PAID:
            late = boleto["due_date"] < sao_paulo_date(event.undone_at)
            self._set_status(
                rows,
                event.originator_id,
                status=BoletoStatus.OVERDUE if late else BoletoStatus.REGISTERED,
                paid_at=None,
            )

    @on(Invoice.Cancelled, load=_LOAD)
    def _cancelled(self, rows: Rows, event: Invoice.Cancelled, _position: int) -> None:
        self._set_status(rows, event.originator_id, status=BoletoStatus.CANCELLED)

    def accounts(self, reseller_id: UUID) -> list[Row]:
        """The tenant's bank accounts."""
        statement = sql.SQL(
            "SELECT * FROM {}.accounts WHERE reseller_id = %s ORDER BY seq"
        ).format(sql.Identifier(self.schema))
        return self.fetch_all(statement, (reseller_id,))

    def query(  # noqa: PLR0913 - one argument per documented filter
        self,
        reseller_id: UUID,
        *,
        account_id: UUID | None = None,
        status: str | None = None,
        customer: str | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Boletos newest invoice code first."""
        conditions: list[sql.Composable] = [
            sql.SQL("b.reseller_id = %s AND b.status IS NOT NULL")
        ]
        params: list[Any] = [reseller_id]
        filters: list[tuple[str, object]] = [
            ("b.account_id = %s", account_id),
            ("b.status = %s", status),
            ("b.due_date >= %s", due_from),
            ("b.due_date <= %s", due_to),
        ]
        if cursor is not None:
            filters.append(("b.invoice_code < %s", int(decode_cursor(cursor, 1)[0])))
        add_filters(conditions, params, filters)
        if customer:
            match, value = customer_match(customer, "b")
            conditions.append(match)
            params.append(value)
        statement = sql.SQL(
            _SELECT + "WHERE {1} ORDER BY b.invoice_code DESC LIMIT %s"
        ).format(sql.Identifier(self.schema), sql.SQL(" AND ").join(conditions))
        params.append(check_limit(limit) + 1)
        rows = self.fetch_all(statement, params)
        return page_of(rows, limit, "invoice_code")

    def get(self, reseller_id: UUID, boleto: UUID) -> Row | None:
        """One boleto of the tenant, or ``None``."""
        statement = sql.SQL(
            _SELECT + "WHERE b.reseller_id = %s AND b.id = %s AND b.status IS NOT NULL"
        ).format(sql.Identifier(self.schema))
        return self.fetch_one(statement, (reseller_id, boleto))
