"""The receivables' totals, kept by triggers, always equal the items summed afresh.

Whatever writes the items (a handler's small batch, a large batch merged by COPY, a
plain COPY, a delete), the kept totals equal ``Totals.fill``'s; a group that empties
is gone; a database whose items predate the totals gets them at start-up; and the
query answers the same totals from them as from the items.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg_pool import ConnectionPool

from domain.invoices import SAO_PAULO
from domain.vocabulary import ReceivableSituation
from projections import erp_receivables
from projections.common import CLIENT_NAMES
from projections.erp_receivables import (
    RECEIVABLE_TOTALS,
    RECEIVABLES,
    ErpReceivables,
)
from projections.followers import create_views
from projections.store import Rows
from projections.view import fold

SCHEMA = ErpReceivables.live_schema()
TODAY = datetime.now(SAO_PAULO).date()
SITUATIONS = [s.value for s in ReceivableSituation]


@pytest.fixture
def conn(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database) as connection:
        create_views(connection, [ErpReceivables])
        connection.commit()
        yield connection


def kept(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return sorted(
        conn.execute(
            sql.SQL("SELECT * FROM {}.receivable_totals").format(sql.Identifier(SCHEMA))
        ).fetchall()
    )


def summed_afresh(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """``fill``'s totals, computed in a transaction that is then rolled back."""
    with conn.transaction(force_rollback=True):
        for statement in RECEIVABLE_TOTALS.fill(SCHEMA):
            conn.execute(statement)
        return kept(conn)


def an_item(reseller_id: UUID, code: int, amount: int, due_in: int) -> dict[str, Any]:
    invoice_id = uuid4()
    return {
        "id": invoice_id,
        "reseller_id": reseller_id,
        "invoice_id": invoice_id,
        "invoice_code": code,
        "customer_id": uuid4(),
        "description": "Mensalidade",
        "amount_cents": amount,
        "amount_paid_cents": 0,
        "principal_paid_cents": 0,
        "amount_fees_cents": 0,
        "issue_date": TODAY + timedelta(days=due_in - 2),  # never due before issue
        "due_date": TODAY + timedelta(days=due_in),
        "situation": ReceivableSituation.OPEN.value,
    }


# One step: issue n items, or change items (pay part, change situation), or delete.
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("issue"),
            st.integers(1, 30),  # beyond 20 rows a batch is merged through COPY
            st.integers(1, 10**9),
            st.integers(0, 3),
        ),
        st.tuples(
            st.just("change"),
            st.integers(1, 30),
            st.integers(0, 10**9),
            st.sampled_from(SITUATIONS),
        ),
        st.tuples(st.just("delete"), st.integers(1, 5), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=steps, tenants=st.integers(1, 2))
def test_kept_totals_equal_the_items_summed_after_every_write(
    conn: psycopg.Connection[Any], steps: list[tuple[str, int, int, Any]], tenants: int
) -> None:
    resellers = [uuid4() for _ in range(tenants)]
    items: list[UUID] = []
    code = 0
    for number, (kind, count, amount, detail) in enumerate(steps):
        with conn.transaction(), conn.cursor() as cursor:
            rows = Rows(SCHEMA, cursor)
            if kind == "issue":
                for _ in range(count):
                    code += 1
                    item = an_item(resellers[code % tenants], code, amount, detail)
                    rows.put(RECEIVABLES, item)
                    items.append(item["invoice_id"])
            elif kind == "change":
                for invoice_id in items[-count:]:
                    found = rows.get(RECEIVABLES, invoice_id)
                    assert found is not None
                    rows.update(
                        RECEIVABLES,
                        invoice_id,
                        situation=detail,
                        principal_paid_cents=min(amount, found["amount_cents"]),
                        amount_paid_cents=amount,
                    )
            else:
                gone, items = items[:count], items[count:]
                cursor.execute(
                    sql.SQL(
                        "DELETE FROM {}.receivables WHERE invoice_id = ANY(%s)"
                    ).format(sql.Identifier(SCHEMA)),
                    (gone,),
                )
            rows.flush([RECEIVABLES])
        assert kept(conn) == summed_afresh(conn), (number, kind)
    assert all(row[4] > 0 for row in kept(conn)), "an empty group was kept"
    with conn.transaction():
        conn.execute(
            sql.SQL("DELETE FROM {}.receivables").format(sql.Identifier(SCHEMA))
        )
    assert kept(conn) == []


def test_items_written_before_the_totals_existed_are_summed_at_start_up(
    conn: psycopg.Connection[Any],
) -> None:
    reseller_id = uuid4()
    with conn.transaction():
        # The view as an earlier version left it: items, no totals, no triggers.
        conn.execute(
            sql.SQL("DROP TABLE {}.receivable_totals").format(sql.Identifier(SCHEMA))
        )
        for trigger in ("insert", "update", "delete"):
            conn.execute(
                sql.SQL("DROP TRIGGER {} ON {}.receivables").format(
                    sql.Identifier(f"receivable_totals_{trigger}"),
                    sql.Identifier(SCHEMA),
                )
            )
        with conn.cursor() as cursor:
            rows = Rows(SCHEMA, cursor)
            for code in range(1, 6):
                rows.put(RECEIVABLES, an_item(reseller_id, code, 1000 * code, code))
            rows.flush([RECEIVABLES])
    create_views(conn, [ErpReceivables])
    conn.commit()
    assert [row[4:] for row in kept(conn)] == [
        (1, 1000 * code, 0, 1000 * code) for code in range(1, 6)
    ]
    create_views(conn, [ErpReceivables])  # once there, never summed again
    conn.commit()
    with conn.transaction(), conn.cursor() as cursor:
        rows = Rows(SCHEMA, cursor)
        rows.put(RECEIVABLES, an_item(reseller_id, 6, 7, 1))
        rows.flush([RECEIVABLES])
    assert kept(conn) == summed_afresh(conn)
    assert [row[4] for row in kept(conn)] == [2, 1, 1, 1, 1]


