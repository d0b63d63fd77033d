from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.boleto import (
    Boleto,
    BoletoError,
    barcode_to_line,
    due_date_factor,
    due_date_from_factor,
    format_line,
    line_to_barcode,
)
from domain.money import MAX_AMOUNT_CENTS

# Published vectors: Banco do Brasil and Itaú (pyboleto test suites), and the same
# BB data due 2012-12-28 (brcobranca's spec).
VECTORS = [
    (
        "00196490000002952950000007777777000008765418",
        "00190.00009 07777.777009 00087.654182 6 49000000295295",
        date(2011, 3, 8),
        295295,
    ),
    (
        "34199439500000029801090000015710293013280000",
        "34191.09008 00015.710296 30132.800001 9 43950000002980",
        date(2009, 10, 19),
        2980,
    ),
    (
        "00197556100002952950000007777777000008765418",
        "00190.00009 07777.777009 00087.654182 7 55610000295295",
        date(2012, 12, 28),
        295295,
    ),
]


@pytest.mark.parametrize(("barcode", "line", "due", "amount"), VECTORS)
def test_published_barcodes_and_lines_convert_both_ways(
    barcode: str, line: str, due: date, amount: int
) -> None:
    assert format_line(barcode_to_line(barcode)) == line
    assert line_to_barcode(line) == barcode
    boleto = Boleto.from_digitable_line(line)
    assert boleto.amount_cents == amount
    assert boleto.due_date(near=due) == due
    assert Boleto.create(boleto.bank_code, due, amount, boleto.free_field).barcode == (
        barcode
    )


def test_the_due_date_factor_restarts_at_1000_on_2025_02_22() -> None:
    assert due_date_factor(date(2000, 7, 3)) == 1000
    assert due_date_factor(date(2025, 2, 21)) == 9999
    assert due_date_factor(date(2025, 2, 22)) == 1000
    assert due_date_factor(date(2025, 3, 10)) == 1016
    assert due_date_factor(date(2049, 10, 13)) == 9999
    assert due_date_factor(date(2049, 10, 14)) == 1000


def test_a_date_before_the_first_four_digit_factor_is_refused() -> None:
    with pytest.raises(BoletoError):
        due_date_factor(date(2000, 7, 2))


def test_a_factor_decodes_to_the_cycle_nearest_the_reference_date() -> None:
    assert due_date_from_factor(1016, near=date(2025, 3, 1)) == date(2025, 3, 10)
    assert due_date_from_factor(1016, near=date(2000, 7, 1)) == date(2000, 7, 19)
    assert due_date_from_factor(1000, near=date(2049, 10, 1)) == date(2049, 10, 14)


def test_the_post_reset_illustration_encodes_as_computed() -> None:
    boleto = Boleto.create(
        "001", date(2025, 3, 10), 295295, "0000007777777000008765418"
    )
    assert boleto.barcode == "00192101600002952950000007777777000008765418"
    assert boleto.digitable_line == (
        "00190.00009 07777.777009 00087.654182 2 10160000295295"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("00190.00008 07777.777009 00087.654182 6 49000000295295", "field 1"),
        ("00190.00009 07777.777008 00087.654182 6 49000000295295", "field 2"),
        ("00190.00009 07777.777009 00087.654181 6 49000000295295", "field 3"),
        ("00190.00009 07777.777009 00087.654182 5 49000000295295", "general"),
        ("00190.00009 07777.777009 00087.654182 6 4900000029529", "47 digits"),
        ("00190.00009 07777.777009 00087.654182 6 4900000029529x", "47 digits"),
    ],
)
def test_a_line_with_a_wrong_digit_is_refused(line: str, message: str) -> None:
    with pytest.raises(BoletoError, match=message):
        line_to_barcode(line)


@pytest.mark.parametrize(
    ("barcode", "message"),
    [
        ("00196490000002952950000007777777000008765419", "general"),
        ("00186490000002952950000007777777000008765418", "currency"),
        ("0019649000000295295000000777777700000876541", "44 digits"),
    ],
)
def test_a_barcode_with_a_wrong_digit_is_refused(barcode: str, message: str) -> None:
    with pytest.raises(BoletoError, match=message):
        Boleto.from_barcode(barcode)


@given(
    amount=st.integers(min_value=0, max_value=MAX_AMOUNT_CENTS),
    due=st.dates(min_value=date(2000, 7, 3), max_value=date(2100, 12, 31)),
    bank=st.from_regex(r"[0-9]{3}", fullmatch=True),
    free=st.from_regex(r"[0-9]{25}", fullmatch=True),
)
def test_barcode_and_line_round_trip_for_any_amount_and_due_date(
    amount: int, due: date, bank: str, free: str
) -> None:
    boleto = Boleto.create(bank, due, amount, free)
    barcode = boleto.barcode
    line = boleto.digitable_line
    assert line_to_barcode(line) == barcode
    assert format_line(barcode_to_line(barcode)) == line
    decoded = Boleto.from_digitable_line(line)
    assert decoded == boleto
    assert decoded.due_date(near=due + timedelta(days=30)) == due
