"""Panel invoices: the reseller's "Faturas" list, newest code first.

Each row keeps the invoice's payments (a JSON list, as the API shows them) and what
they paid: principal and late fees; the balance is derived from the status.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from psycopg import sql

from domain.invoices import Invoice, InvoiceStatus, status_after_payment
from domain.money import format_amount
from projections.common import CLIENT_NAMES, KeepsClientNames
from projections.pages import Page, Row, check_limit, decode_cursor, page_of
from projections.store import Rows, Table
from projections.view import View, add_filters, by_originator, on

INVOICES = Table(
    "invoices",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "code": "bigint",
        "client_id": "uuid",
        "contract_id": "uuid",
        "description": "text",
        "amount_cents": "bigint",
        "principal_paid_cents": "bigint",
        "amount_fees_cents": "bigint",
        "fine_percent": "text",
        "interest_monthly_percent": "text",
        "payments": "text",
        "issue_date": "date",
        "due_date": "date",
        "reference_month": "text",
        "reference_year": "text",
        "billing_reference": "text",
        "status": "text",
        "charge_id": "text",
        "bank_code": "text",
        "our_number": "text",
        "barcode": "text",
        "digitable_line": "text",
        "pix_emv": "text",
        "paid_at": "timestamptz",
        "payment_method": "text",
        "failure_reason": "text",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    indexes=(
        ("status", "due_date"),
        ("reseller_id", "client_id", "due_date"),
        ("reseller_id", "code DESC"),
        ("reseller_id", "status", "code DESC"),
        ("reseller_id", "client_id", "code DESC"),
    ),
)
_LOAD = [(INVOICES, by_originator)]
_SELECT = (
    "SELECT i.*, n.name AS client_name FROM {0}.invoices i "
    "JOIN {0}.client_names n ON n.id = i.client_id "
)


def payments_of(row: Row) -> list[dict[str, object]]:
    """The payments of an invoice row, as the API shows them.

    They are kept as JSON text, not jsonb: a row read back and written again
    within a batch must keep the same Python type for the batch's array upsert.
    """
    payments: list[dict[str, object]] = json.loads(row["payments"])
    return payments


class PanelInvoices(KeepsClientNames, View):
    """One row per invoice, following its whole lifecycle."""

    name = "panel_invoices"
    tables: ClassVar = (INVOICES, CLIENT_NAMES)

    @on(Invoice.Issued)
    def _issued(self, rows: Rows, event: Invoice.Issued, _position: int) -> None:
        rows.put(
            INVOICES,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "code": event.code,
                "client_id": event.client_id,
                "contract_id": event.contract_id,
                "description": event.description,
                "amount_cents": event.amount_cents,
                "principal_paid_cents": 0,
                "amount_fees_cents": 0,
                "fine_percent": event.fine_percent,
                "interest_monthly_percent": event.interest_monthly_percent,
                "payments": "[]",
                "issue_date": event.issue_date,
                "due_date": event.due_date,
                "reference_month": event.reference_month,
                "reference_year": event.reference_year,
                "billing_reference": event.billing_reference,
                "status": InvoiceStatus.PROCESSING,
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
            },
        )

    @on(Invoice.Registered, load=_LOAD)
    def _registered(
        self, rows: Rows, event: Invoice.Registered, _position: int
    ) -> None:
        rows.update(
            INVOICES,
            event.originator_id,
            status=InvoiceStatus.AWAITING_PAYMENT,
            charge_id=event.charge_id,
            bank_code=event.bank_code,
            our_number=event.our_number,
            barcode=event.barcode,
            digitable_line=event.digitable_line,
            pix_emv=event.pix_emv,
            updated_at=event.timestamp,
        )

    @on(Invoice.RegistrationFailed, load=_LOAD)
    def _failed(
        self, rows: Rows, event: Invoice.RegistrationFailed, _position: int
    ) -> None:
        rows.update(
            INVOICES,
            event.originator_id,
            status=InvoiceStatus.FAILED,
            failure_reason=event.reason,
            updated_at=event.timestamp,
        )

    @on(Invoice.RegistrationRetried, load=_LOAD)
    def _retried(
        self, rows: Rows, event: Invoice.RegistrationRetried, _position: int
    ) -> None:
        rows.update(
            INVOICES,
            event.originator_id,
            status=InvoiceStatus.PROCESSING,
            failure_reason=None,
            updated_at=event.timestamp,
        )

    @on(Invoice.BecameOverdue, load=_LOAD)
    def _overdue(
        self, rows: Rows, event: Invoice.BecameOverdue, _position: int
    ) -> None:
        rows.update(
            INVOICES,
            event.originator_id,
            status=InvoiceStatus.OVERDUE,
            updated_at=event.timestamp,
        )

    @on(Invoice.Paid, load=_LOAD)
    def _paid(self, rows: Rows, event: Invoice.Paid, _position: int) -> None:
        rows.update(
            INVOICES,
            event.originator_id,
            status=InvoiceStatus.PAID,
            principal_paid_cents=event.amount_cents,
            paid_at=event.paid_at,
            payment_method=event.method,
            updated_at=event.timestamp,
        )

    @on(Invoice.PaymentReceived, load=_LOAD)
    def _payment(
        self, rows: Rows, event: Invoice.PaymentReceived, _position: int
    ) -> None:
        row = rows.get(INVOICES, event.originator_id)
        if row is None:
            return
        principal = row["principal_paid_cents"] + event.principal_cents
        payment = {
            "id": str(event.payment_id),
            "amount": format_amount(event.amount_cents),
            "principal": format_amount(event.principal_cents),
            "fees": format_amount(event.fees_cents),
            "credit": format_amount(event.credit_cents),
            "method": event.method,
            "paid_at": event.paid_at.isoformat(),
            "provider_event_id": event.provider_event_id,
        }
        changes: dict[str, object] = {}
        if event.principal_cents or event.fees_cents:
            changes = {"paid_at": event.paid_at, "payment_method": event.method}
        rows.update(
            INVOICES,
            event.originator_id,
            status=status_after_payment(
                InvoiceStatus(row["status"]), principal, row["amount_cents"]
            ),
            principal_paid_cents=principal,
            amount_fees_cents=row["amount_fees_cents"] + event.fees_cents,
            payments=json.dumps([*payments_of(row), payment]),
            updated_at=event.timestamp,
            **changes,
        )

    @on(Invoice.Cancelled, load=_LOAD)
    def _cancelled(self, rows: Rows, event: Invoice.Cancelled, _position: int) -> None:
        rows.update(
            INVOICES,
            event.originator_id,
            status=InvoiceStatus.CANCELLED,
            updated_at=event.timestamp,
        )

    @on(Invoice.Refunded, load=_LOAD)
    def _refunded(self, rows: Rows, event: Invoice.Refunded, _position: int) -> None:
        rows.update(
            INVOICES,
            event.originator_id,
            status=InvoiceStatus.REFUNDED,
            updated_at=event.timestamp,
        )

    def query(  # noqa: PLR0913 - one argument per documented filter
        self,
        reseller_id: UUID,
        *,
        status: str | None = None,
        client_id: UUID | None = None,
        reference: tuple[str, str] | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Invoices newest code first; ``reference`` is ``(year, month)``."""
        conditions: list[sql.Composable] = [sql.SQL("i.reseller_id = %s")]
        params: list[Any] = [reseller_id]
        filters: list[tuple[str, object]] = [
            ("i.status = %s", status),
            ("i.client_id = %s", client_id),
            ("i.due_date >= %s", due_from),
            ("i.due_date <= %s", due_to),
        ]
        if reference is not None:
            filters += [("i.reference_year = %s", reference[0])]
            filters += [("i.reference_month = %s", reference[1])]
        if cursor is not None:
            filters.append(("i.code < %s", int(decode_cursor(cursor, 1)[0])))
        add_filters(conditions, params, filters)
        statement = sql.SQL(_SELECT + "WHERE {1} ORDER BY i.code DESC LIMIT %s").format(
            sql.Identifier(self.schema), sql.SQL(" AND ").join(conditions)
        )
        params.append(check_limit(limit) + 1)
        rows = self.fetch_all(statement, params)
        return page_of(rows, limit, "code")

    def get(self, reseller_id: UUID, invoice_id: UUID) -> Row | None:
        """One invoice of the tenant, or ``None``."""
        statement = sql.SQL(_SELECT + "WHERE i.reseller_id = %s AND i.id = %s").format(
            sql.Identifier(self.schema)
        )
        return self.fetch_one(statement, (reseller_id, invoice_id))

    def past_due(self, today: date, limit: int = 1000) -> list[UUID]:
        """Invoices of every tenant still awaiting a payment due before ``today``."""
        statement = sql.SQL(
            "SELECT id FROM {}.invoices WHERE status = {} "
            "AND due_date < %s ORDER BY due_date LIMIT %s"
        ).format(
            sql.Identifier(self.schema), sql.Literal(InvoiceStatus.AWAITING_PAYMENT)
        )
        return [row["id"] for row in self.fetch_all(statement, (today, limit))]

    _UNPAID = sql.SQL(", ").join(
        sql.Literal(status.value)
        for status in (
            InvoiceStatus.AWAITING_PAYMENT,
            InvoiceStatus.OVERDUE,
            InvoiceStatus.PARTIALLY_PAID,
        )
    )

    def late_clients(self, reseller_id: UUID, due_on_or_before: date) -> list[UUID]:
        """Clients of the tenant with an unpaid invoice due on or before the date."""
        statement = sql.SQL(
            "SELECT DISTINCT client_id FROM {}.invoices WHERE reseller_id = %s "
            "AND status IN ({}) AND due_date <= %s"
        ).format(sql.Identifier(self.schema), self._UNPAID)
        rows = self.fetch_all(statement, (reseller_id, due_on_or_before))
        return [row["client_id"] for row in rows]

    def unpaid_invoices(
        self, reseller_id: UUID, client_id: UUID, due_before: date
    ) -> list[UUID]:
        """The client's unpaid invoices due before the date."""
        statement = sql.SQL(
            "SELECT id FROM {}.invoices WHERE reseller_id = %s AND client_id = %s "
            "AND status IN ({}) AND due_date < %s ORDER BY due_date"
        ).format(sql.Identifier(self.schema), self._UNPAID)
        rows = self.fetch_all(statement, (reseller_id, client_id, due_before))
        return [row["id"] for row in rows]
