"""Money: integer centavos, parsed from decimal text and formatted back.

Amounts are positive and at most R$ 99.999.999,99 with at most two decimal places.
Parsing works on decimal text so that no binary float ever decides a centavo: a
``float`` is read through its shortest ``repr`` (``150.5`` → ``"150.5"``), so a value
such as ``0.1 + 0.2`` (``0.30000000000000004``) is refused for having too many places.
"""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import InvalidInputError

MAX_AMOUNT_CENTS = 99_999_999_99
_DECIMAL_TEXT = re.compile(r"(?P<units>[0-9]{1,16})(?:\.(?P<places>[0-9]{1,2}))?")


def parse_amount(value: object, field: str = "amount") -> int:
    """Return the amount in centavos, or raise ``InvalidInputError``.

    Accepts decimal text (``"150.00"``, ``"12.5"``, ``"150"``), ``int``, ``Decimal``
    and ``float`` (read by its decimal text). Exponents, signs, more than two
    places, zero and amounts above the maximum are refused.
    """
    if isinstance(value, bool):
        raise InvalidInputError(field, "must be a decimal amount, not a boolean")
    if isinstance(value, int):
        cents = value * 100
    elif isinstance(value, float | Decimal | str):
        text = repr(value) if isinstance(value, float) else str(value)
        match = _DECIMAL_TEXT.fullmatch(text)
        if match is None:
            raise InvalidInputError(
                field, "must be a decimal amount with at most two places, e.g. 150.00"
            )
        places = (match["places"] or "").ljust(2, "0")
        cents = int(match["units"]) * 100 + int(places)
    else:
        raise InvalidInputError(field, "must be a decimal amount")
    check_amount_cents(cents, field)
    return cents


def check_amount_cents(cents: int, field: str = "amount") -> None:
    """Refuse an amount in centavos outside ``1..MAX_AMOUNT_CENTS``."""
    if cents <= 0:
        raise InvalidInputError(field, "must be greater than zero")
    if cents > MAX_AMOUNT_CENTS:
        raise InvalidInputError(field, "must be at most 99999999.99")


def format_amount(cents: int) -> str:
    """Format centavos as API decimal text with two places: ``15000`` → ``"150.00"``."""
    sign = "-" if cents < 0 else ""
    units, places = divmod(abs(cents), 100)
    return f"{sign}{units}.{places:02d}"


def format_brl(cents: int) -> str:
    """Format centavos for people in Brazil: ``123456`` → ``"R$ 1.234,56"``."""
    sign = "-" if cents < 0 else ""
    units, places = divmod(abs(cents), 100)
    grouped = f"{units:,}".replace(",", ".")
    return f"{sign}R$ {grouped},{places:02d}"
