"""Late fees: hand-computed cases of the arithmetic in ``domain.fees``."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.errors import InvalidInputError
from domain.fees import late_fees_cents, parse_percent

DUE = date(2026, 11, 10)


@pytest.mark.parametrize(
    ("amount_cents", "fine", "interest", "days_late", "expected"),
    [
        # Not late: nothing, whatever the terms.
        (10000, "2.00", "1.00", 0, 0),
        (10000, "2.00", "1.00", -5, 0),
        # No terms: nothing, however late.
        (10000, "0.00", "0.00", 400, 0),
        # R$ 100,00, 2 %, 1 % a month, 1 day: 200 + 100 * 1/30 = 200 + 3.33 → 203.
        (10000, "2.00", "1.00", 1, 203),
        # 30 days: one whole month of interest: 200 + 100.
        (10000, "2.00", "1.00", 30, 300),
        # 18 days: 200 + 100 * 18/30 = 200 + 60.
        (10000, "2.00", "1.00", 18, 260),
        # R$ 89,90, 2 %: fine 179.8 → 180; 1 % * 5/30: 14.983… → 15.
        (8990, "2.00", "1.00", 5, 195),
        # Half a centavo rounds up: R$ 0,25 * 2 % = 0.5 → 1 (fine only).
        (25, "2.00", "0.00", 3, 1),
        # Just under half rounds down: R$ 0,24 * 2 % = 0.48 → 0.
        (24, "2.00", "0.00", 3, 0),
        # Each part is rounded on its own: 0.5 → 1 and 0.5 → 1, not 1.0 → 1.
        (25, "2.00", "6.00", 10, 2),
        # Interest only, 45 days at 1.5 %: 100000 * 1.5 % * 1.5 = 2250.
        (100000, "0.00", "1.50", 45, 2250),
        # 365 days at 1 % on R$ 1.000,00: 10000 * 365/30 = 12166.67 → 12167, + 2 %.
        (100000, "2.00", "1.00", 365, 14167),
    ],
)
def test_late_fees_are_fine_plus_interest_each_rounded_half_up(
    amount_cents: int,
    fine: str,
    interest: str,
    days_late: int,
    expected: int,
) -> None:
    assert (
        late_fees_cents(
            amount_cents=amount_cents,
            fine_percent=Decimal(fine),
            interest_monthly_percent=Decimal(interest),
            due_date=DUE,
            paid_on=DUE + timedelta(days=days_late),
        )
        == expected
    )


@pytest.mark.parametrize("value", ["2", "2.5", "0", "100", Decimal("1.25")])
def test_percentages_of_up_to_two_places_from_0_to_100_are_read(value: object) -> None:
    assert parse_percent(value, "fine_percent") == Decimal(str(value))


@pytest.mark.parametrize("value", ["-1", "100.01", "1.234", "NaN", "Infinity", "x"])
def test_other_percentages_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_percent(value, "fine_percent")
