"""Billing settings over HTTP: the owner sets late fees that later invoices copy,
and a late payment settles with exactly those fees."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import days_from_today, reference_of
from tests.e2e.conftest import Session

DEFAULTS = {
    "fine_percent": "0.00",
    "interest_monthly_percent": "0.00",
    "reminder_days_before_due": None,
    "suspend_after_days_overdue": None,
    "auto_billing_day": None,
}


def test_a_new_reseller_charges_no_fees_and_sends_no_reminders(
    tenant: Session,
) -> None:
    assert tenant.ok(tenant.get("/v1/settings/billing")) == DEFAULTS


def test_the_owner_changes_some_settings_and_the_rest_stay(tenant: Session) -> None:
    changed = tenant.ok(
        tenant.patch(
            "/v1/settings/billing",
            json={"fine_percent": "2", "suspend_after_days_overdue": 30},
        )
    )
    assert changed == DEFAULTS | {
        "fine_percent": "2.00",
        "suspend_after_days_overdue": 30,
    }
    turned_off = tenant.ok(
        tenant.patch("/v1/settings/billing", json={"suspend_after_days_overdue": None})
    )
    assert turned_off == DEFAULTS | {"fine_percent": "2.00"}
    assert tenant.ok(tenant.get("/v1/settings/billing")) == turned_off


@pytest.mark.parametrize(
    "body",
    [
        {"fine_percent": "10.01"},
        {"interest_monthly_percent": "-0.50"},
        {"fine_percent": "1.005"},
        {"fine_percent": None},
        {"fine_percent": 2},
        {"reminder_days_before_due": 31},
        {"suspend_after_days_overdue": 0},
        {"auto_billing_day": 29},
        {"auto_billing_day": "5"},
        {"late_fee": "1.00"},
        {"fine_percent": "2.00", "auto_billing_day": 31},
    ],
)
def test_a_setting_out_of_range_is_refused_and_nothing_changes(
    tenant: Session, body: dict[str, Any]
) -> None:
    response = tenant.patch("/v1/settings/billing", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert tenant.ok(tenant.get("/v1/settings/billing")) == DEFAULTS


def test_only_the_owner_changes_settings(tenant: Session) -> None:
    for role in ("operator", "finance", "auditor"):
        user = tenant.login_as(role)
        assert user.ok(user.get("/v1/settings/billing")) == DEFAULTS
        refused = user.patch("/v1/settings/billing", json={"fine_percent": "1.00"})
        assert refused.status_code == 403, refused.text
    assert tenant.ok(tenant.get("/v1/settings/billing")) == DEFAULTS


def test_an_invoice_paid_thirty_days_late_settles_with_its_fine_and_interest(
    tenant: Session,
) -> None:
    """R$ 100,00 at 2 % fine and 1 % a month, 30 days late: R$ 3,00 in fees."""
    tenant.ok(
        tenant.patch(
            "/v1/settings/billing",
            json={"fine_percent": "2.00", "interest_monthly_percent": "1.00"},
        )
    )
    client = tenant.billable_client()
    due = days_from_today(-30)
    issued = tenant.ok(
        tenant.invoice(
            client["id"],
            amount="100.00",
            due_date=due,
            issue_date=days_from_today(-35),
            **reference_of(due),
        ),
        201,
    )
    assert (issued["fine_percent"], issued["interest_monthly_percent"]) == (
        "2.00",
        "1.00",
    )
    assert tenant.wait_registered(issued["id"])["status"] in {
        "awaiting_payment",
        "overdue",
    }
    # A later change of the settings leaves the issued invoice as it was.
    tenant.ok(tenant.patch("/v1/settings/billing", json={"fine_percent": "5.00"}))
    paying = tenant.post(
        f"/v1/sandbox/invoices/{issued['id']}/pay", json={"method": "boleto"}
    )
    assert paying.status_code == 202, paying.text
    paid = tenant.wait_for(issued["id"], "paid")
    assert (paid["status"], paid["amount_paid"], paid["amount_fees"]) == (
        "paid",
        "103.00",
        "3.00",
    )
    (payment,) = paid["payments"]
    assert (payment["principal"], payment["fees"], payment["credit"]) == (
        "100.00",
        "3.00",
        "0.00",
    )
