"""ERP receivables (contas a receber): one item per invoice, and the aging report.

Situation follows the invoice's status: ``open`` until it is paid (``settled``),
cancelled (``cancelled``) or refunded (``refunded``), partly paid ones included; an
invoice the partner refused is ``failed``, out of the open books until it is retried.
What is open of an item is its amount less the principal paid. ``closed_on`` is the
São Paulo date the item first stopped being open, and ``receipts`` the principal
each payment paid and on which date, which the aging report needs to see the ledger
as it was on any date. Whether an open item is overdue depends on today's date, so
it is computed when queried, never stored.

The list as of a past day (``as_of``) is answered from ``receivable_versions``, a
history the view keeps itself rather than from a replay of the events on each
request: every change of an item writes, in the same transaction as the live row, a
copy of the row as it became, with the event's position and ``valid_from``, the São
Paulo business date the change took effect (the issue date, the payment's date, the
cancellation's, the refund's, an undone payment's), and closes the version it
replaces (``valid_to``). A query as of day D then takes each item's version with
``valid_from <= D < valid_to``: one indexed scan of the tenant's versions, with the
same filters, totals and paging as the live list (about 0.3 s for a tenant with
100,000 items and 300,000 versions on a busy two-core machine), and the history is
rebuilt and verified with the rest of the view (``ledger projections
rebuild|verify``). Replaying the log per request would instead load and fold every
invoice event of the tenant for each page.

``valid_from`` never goes back within an item (``receivable_heads`` keeps the
newest one): a change dated before an earlier-recorded one takes effect with it,
so a past day always shows a state the live list really passed through. A refusal
by the partner carries no business date: it takes effect on its recording date,
or with the change before it when that is later (the business clock may run
ahead of the recording clock).
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
from projections.store import Rows, Table, Totals
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
        # The page's order; the issue date is checked in the index, so a page
        # filtered by it skips the items it excludes without reading them.
        ("reseller_id", "due_date", "invoice_code", "issue_date"),
        ("reseller_id", "situation", "due_date"),
        # One customer's items in the page's order, with what their totals sum.
        (
            "reseller_id",
            "customer_id",
            "due_date",
            "invoice_code",
            "situation",
            "amount_cents",
            "amount_paid_cents",
            "principal_paid_cents",
        ),
    ),
)

RECEIVABLE_TOTALS = Totals(
    "receivable_totals",
    {
        "reseller_id": "uuid",
        "situation": "text",
        "due_date": "date",
        "issue_date": "date",
        "count": "bigint",
        "amount_cents": "bigint",
        "amount_paid_cents": "bigint",
        "unpaid_cents": "bigint",
    },
    source=RECEIVABLES,
    groups=("reseller_id", "situation", "due_date", "issue_date"),
    sums=(
        ("amount_cents", "amount_cents"),
        ("amount_paid_cents", "amount_paid_cents"),
        ("unpaid_cents", "amount_cents - principal_paid_cents"),
    ),
)
"""The items' count and sums per tenant, situation, due date and issue date, kept by
triggers: the totals of a query filtered by nothing else sum a few rows per due date
(about 4,000 for a tenant with 1,000,000 items over three years, where a due date
has one or two issue dates) instead of every item."""

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

RECEIVABLE_VERSIONS = Table(
    "receivable_versions",
    {
        **{
            name: kind
            for name, kind in RECEIVABLES.columns.items()
            if name != "invoice_id"
        },
        "invoice_id": "uuid",
        "position": "bigint",
        "valid_from": "date",
        "valid_to": "date",
    },
    key="position",
    indexes=(("reseller_id", "(coalesce(valid_to, 'infinity'::date))", "valid_from"),),
)
"""Every state an item went through: the row as of the event at ``position``,
valid from ``valid_from`` until the day before ``valid_to`` (null: still valid)."""

RECEIVABLE_HEADS = Table(
    "receivable_heads",
    {"invoice_id": "uuid", "valid_from": "date", "position": "bigint"},
    key="invoice_id",
)
"""Each item's newest version: its position, and its ``valid_from``, which the next
one cannot precede."""

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


_LOAD = [(RECEIVABLES, by_originator), (RECEIVABLE_HEADS, by_originator)]
AGING_BUCKETS = (
    ("current", "d <= 0"),
    ("days_1_30", "d BETWEEN 1 AND 30"),
    ("days_31_60", "d BETWEEN 31 AND 60"),
    ("days_61_90", "d BETWEEN 61 AND 90"),
    ("days_over_90", "d > 90"),
)
"""Aging buckets by ``d``, the days past due on the report date."""
MANY_NAMES = 500
"""Up to this many matching names, a customer filter is an array of their ids."""
_OPEN = sql.Literal(ReceivableSituation.OPEN)
_OVERDUE = sql.SQL("(r.situation = {} AND r.due_date < %s)").format(_OPEN)
"""Whether an item is overdue on the date given as parameter."""
_SELECT = (
    "SELECT r.*, n.name AS customer_name, "
    "CASE WHEN r.situation = {open} THEN r.amount_cents - r.principal_paid_cents"
    " ELSE 0 END AS amount_open_cents, {overdue} AS overdue "
    "FROM {source} r JOIN {schema}.client_names n ON n.id = r.customer_id "
)
_AS_OF_SOURCE = (
    "(SELECT v.* FROM {schema}.receivable_versions v WHERE v.reseller_id = %s"
    " AND coalesce(v.valid_to, 'infinity'::date) > %s AND v.valid_from <= %s)"
)
"""Each item of a tenant as it stood at the end of a day: its version valid then."""


class _Filters(NamedTuple):
    """A query's conditions and their parameters."""

    conditions: list[sql.Composable]
    params: list[Any]


