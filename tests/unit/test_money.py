from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInputError
from domain.money import MAX_AMOUNT_CENTS, format_amount, format_brl, parse_amount


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("150.00", 15000),
        ("150", 15000),
        ("12.5", 1250),
        ("0.01", 1),
        (150, 15000),
        (150.5, 15050),
        (12.34, 1234),
        (Decimal("99999999.99"), MAX_AMOUNT_CENTS),
        ("99999999.99", MAX_AMOUNT_CENTS),
    ],
)
def test_an_amount_is_read_by_its_decimal_text(value: object, cents: int) -> None:
    assert parse_amount(value) == cents


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "0.00",
        0,
        "-1.00",
        -5,
        "1.234",
        "1e2",
        "1E2",
        "1.",
        ".5",
        " 1.00",
        "1,00",
        "R$ 1,00",
        "",
        "NaN",
        "Infinity",
        "100000000.00",
        100_000_000,
        0.1 + 0.2,
        1e16,
        float("nan"),
        Decimal("1.001"),
        Decimal("1E+2"),
        True,
        None,
        [1],
    ],
)
def test_anything_but_a_positive_two_place_amount_is_refused(value: object) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        parse_amount(value)
    assert refusal.value.field == "amount"


def test_amounts_are_formatted_for_the_api_and_for_people() -> None:
    assert format_amount(15000) == "150.00"
    assert format_amount(5) == "0.05"
    assert format_amount(0) == "0.00"
    assert format_brl(15000) == "R$ 150,00"
    assert format_brl(123456789) == "R$ 1.234.567,89"
    assert format_brl(MAX_AMOUNT_CENTS) == "R$ 99.999.999,99"


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_CENTS))
def test_parse_and_format_round_trip(cents: int) -> None:
    assert parse_amount(format_amount(cents)) == cents
    assert parse_amount(Decimal(format_amount(cents))) == cents
