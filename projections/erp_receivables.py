"""ERP receivables (contas a receber): one item per invoice, and the aging report.

Situation follows the invoice's status: ``open`` until it is paid (``settled``),
cancelled (``cancelled``) or refunded (``refunded``), partly paid ones included; an
invoice the partner refused is ``failed``, out of the open books until it is retried.
What is open of an item is its amount less the principal paid. ``closed_on`` is the
São Paulo date the item first stopped being open, and ``receipts`` the principal
each payment paid and on which date, which the aging report needs to see the ledger
as it was on any date. Whether an open item is overdue depends on today's date, so
it is computed when queried, never stored.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, NamedTuple
from uuid import UUID

from psycopg import sql

from domain.base import derived_id
from domain.invoices import Invoice, InvoiceStatus, status_after_payment
from domain.vocabulary import ReceivableSituation
from projections.common import CLIENT_NAMES, KeepsClientNames, sao_paulo_date
from projections.pages import Page, Row, check_limit, decode_cursor, page_of
from projections.store import Rows, Table
from projections.view import View, add_filters, by_originator, customer_match, on

RECEIVABLES = Table(
    "receivables",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "invoice_id": "uuid",
        "invoice_code": "bigint",
        "customer_id": "uuid",
        "description": "text",
        "amount_cents": "bigint",
        "amount_paid_cents": "bigint",
        "principal_paid_cents": "bigint",
        "amount_fees_cents": "bigint",
        "issue_date": "date",
        "due_date": "date",
        "settled_at": "timestamptz",
        "closed_on": "date",
        "situation": "text",
    },
    key="invoice_id",
    indexes=(
        ("reseller_id", "due_date", "invoice_code"),
        ("reseller_id", "situation", "due_date"),
        ("reseller_id", "customer_id"),
    ),
)

RECEIPTS = Table(
    "receipts",
    {
        "id": "uuid",
        "invoice_id": "uuid",
        "paid_on": "date",
        "principal_cents": "bigint",
    },
    indexes=(("invoice_id", "paid_on"),),
)
"""The principal each payment paid towards an item, and its São Paulo date."""

_S = InvoiceStatus
_SITUATION_OF = {
    _S.PROCESSING: ReceivableSituation.OPEN,
    _S.AWAITING_PAYMENT: ReceivableSituation.OPEN,
    _S.OVERDUE: ReceivableSituation.OPEN,
    _S.PARTIALLY_PAID: ReceivableSituation.OPEN,
    _S.PAID: ReceivableSituation.SETTLED,
    _S.CANCELLED: ReceivableSituation.CANCELLED,
    _S.FAILED: ReceivableSituation.FAILED,
    _S.REFUNDED: ReceivableSituation.REFUNDED,
}
_STATUS_OF = {situation: status for status, situation in _SITUATION_OF.items()}
"""An invoice status standing for each situation, to tell what a payment does."""


def receivable_id(invoice_id: UUID) -> UUID:
    """The id of the receivable of an invoice."""
    return derived_id("erp-receivable", invoice_id)


_LOAD = [(RECEIVABLES, by_originator)]
_NAME_JOIN = "JOIN {0}.client_names n ON n.id = r.customer_id "
AGING_BUCKETS = (
    ("current", "d <= 0"),
    ("days_1_30", "d BETWEEN 1 AND 30"),
    ("days_31_60", "d BETWEEN 31 AND 60"),
    ("days_61_90", "d BETWEEN 61 AND 90"),
    ("days_over_90", "d > 90"),
)
"""Aging buckets by ``d``, the days past due on the report date."""
_OPEN = sql.Literal(ReceivableSituation.OPEN)
_OVERDUE = sql.SQL("(r.situation = {} AND r.due_date < %s)").format(_OPEN)
"""Whether an item is overdue on the date given as parameter."""
_SELECT = (
    "SELECT r.*, n.name AS customer_name, "
    "CASE WHEN r.situation = {open} THEN r.amount_cents - r.principal_paid_cents"
    " ELSE 0 END AS amount_open_cents, {overdue} AS overdue "
    "FROM {schema}.receivables r JOIN {schema}.client_names n ON n.id = r.customer_id "
)


class _Filters(NamedTuple):
    """A query's conditions, their parameters, and whether one matches names."""

    conditions: list[sql.Composable]
    params: list[Any]
    by_name: bool