def test_the_query_answers_the_same_totals_from_them_as_from_the_items(
    conn: psycopg.Connection[Any], fresh_database: str
) -> None:
    reseller_id, other = uuid4(), uuid4()
    with conn.transaction(), conn.cursor() as cursor:
        rows = Rows(SCHEMA, cursor)
        for code in range(1, 41):
            item = an_item(reseller_id, code, 100 * code, code % 7 - 3)
            if code % 3 == 0:
                item |= {
                    "situation": ReceivableSituation.SETTLED.value,
                    "amount_paid_cents": item["amount_cents"] + 5,
                    "principal_paid_cents": item["amount_cents"],
                }
            elif code % 4 == 0:
                item |= {"amount_paid_cents": 30, "principal_paid_cents": 30}
            rows.put(RECEIVABLES, item)
        rows.put(RECEIVABLES, an_item(other, 99, 123456, 0))  # never counted
        rows.flush([RECEIVABLES])
    with ConnectionPool(fresh_database, min_size=1, max_size=1) as pool:
        view = ErpReceivables(pool)
        for filters in (
            {},
            {"situation": "open"},
            {"situation": "settled"},
            {"overdue": True},
            {"overdue": False, "situation": "open"},
            {"due_from": TODAY, "due_to": TODAY + timedelta(days=2)},
            {"issued_from": TODAY - timedelta(days=3), "issued_to": TODAY},
            {"issued_from": TODAY + timedelta(days=1)},
        ):
            summed = view.query(reseller_id, TODAY, **filters).totals
            expected = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(sum(amount_cents), 0),"
                    " coalesce(sum(amount_paid_cents), 0),"
                    " coalesce(sum(amount_cents - principal_paid_cents)"
                    " FILTER (WHERE situation = 'open'), 0)"
                    " FROM {}.receivables WHERE reseller_id = %s"
                    " AND (%s::text IS NULL OR situation = %s)"
                    " AND (%s::date IS NULL OR due_date >= %s)"
                    " AND (%s::date IS NULL OR due_date <= %s)"
                    " AND (%s::date IS NULL OR issue_date >= %s)"
                    " AND (%s::date IS NULL OR issue_date <= %s)"
                    " AND (%s::bool IS NULL OR"
                    " (situation = 'open' AND due_date < %s) = %s)"
                ).format(sql.Identifier(SCHEMA)),
                [
                    reseller_id,
                    *[filters.get("situation")] * 2,
                    *[filters.get("due_from")] * 2,
                    *[filters.get("due_to")] * 2,
                    *[filters.get("issued_from")] * 2,
                    *[filters.get("issued_to")] * 2,
                    filters.get("overdue"),
                    TODAY,
                    filters.get("overdue"),
                ],
            ).fetchone()
            assert expected is not None
            assert summed == dict(
                zip(
                    ("count", "amount", "amount_paid", "amount_open"),
                    expected,
                    strict=True,
                )
            ), filters
            assert summed["count"] > 0, filters


@pytest.mark.parametrize("many_names", [500, 1])
def test_a_customer_name_finds_the_items_of_every_customer_it_matches(
    conn: psycopg.Connection[Any],
    fresh_database: str,
    monkeypatch: pytest.MonkeyPatch,
    many_names: int,
) -> None:
    """One name (by id), a few (an array of ids) or many (a subquery): same items."""
    monkeypatch.setattr(erp_receivables, "MANY_NAMES", many_names)
    reseller_id, other = uuid4(), uuid4()
    customers = {"Ana Lima": uuid4(), "Ana Souza": uuid4(), "Bruno Dias": uuid4()}
    with conn.transaction(), conn.cursor() as cursor:
        rows = Rows(SCHEMA, cursor)
        for name, customer_id in customers.items():
            rows.put(
                CLIENT_NAMES,
                {
                    "id": customer_id,
                    "reseller_id": reseller_id,
                    "name": name,
                    "search": fold(name),
                },
            )
        # Another tenant's "Ana" is never found.
        rows.put(
            CLIENT_NAMES,
            {"id": uuid4(), "reseller_id": other, "name": "Ana", "search": "ana"},
        )
        for code, customer_id in enumerate(
            [*customers.values(), *customers.values()], start=1
        ):
            rows.put(
                RECEIVABLES,
                an_item(reseller_id, code, 100 * code, code)
                | {"customer_id": customer_id},
            )
        rows.flush([CLIENT_NAMES, RECEIVABLES])
    with ConnectionPool(fresh_database, min_size=1, max_size=1) as pool:
        view = ErpReceivables(pool)

        def found(customer: str) -> tuple[set[UUID], int]:
            page = view.query(reseller_id, TODAY, customer=customer)
            assert page.totals["count"] == len(page.items)
            return {row["customer_id"] for row in page.items}, page.totals["amount"]

        assert found("bruno") == ({customers["Bruno Dias"]}, 300 + 600)
        assert found("ANA") == (
            {customers["Ana Lima"], customers["Ana Souza"]},
            100 + 200 + 400 + 500,
        )
        assert found("zzz") == (set(), 0)
        assert found(str(customers["Ana Lima"])) == ({customers["Ana Lima"]}, 500)
