"""Event topics and fields are persisted contracts.

The pinned list fails when an event class is added, renamed or removed without a
conscious decision; each golden file holds events as one version first stored them
(0.1, then 0.2 for the events it added) and they must keep decoding to the same
values whatever the code becomes. An event class that gained fields (a new
``class_version``) decodes its old events with the values its upcaster gives,
listed in ``UPCAST_DEFAULTS``.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import StoredEvent

from application.ledger import Ledger
from application.passwords import Passwords
from domain.base import LedgerAggregate
from domain.billing_runs import BillingRun
from domain.clients import Client
from domain.contracts import Contract
from domain.credits import Credit
from domain.invoices import Invoice
from domain.notifications import ProviderNotification
from domain.resellers import Reseller
from domain.users import User

GOLDEN_FILES = sorted((Path(__file__).parent.parent / "golden").glob("events-v*.json"))
AGGREGATES: list[type[LedgerAggregate]] = [
    Reseller,
    User,
    Client,
    Contract,
    Invoice,
    ProviderNotification,
    Credit,
    BillingRun,
]
PINNED_TOPICS = {
    "revenda.Reseller": [
        "revenda.Reseller.Registered",
        "revenda.Reseller.InvoiceCodeAssigned",
        "revenda.Reseller.BillingSettingsChanged",
    ],
    "revenda.User": [
        "revenda.User.Added",
        "revenda.User.PasswordChanged",
        "revenda.User.RoleChanged",
        "revenda.User.Disabled",
        "revenda.User.Enabled",
    ],
    "revenda.Client": ["revenda.Client.Registered", "revenda.Client.Updated"],
    "revenda.Contract": [
        "revenda.Contract.Opened",
        "revenda.Contract.Activated",
        "revenda.Contract.Suspended",
        "revenda.Contract.Cancelled",
        "revenda.Contract.PlanChanged",
        "revenda.Contract.PlanRemoved",
        "revenda.Contract.Reinstated",
    ],
    "revenda.Invoice": [
        "revenda.Invoice.Issued",
        "revenda.Invoice.Registered",
        "revenda.Invoice.RegistrationFailed",
        "revenda.Invoice.RegistrationRetried",
        "revenda.Invoice.BecameOverdue",
        "revenda.Invoice.Paid",
        "revenda.Invoice.PaymentReceived",
        "revenda.Invoice.Cancelled",
        "revenda.Invoice.Refunded",
    ],
    "revenda.ProviderNotification": ["revenda.ProviderNotification.Processed"],
    "revenda.Credit": ["revenda.Credit.Created", "revenda.Credit.Refunded"],
    "revenda.BillingRun": ["revenda.BillingRun.Completed"],
}
UPCAST_DEFAULTS = {
    ("revenda.Invoice.Issued", None): {
        "fine_percent": "0.00",
        "interest_monthly_percent": "0.00",
        "billing_reference": "None",
    },
    ("revenda.Invoice.Issued", 2): {"billing_reference": "None"},
    ("revenda.Contract.Suspended", None): {"reason": "manual"},
}
"""Fields an upcaster adds to events stored before their class's current version
(keyed by the stored ``class_version``; none stored means version 1)."""


def _event_topics(aggregate: type[LedgerAggregate]) -> list[str]:
    return [
        str(getattr(value, "TOPIC", ""))
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, CanMutateAggregate)
        and name != "Event"
    ]


def test_every_aggregate_and_event_topic_is_pinned() -> None:
    actual = {aggregate.TOPIC: _event_topics(aggregate) for aggregate in AGGREGATES}
    assert actual == PINNED_TOPICS


def _golden_events() -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for golden in GOLDEN_FILES:
        events += json.loads(golden.read_text())["events"]
    return events


def test_the_golden_files_of_each_version_are_there() -> None:
    assert [path.name for path in GOLDEN_FILES] == [
        "events-v1.json",
        "events-v2.json",
        "events-v3.json",
    ]


def test_the_golden_file_covers_every_event_topic() -> None:
    golden_topics = {str(record["topic"]) for record in _golden_events()}
    pinned = {topic for topics in PINNED_TOPICS.values() for topic in topics}
    assert golden_topics == pinned


@pytest.mark.parametrize(
    "record", _golden_events(), ids=lambda record: str(record["topic"])
)
def test_events_stored_by_every_version_still_decode_to_the_same_values(
    record: dict[str, object],
) -> None:
    app = Ledger(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        passwords=Passwords.fast_for_tests(),
    )
    stored = StoredEvent(
        originator_id=UUID(str(record["originator_id"])),
        originator_version=int(str(record["originator_version"])),
        topic=str(record["topic"]),
        state=str(record["state"]).encode(),
    )
    event = app.mapper.to_domain_event(stored)
    assert record["topic"] == type(event).TOPIC  # type: ignore[attr-defined]
    decoded = {name: str(value) for name, value in vars(event).items()}
    state = json.loads(str(record["state"]))
    upcast = UPCAST_DEFAULTS.get((str(record["topic"]), state.get("class_version")))
    assert decoded == {**record["decoded"], **(upcast or {})}  # type: ignore[dict-item]
