"""Billing: the reseller's billing settings and its billing runs.

Settings: fees, notices, dunning, automatic billing day.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import presenters
from api.auth import Commander, Owner, Reader
from api.deps import (
    After,
    Cursor,
    DecimalJSONRoute,
    LedgerDep,
    Limit,
    ViewsDep,
    set_position,
    wait_after,
)
from api.problems import ProblemError, documented
from api.schemas import (
    BillingRunCreate,
    BillingRunPublic,
    BillingRunsPublic,
    BillingSettingsPublic,
    BillingSettingsUpdate,
)
from domain.billing import PERCENT_FIELDS, BillingSettings

RUN_CATCH_UP_SECONDS = 10.0
"""How long a run waits for the contracts view to reach the log's head."""

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


@router.post(
    "/v1/billing-runs",
    status_code=201,
    tags=["billing"],
    responses=documented(400, 401, 403, 422, 503),
)
def create_billing_run(
    body: BillingRunCreate,
    caller: Commander,
    ledger: LedgerDep,
    views: ViewsDep,
    response: Response,
) -> BillingRunPublic:
    """Bill the reference month to every active contract with a plan, once each.

    Contracts billed for that month by an earlier (or a racing) run are skipped.
    """
    # The candidates come from the contracts view: it must have seen every
    # contract activated or given a plan before this request.
    head = ledger.recorder.max_notification_id() or 0
    if not views.wait_for(head, RUN_CATCH_UP_SECONDS):
        raise ProblemError(
            503,
            "the views are catching up with recent changes; retry shortly",
            headers={"Retry-After": "1"},
        )
    recorded = ledger.run_billing(
        caller.reseller_id,
        body.reference,
        views.contracts.billable(caller.reseller_id),
        issue_date=body.issue_date,
    )
    assert recorded is not None  # noqa: S101 - only automatic runs return None
    set_position(response, ledger, recorded.position)
    return presenters.billing_run(recorded.aggregate)


@router.get("/v1/billing-runs", tags=["billing"], responses=documented(401, 422, 503))
def list_billing_runs(
    caller: Reader,
    views: ViewsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> BillingRunsPublic:
    """The tenant's billing runs, newest first."""
    wait_after(views, after)
    page = views.billing.runs(caller.reseller_id, limit=limit, cursor=cursor)
    return BillingRunsPublic(
        items=[presenters.billing_run_row(row) for row in page.items],
        next_cursor=page.next_cursor,
    )
