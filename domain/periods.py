"""The reference period an invoice bills: a month and a year, as text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.errors import InvalidInputError

_MONTH = re.compile(r"0[1-9]|1[0-2]")
_YEAR = re.compile(r"[0-9]{4}")


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
