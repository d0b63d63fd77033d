"""Billing settings: facts on the reseller, each in its range, copied onto invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Snapshot

from application.ledger import Ledger
from application.passwords import Passwords
from domain.billing import BillingSettings
from domain.errors import InvalidInputError
from domain.resellers import Reseller
from tests.builders import a_cnpj


def test_the_defaults_charge_nothing_and_send_nothing() -> None:
    settings = BillingSettings()
    assert settings.fine_percent == Decimal("0.00")
    assert settings.interest_monthly_percent == Decimal("0.00")
    assert settings.reminder_days_before_due is None
    assert settings.suspend_after_days_overdue is None
    assert settings.auto_billing_day is None


@pytest.mark.parametrize(
    "changes",
    [
        {"fine_percent": "10.00", "interest_monthly_percent": "0"},
        {"fine_percent": "2", "interest_monthly_percent": "1.5"},
        {"reminder_days_before_due": 1, "suspend_after_days_overdue": 365},
        {"reminder_days_before_due": 30, "auto_billing_day": 28},
        {"auto_billing_day": None, "suspend_after_days_overdue": None},
    ],
)
def test_values_in_range_are_accepted(changes: dict[str, Any]) -> None:
    settings = BillingSettings().changed(changes)
    for field, value in changes.items():
        expected = Decimal(value) if "percent" in field else value
        assert getattr(settings, field) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fine_percent", "10.01"),
        ("fine_percent", "-1"),
        ("fine_percent", "1.234"),
        ("fine_percent", "NaN"),
        ("fine_percent", None),
        ("interest_monthly_percent", "abc"),
        ("reminder_days_before_due", 0),
        ("reminder_days_before_due", 31),
        ("suspend_after_days_overdue", 366),
        ("auto_billing_day", 29),
        ("auto_billing_day", True),
        ("auto_billing_day", "5"),
        ("late_fee", "1.00"),
    ],
)
def test_values_out_of_range_are_refused_naming_the_field(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        BillingSettings().changed({field: value})
    assert refused.value.field == field


def test_a_change_that_changes_nothing_records_nothing() -> None:
    reseller = Reseller.register(uuid4(), "Revenda", a_cnpj(), "r@example.com")
    reseller.change_billing_settings({"fine_percent": "2.00"})
    version = reseller.version
    reseller.change_billing_settings({"fine_percent": "2"})
    assert reseller.version == version


def test_a_snapshot_from_before_the_settings_reads_the_defaults() -> None:
    ledger = Ledger(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        passwords=Passwords.fast_for_tests(),
    )
    reseller = Reseller.register(uuid4(), "Revenda", a_cnpj(), "r@example.com")
    reseller.collect_events()
    snapshot = ledger.snapshot_class.take(reseller)
    state = ledger.mapper.to_stored_event(snapshot)
    stripped = _without_settings(state.state)
    snapshot_event = ledger.mapper.to_domain_event(
        type(state)(
            originator_id=state.originator_id,
            originator_version=state.originator_version,
            topic=state.topic,
            state=stripped,
        )
    )
    assert isinstance(snapshot_event, Snapshot)
    revived = snapshot_event.mutate(None)
    assert isinstance(revived, Reseller)
    assert revived.billing_settings == BillingSettings()


def _without_settings(state: bytes) -> bytes:
    import json  # noqa: PLC0415 - only this helper edits stored bytes

    document = json.loads(state)
    for field in (
        "fine_percent",
        "interest_monthly_percent",
        "reminder_days_before_due",
        "suspend_after_days_overdue",
        "auto_billing_day",
    ):
        document["state"].pop(field)
    document["state"].pop("class_version", None)
    return json.dumps(document).encode()
