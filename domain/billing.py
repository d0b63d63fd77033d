"""A reseller's billing settings: late fees, notices, dunning and automatic billing.

The settings are facts on the reseller (``Reseller.BillingSettingsChanged`` records
the whole set after each change), not a side table, so an auditor sees when each
percentage changed and which invoices were issued under it. Invoices copy the fine
and the interest when they are issued; later changes never touch them.

| setting | range | default |
|---|---|---|
| ``fine_percent`` | 0.00..10.00 | 0.00 |
| ``interest_monthly_percent`` | 0.00..10.00 | 0.00 |
| ``reminder_days_before_due`` | 1..30 or None | None |
| ``suspend_after_days_overdue`` | 1..365 or None | None |
| ``auto_billing_day`` | 1..28 or None | None |
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from domain.errors import InvalidInputError
from domain.fees import parse_percent

MAX_SETTING_PERCENT = Decimal(10)
NO_PERCENT = Decimal("0.00")
DAY_RANGES: dict[str, tuple[int, int]] = {
    "reminder_days_before_due": (1, 30),
    "suspend_after_days_overdue": (1, 365),
    "auto_billing_day": (1, 28),
}
PERCENT_FIELDS = ("fine_percent", "interest_monthly_percent")
FIELDS = (*PERCENT_FIELDS, *DAY_RANGES)


@dataclass(frozen=True)
class BillingSettings:
    """The billing settings of one reseller, validated."""

    fine_percent: Decimal = NO_PERCENT
    interest_monthly_percent: Decimal = NO_PERCENT
    reminder_days_before_due: int | None = None
    suspend_after_days_overdue: int | None = None
    auto_billing_day: int | None = None

    def changed(self, changes: dict[str, Any]) -> BillingSettings:
        """These settings with ``changes`` applied, or ``InvalidInputError``."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise InvalidInputError(unknown[0], "is not a billing setting")
        parsed: dict[str, Any] = {}
        for field, value in changes.items():
            if field in PERCENT_FIELDS:
                parsed[field] = _setting_percent(value, field)
            else:
                parsed[field] = _setting_days(value, field)
        return replace(self, **parsed)

    def as_event_fields(self) -> dict[str, Any]:
        """The settings as the event records them (percentages as strings)."""
        return {
            "fine_percent": str(self.fine_percent),
            "interest_monthly_percent": str(self.interest_monthly_percent),
            "reminder_days_before_due": self.reminder_days_before_due,
            "suspend_after_days_overdue": self.suspend_after_days_overdue,
            "auto_billing_day": self.auto_billing_day,
        }


def _setting_percent(value: object, field: str) -> Decimal:
    if value is None:
        raise InvalidInputError(field, "must be a percentage from 0.00 to 10.00")
    percent = parse_percent(value, field)
    if percent > MAX_SETTING_PERCENT:
        raise InvalidInputError(field, "must be between 0.00 and 10.00")
    return percent


def _setting_days(value: object, field: str) -> int | None:
    if value is None:
        return None
    low, high = DAY_RANGES[field]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise InvalidInputError(field, f"must be a whole number from {low} to {high}")
    return value
