"""Late fees: what an invoice paid after its due date may charge on top of its amount.

Pure arithmetic, in integer centavos from decimal percentages: fine = amount ×
fine_percent / 100, plus interest = amount × interest_monthly_percent / 100 × days
late / 30 (the commercial month), each rounded half-up to the centavo. Nothing is
due on or before the due date.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.errors import InvalidInputError

MAX_PERCENT = Decimal(100)
DAYS_IN_A_MONTH = 30
_CENTAVO = Decimal(1)


def parse_percent(value: object, field: str) -> Decimal:
    """A percentage from 0 to 100 with at most two places, or ``InvalidInputError``."""
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInputError(field, "must be a decimal percentage") from None
    if not percent.is_finite() or not 0 <= percent <= MAX_PERCENT:
        raise InvalidInputError(field, "must be between 0 and 100")
    if percent != percent.quantize(Decimal("0.01")):
        raise InvalidInputError(field, "must have at most two decimal places")
    return percent.quantize(Decimal("0.01"))


def _half_up(value: Decimal) -> int:
    return int(value.quantize(_CENTAVO, rounding=ROUND_HALF_UP))


def late_fees_cents(
    *,
    amount_cents: int,
    fine_percent: Decimal,
    interest_monthly_percent: Decimal,
    due_date: date,
    paid_on: date,
) -> int:
    """The late fees allowed on ``paid_on`` for ``amount_cents`` due on ``due_date``."""
    days_late = (paid_on - due_date).days
    if days_late <= 0:
        return 0
    amount = Decimal(amount_cents)
    fine = _half_up(amount * fine_percent / 100)
    interest = _half_up(
        amount * interest_monthly_percent / 100 * days_late / DAYS_IN_A_MONTH
    )
    return fine + interest
