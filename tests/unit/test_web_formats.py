"""The screens' Brazilian formats: out as people read them, in as they type them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import MAX_AMOUNT_CENTS, parse_amount
from web.formats import (
    FormatError,
    compact_document,
    day,
    document,
    moment,
    money,
    parse_day,
    parse_money,
)


def test_money_reads_as_in_brazil() -> None:
    assert money(123456) == "R$ 1.234,56"
    assert money(5) == "R$ 0,05"
    assert money(99_999_999_99) == "R$ 99.999.999,99"
    assert money(None) == ""


def test_dates_and_moments_read_dd_mm_aaaa_in_sao_paulo() -> None:
    assert day(date(2026, 1, 5)) == "05/01/2026"
    # 02:30 UTC is still the previous evening in São Paulo.
    late = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    assert day(late) == "28/02/2026"
    assert moment(late) == "28/02/2026 23:30"


def test_documents_get_their_punctuation() -> None:
    assert document("52998224725") == "529.982.247-25"
    assert document("11222333000181") == "11.222.333/0001-81"
    assert document("123") == "123"
    assert compact_document(" 529.982.247-25 ") == "52998224725"
    assert compact_document("11.222.333/0001-81") == "11222333000181"


@pytest.mark.parametrize(
    ("typed", "decimal"),
    [
        ("1.234,56", "1234.56"),
        ("1234,56", "1234.56"),
        ("R$ 1.234,5", "1234.5"),
        ("150", "150"),
        ("1.234", "1234"),
        ("150.00", "150.00"),
        (" 0,99 ", "0.99"),
        ("1.234.567,00", "1234567.00"),
    ],
)
def test_money_as_typed(typed: str, decimal: str) -> None:
    assert parse_money(typed) == decimal


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "campo obrigatório"),
        ("12,345", "use no máximo dois dígitos depois da vírgula"),
        ("1.23,00", "valor inválido; use por exemplo 1.234,56"),
        ("abc", "valor inválido; use por exemplo 1.234,56"),
        ("-5,00", "valor inválido; use por exemplo 1.234,56"),
        ("1e5", "valor inválido; use por exemplo 1.234,56"),
        ("12.34.56", "valor inválido; use por exemplo 1.234,56"),
    ],
)
def test_money_that_is_not_money(typed: str, message: str) -> None:
    with pytest.raises(FormatError, match=f"^{message}$"):
        parse_money(typed)


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_CENTS))
def test_money_shown_is_money_read_back(cents: int) -> None:
    assert parse_amount(parse_money(money(cents))) == cents


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("05/01/2026", date(2026, 1, 5)),
        ("5/1/2026", date(2026, 1, 5)),
        ("2026-01-05", date(2026, 1, 5)),
        (" 29/02/2028 ", date(2028, 2, 29)),
    ],
)
def test_dates_as_typed_or_picked(typed: str, expected: date) -> None:
    assert parse_day(typed) == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "campo obrigatório"),
        ("31/02/2026", "não é uma data do calendário"),
        ("2026-13-01", "não é uma data do calendário"),
        ("05-01-2026", "data inválida; use dd/mm/aaaa"),
        ("amanhã", "data inválida; use dd/mm/aaaa"),
        ("01/01/20260", "data inválida; use dd/mm/aaaa"),
    ],
)
def test_dates_that_are_not_dates(typed: str, message: str) -> None:
    with pytest.raises(FormatError, match=f"^{message}$"):
        parse_day(typed)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31)))
def test_a_date_shown_is_the_date_read_back(value: date) -> None:
    assert parse_day(day(value)) == value