class ErpReceivables(KeepsClientNames, View):
    """One receivable per invoice."""

    name = "erp_receivables"
    tables: ClassVar = (
        RECEIVABLES,
        RECEIVABLE_TOTALS,
        RECEIPTS,
        CLIENT_NAMES,
        RECEIVABLE_VERSIONS,
        RECEIVABLE_HEADS,
    )

    @staticmethod
    def _version(rows: Rows, invoice_id: UUID, day: date, position: int) -> None:
        """Keep the item as it is now, valid from ``day`` (or its last version's)."""
        item = rows.get(RECEIVABLES, invoice_id)
        if item is None:
            return
        head = rows.get(RECEIVABLE_HEADS, invoice_id)
        if head is not None:
            day = max(day, head["valid_from"])
            # The version it replaces ends where this one starts (on the same
            # day: at once, it never was the state at the end of a day).
            rows.update(RECEIVABLE_VERSIONS, head["position"], valid_to=day)
        rows.put(
            RECEIVABLE_HEADS,
            {"invoice_id": invoice_id, "valid_from": day, "position": position},
        )
        rows.put(RECEIVABLE_VERSIONS, {**item, "position": position, "valid_from": day})

    @on(Invoice.Issued, load=[(RECEIVABLE_HEADS, by_originator)])
    def _issued(self, rows: Rows, event: Invoice.Issued, position: int) -> None:
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
        self._version(rows, event.originator_id, event.issue_date, position)

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
        self, rows: Rows, event: Invoice.RegistrationFailed, position: int
    ) -> None:
        day = sao_paulo_date(event.timestamp)
        self._close(rows, event.originator_id, ReceivableSituation.FAILED, day)
        self._version(rows, event.originator_id, day, position)

    @on(Invoice.RegistrationRetried, load=_LOAD)
    def _retried(
        self, rows: Rows, event: Invoice.RegistrationRetried, position: int
    ) -> None:
        rows.update(
            RECEIVABLES,
            event.originator_id,
            situation=ReceivableSituation.OPEN,
            closed_on=None,
        )
        self._version(
            rows, event.originator_id, sao_paulo_date(event.retried_at), position
        )

    @on(Invoice.PaymentReceived, load=_LOAD)
    def _payment(
        self, rows: Rows, event: Invoice.PaymentReceived, position: int
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
        self._version(rows, event.originator_id, paid_on, position)

    @on(
        Invoice.PaymentUndone,
        load=[*_LOAD, (RECEIPTS, lambda event: event.payment_id)],
    )
    def _payment_undone(
        self, rows: Rows, event: Invoice.PaymentUndone, position: int
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
        self._version(
            rows, event.originator_id, sao_paulo_date(event.undone_at), position
        )

    @on(Invoice.Paid, load=_LOAD)
    def _paid(self, rows: Rows, event: Invoice.Paid, position: int) -> None:
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
            self._version(
                rows, event.originator_id, sao_paulo_date(event.paid_at), position
            )

    @on(Invoice.Cancelled, load=_LOAD)
    def _cancelled(self, rows: Rows, event: Invoice.Cancelled, position: int) -> None:
        day = sao_paulo_date(event.cancelled_at)
        self._close(rows, event.originator_id, ReceivableSituation.CANCELLED, day)
        self._version(rows, event.originator_id, day, position)

    @on(Invoice.Refunded, load=_LOAD)
    def _refunded(self, rows: Rows, event: Invoice.Refunded, position: int) -> None:
        rows.update(
            RECEIVABLES, event.originator_id, situation=ReceivableSituation.REFUNDED
        )
        self._version(
            rows, event.originator_id, sao_paulo_date(event.refunded_at), position
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
            # Implied (an invoice is never due before it is issued), and it lets
            # the page start in the due-date index where such items begin instead
            # of walking every earlier one.
            ("r.due_date >= %s", issued_from),
            ("r.issue_date <= %s", issued_to),
            ("r.due_date >= %s", due_from),
            ("r.due_date <= %s", due_to),
        ]
        add_filters(conditions, params, simple)
        if customer:
            match, value = customer_match(customer, "r")
            values: list[Any] = [value]
            if not isinstance(value, UUID):
                match, values = self._customers_named(reseller_id, str(value))
            conditions.append(match)
            params.extend(values)
        if overdue is not None:
            conditions.append(_OVERDUE if overdue else sql.SQL("NOT ") + _OVERDUE)
            params.append(today)
        return _Filters(conditions, params)

    def _customers_named(
        self, reseller_id: UUID, pattern: str
    ) -> tuple[sql.Composable, list[Any]]:
        """A condition on ``r.customer_id`` for the tenant's names like ``pattern``.

        The names are looked up first and the items then found by id: one
        customer's come in the page's order from its index, with their totals from
        the index alone. A pattern that matches very many names (``"a"``) stays a
        subquery rather than a huge array.
        """
        names = sql.SQL(
            "SELECT n.id FROM {}.client_names n"
            " WHERE n.reseller_id = %s AND n.search LIKE %s"
        ).format(sql.Identifier(self.schema))
        found = self.fetch_all(
            names + sql.SQL(" LIMIT %s"), [reseller_id, pattern, MANY_NAMES + 1]
        )
        ids = [row["id"] for row in found]
        if len(ids) == 1:
            return sql.SQL("r.customer_id = %s"), ids
        if len(ids) <= MANY_NAMES:
            return sql.SQL("r.customer_id = ANY(%s)"), [ids]
        return sql.SQL("r.customer_id IN ({})").format(names), [reseller_id, pattern]

    def query(
        self,
        reseller_id: UUID,
        today: date,
        *,
        limit: int = 50,
        cursor: str | None = None,
        as_of: date | None = None,
        **filters: Any,  # noqa: ANN401 - the documented filters, passed through
    ) -> Page:
        """Receivables by due date, with totals over every matching item.

        With ``as_of``, the items as they stood at the end of that day (from their
        versions), overdue on that day; ``today`` is then ignored.
        """
        if as_of is not None:
            today = as_of
        conditions, params = self._filters(reseller_id, today, **filters)
        where = sql.SQL(" AND ").join(conditions)
        schema = sql.Identifier(self.schema)
        source: sql.Composable = sql.SQL("{}.receivables").format(schema)
        source_params: list[Any] = []
        if as_of is not None:
            source = sql.SQL(_AS_OF_SOURCE).format(schema=schema)
            source_params = [reseller_id, as_of, as_of]
        summed = as_of is None and not filters.get("customer")
        totals_statement = sql.SQL(
            "SELECT {count} AS count,"
            " coalesce(sum(r.amount_cents), 0)::bigint AS amount,"
            " coalesce(sum(r.amount_paid_cents), 0)::bigint AS amount_paid,"
            " coalesce(sum({unpaid}) FILTER (WHERE r.situation = {open}), 0)::bigint"
            " AS amount_open FROM {source} r WHERE {where}"
        ).format(
            # By tenant, situation and due date alone: from the kept totals.
            count=sql.SQL(
                "coalesce(sum(r.count), 0)::bigint" if summed else "count(*)"
            ),
            unpaid=sql.SQL(
                "r.unpaid_cents"
                if summed
                else "r.amount_cents - r.principal_paid_cents"
            ),
            open=_OPEN,
            source=sql.SQL("{}.receivable_totals").format(schema) if summed else source,
            where=where,
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
            source=source,
            open=_OPEN,
            overdue=_OVERDUE,
            where=sql.SQL(" AND ").join(page_conditions),
        )
        totals = self.fetch_one(totals_statement, [*source_params, *params]) or {}
        rows = self.fetch_all(
            statement,
            [today, *source_params, *page_params, check_limit(limit) + 1],
        )
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
