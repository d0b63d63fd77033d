"""Periods: the month an invoice bills, and the range of dates the ledger takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from domain.errors import InvalidInputError

_MONTH = re.compile(r"0[1-9]|1[0-2]")
_YEAR = re.compile(r"[0-9]{4}")
FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)


def check_date_range(value: date, field: str) -> None:
    """Refuse a date (or timestamp) outside 2000-01-01..2099-12-31.

    Far dates are typing mistakes or hostile: year 1 or 9999 overflows date
    arithmetic (a due date plus grace days) in the views and processes.
    """
    day = value.date() if isinstance(value, datetime) else value
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InvalidInputError(field, f"must be between {FIRST_DATE} and {LAST_DATE}")


@dataclass(frozen=True, slots=True)
class ReferencePeriod:
    """Month exactly ``01``..``12`` and year exactly four digits."""

    month: str
    year: str

    @classmethod
    def parse(cls, month: object, year: object) -> ReferencePeriod:
        """Validate both parts; neither is padded or coerced."""
        if not isinstance(month, str) or _MONTH.fullmatch(month) is None:
            raise InvalidInputError("reference_month", "must be two digits, 01 to 12")
        if not isinstance(year, str) or _YEAR.fullmatch(year) is None:
            raise InvalidInputError("reference_year", "must be exactly four digits")
        return cls(month=month, year=year)

    def __str__(self) -> str:
        return f"{self.year}-{self.month}"
