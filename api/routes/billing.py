"""Billing: the reseller's billing settings (fees, notices, dunning, auto billing)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.auth import Owner, Reader
from api.deps import DecimalJSONRoute, LedgerDep, set_position
from api.problems import ProblemError, documented
from api.schemas import BillingSettingsPublic, BillingSettingsUpdate
from domain.billing import PERCENT_FIELDS, BillingSettings

router = APIRouter(route_class=DecimalJSONRoute)


def _public(settings: BillingSettings) -> BillingSettingsPublic:
    return BillingSettingsPublic(
        fine_percent=str(settings.fine_percent),
        interest_monthly_percent=str(settings.interest_monthly_percent),
        reminder_days_before_due=settings.reminder_days_before_due,
        suspend_after_days_overdue=settings.suspend_after_days_overdue,
        auto_billing_day=settings.auto_billing_day,
    )


@router.get("/v1/settings/billing", tags=["billing"], responses=documented(401, 403))
def get_billing_settings(caller: Reader, ledger: LedgerDep) -> BillingSettingsPublic:
    """The reseller's billing settings."""
    return _public(ledger.billing_settings(caller.reseller_id))


@router.patch(
    "/v1/settings/billing",
    tags=["billing"],
    responses=documented(400, 401, 403, 422),
)
def change_billing_settings(
    body: BillingSettingsUpdate, caller: Owner, ledger: LedgerDep, response: Response
) -> BillingSettingsPublic:
    """Change some billing settings; invoices issued afterwards follow them."""
    changes = body.model_dump(exclude_unset=True)
    for field in PERCENT_FIELDS:
        if field in changes and changes[field] is None:
            raise ProblemError(
                422,
                f"{field} cannot be removed; set it to 0.00 instead",
                errors=[{"loc": ["body", field], "msg": "must not be null"}],
            )
    recorded = ledger.change_billing_settings(caller.reseller_id, changes)
    set_position(response, ledger, recorded.position)
    return _public(recorded.aggregate.billing_settings)