class ErpReceivables(KeepsClientNames, View):
    """One receivable per invoice."""

    name = "erp_receivables"
    tables: ClassVar = (RECEIVABLES, RECEIPTS, CLIENT_NAMES)

    @on(Invoice.Issued)
    def _issued(self, rows: Rows, event: Invoice.Issued, _position: int) -> None:
        rows.put(
            RECEIVABLES,
            {
                "id": receivable_id(event.originator_id),
                "reseller_id": event.reseller_id,
                "invoice_id": event.originator_id,
                "invoice_code": event.code,
                "customer_id": event.client_id,
                "description": event.description,
                "amount_cents": event.amount_cents,
                "amount_paid_cents": 0,
                "principal_paid_cents": 0,
                "amount_fees_cents": 0,
                "issue_date": event.issue_date,
                "due_date": event.due_date,
                "situation": ReceivableSituation.OPEN,
            },
        )

    def _close(
        self, rows: Rows, invoice_id: UUID, situation: str, day: date, **changes: object
    ) -> None:
        """Leave ``situation``; ``closed_on`` keeps the first ``day`` it closed."""
        item = rows.get(RECEIVABLES, invoice_id)
        if item is not None:
            rows.update(
                RECEIVABLES,
                invoice_id,
                situation=situation,
                closed_on=item["closed_on"] or day,
                **changes,
            )

    @on(Invoice.RegistrationFailed, load=_LOAD)
    def _failed(
        self, rows: Rows, event: Invoice.RegistrationFailed, _position: int
    ) -> None:
        self._close(
            rows,
            event.originator_id,
            ReceivableSituation.FAILED,
            sao_paulo_date(event.timestamp),
        )

    @on(Invoice.RegistrationRetried, load=_LOAD)
    def _retried(
        self, rows: Rows, event: Invoice.RegistrationRetried, _position: int
    ) -> None:
        rows.update(
            RECEIVABLES,
            event.originator_id,
            situation=ReceivableSituation.OPEN,
            closed_on=None,
        )

    @on(Invoice.PaymentReceived, load=_LOAD)
    def _payment(
        self, rows: Rows, event: Invoice.PaymentReceived, _position: int
    ) -> None:
        item = rows.get(RECEIVABLES, event.originator_id)
        if item is None:
            return
        paid_on = sao_paulo_date(event.paid_at)
        principal = item["principal_paid_cents"] + event.principal_cents
        status = status_after_payment(
            _STATUS_OF[ReceivableSituation(item["situation"])],
            principal,
            item["amount_cents"],
        )
        situation = _SITUATION_OF[status]
        changes: dict[str, object] = {
            "principal_paid_cents": principal,
            "amount_fees_cents": item["amount_fees_cents"] + event.fees_cents,
            "amount_paid_cents": item["amount_paid_cents"]
            + event.principal_cents
            + event.fees_cents,
        }
        if event.principal_cents:
            rows.put(
                RECEIPTS,
                {
                    "id": event.payment_id,
                    "invoice_id": event.originator_id,
                    "paid_on": paid_on,
                    "principal_cents": event.principal_cents,
                },
            )
        if situation != item["situation"]:
            changes["settled_at"] = event.paid_at
            self._close(rows, event.originator_id, situation, paid_on, **changes)
        else:
            rows.update(RECEIVABLES, event.originator_id, **changes)

    @on(
        Invoice.PaymentUndone,
        load=[*_LOAD, (RECEIPTS, lambda event: event.payment_id)],
    )
    def _payment_undone(
        self, rows: Rows, event: Invoice.PaymentUndone, _position: int
    ) -> None:
        item = rows.get(RECEIVABLES, event.originator_id)
        if item is None:
            return
        if rows.get(RECEIPTS, event.payment_id) is not None:
            # Kept at zero: the receipt no longer pays anything.
            rows.update(RECEIPTS, event.payment_id, principal_cents=0)
        principal = item["principal_paid_cents"] - event.principal_cents
        changes: dict[str, object] = {
            "principal_paid_cents": principal,
            "amount_fees_cents": item["amount_fees_cents"] - event.fees_cents,
            "amount_paid_cents": item["amount_paid_cents"]
            - event.principal_cents
            - event.fees_cents,
        }
        if item["situation"] == ReceivableSituation.SETTLED:
            changes |= {
                "situation": ReceivableSituation.OPEN,
                "closed_on": None,
                "settled_at": None,
            }
        rows.update(RECEIVABLES, event.originator_id, **changes)

    @on(Invoice.Paid, load=_LOAD)
    def _paid(self, rows: Rows, event: Invoice.Paid, _position: int) -> None:
        # Version 0.1's payment settled the invoice whatever the amount.
        item = rows.get(RECEIVABLES, event.originator_id)
        if item is not None:
            self._close(
                rows,
                event.originator_id,
                ReceivableSituation.SETTLED,
                sao_paulo_date(event.paid_at),
                amount_paid_cents=event.amount_cents,
                principal_paid_cents=item["amount_cents"],
                settled_at=event.paid_at,
            )

    @on(Invoice.Cancelled, load=_LOAD)
    def _cancelled(self, rows: Rows, event: Invoice.Cancelled, _position: int) -> None:
        self._close(
            rows,
            event.originator_id,
            ReceivableSituation.CANCELLED,
            sao_paulo_date(event.cancelled_at),
        )

    @on(Invoice.Refunded, load=_LOAD)
    def _refunded(self, rows: Rows, event: Invoice.Refunded, _position: int) -> None:
        rows.update(
            RECEIVABLES, event.originator_id, situation=ReceivableSituation.REFUNDED
        )

    def _filters(  # noqa: PLR0913 - one argument per documented filter
        self,
        reseller_id: UUID,
        today: date,
        *,
        situation: str | None = None,
        customer: str | None = None,
        issued_from: date | None = None,
        issued_to: date | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
        overdue: bool | None = None,
    ) -> _Filters:
        conditions: list[sql.Composable] = [sql.SQL("r.reseller_id = %s")]
        params: list[Any] = [reseller_id]
        simple: list[tuple[str, object]] = [
            ("r.situation = %s", situation),
            ("r.issue_date >= %s", issued_from),
            ("r.issue_date <= %s", issued_to),
            ("r.due_date >= %s", due_from),
            ("r.due_date <= %s", due_to),
        ]
        add_filters(conditions, params, simple)
        by_name = False
        if customer:
            match, value = customer_match(customer, "r")
            conditions.append(match)
            params.append(value)
            by_name = not isinstance(value, UUID)  # else it matched the id
        if overdue is not None:
            conditions.append(_OVERDUE if overdue else sql.SQL("NOT ") + _OVERDUE)
            params.append(today)
        return _Filters(conditions, params, by_name)

    def query(
        self,
        reseller_id: UUID,
        today: date,
        *,
        limit: int = 50,
        cursor: str | None = None,
        **filters: Any,  # noqa: ANN401 - the documented filters, passed through
    ) -> Page:
        """Receivables by due date, with totals over every matching item."""
        conditions, params, by_name = self._filters(reseller_id, today, **filters)
        # Totals scan every matching row: join the names only to filter by them.
        where = sql.SQL(" AND ").join(conditions)
        schema = sql.Identifier(self.schema)
        totals_statement = sql.SQL(
            "SELECT count(*) AS count,"
            " coalesce(sum(r.amount_cents), 0)::bigint AS amount,"
            " coalesce(sum(r.amount_paid_cents), 0)::bigint AS amount_paid,"
            " coalesce(sum(r.amount_cents - r.principal_paid_cents)"
            " FILTER (WHERE r.situation = {3}), 0)::bigint AS amount_open "
            "FROM {0}.receivables r {2}WHERE {1}"
        ).format(
            schema,
            where,
            sql.SQL(_NAME_JOIN).format(schema) if by_name else sql.SQL(""),
            _OPEN,
        )
        page_conditions = list(conditions)
        page_params = list(params)
        if cursor is not None:
            due, code = decode_cursor(cursor, 2)
            page_conditions.append(sql.SQL("(r.due_date, r.invoice_code) > (%s, %s)"))
            page_params += [date.fromisoformat(due), int(code)]
        statement = sql.SQL(
            _SELECT + "WHERE {where} ORDER BY r.due_date, r.invoice_code LIMIT %s"
        ).format(
            schema=schema,
            open=_OPEN,
            overdue=_OVERDUE,
            where=sql.SQL(" AND ").join(page_conditions),
        )
        totals = self.fetch_one(totals_statement, params) or {}
        rows = self.fetch_all(statement, [today, *page_params, check_limit(limit) + 1])
        page = page_of(rows, limit, "due_date", "invoice_code")
        return Page(page.items, page.next_cursor, totals)

    def aging(self, reseller_id: UUID, as_of: date) -> list[Row]:
        """Open amounts per customer by days past due on ``as_of``, by name.

        An item counts when it was issued on or before ``as_of`` and had not been
        settled, cancelled, refunded or refused by the partner by then; what was
        open of it is its amount less the principal paid by then.
        """
        buckets = sql.SQL(", ").join(
            sql.SQL("coalesce(sum(o.open) FILTER (WHERE {}), 0)::bigint AS {}").format(
                sql.SQL(condition), sql.Identifier(bucket)
            )
            for bucket, condition in AGING_BUCKETS
        )
        statement = sql.SQL(
            "SELECT r.customer_id, n.name AS customer_name, {1},"
            " sum(o.open)::bigint AS total "
            "FROM {0}.receivables r"
            " JOIN {0}.client_names n ON n.id = r.customer_id,"
            " LATERAL (SELECT %s::date - r.due_date AS d) AS days,"
            " LATERAL (SELECT r.amount_cents - coalesce(sum(p.principal_cents), 0)"
            " AS open FROM {0}.receipts p"
            " WHERE p.invoice_id = r.invoice_id AND p.paid_on <= %s) AS o "
            "WHERE r.reseller_id = %s AND r.issue_date <= %s"
            " AND (r.closed_on IS NULL OR r.closed_on > %s) "
            "GROUP BY r.customer_id, n.name ORDER BY n.name, r.customer_id"
        ).format(sql.Identifier(self.schema), buckets)
        return self.fetch_all(statement, (as_of, as_of, reseller_id, as_of, as_of))
