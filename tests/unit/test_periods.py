import pytest

from domain.errors import InvalidInputError
from domain.periods import ReferencePeriod


@pytest.mark.parametrize("month", [f"{m:02d}" for m in range(1, 13)])
def test_every_month_01_to_12_is_a_reference(month: str) -> None:
    assert str(ReferencePeriod.parse(month, "2026")) == f"2026-{month}"


@pytest.mark.parametrize("month", ["00", "13", "1", "001", " 1", "ab", 1, None])
def test_a_month_must_be_exactly_two_digits_01_to_12(month: object) -> None:
    with pytest.raises(InvalidInputError, match="reference_month"):
        ReferencePeriod.parse(month, "2026")


@pytest.mark.parametrize("year", ["26", "02026", "20x6", 2026, "", None])
def test_a_year_must_be_exactly_four_digits(year: object) -> None:
    with pytest.raises(InvalidInputError, match="reference_year"):
        ReferencePeriod.parse("01", year)
