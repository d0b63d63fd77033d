"""The readers of one ledger decode each new event once and share it."""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from api.bootstrap import reader_of
from application.ledger import Ledger
from projections.reader import EventReader, RecentEvents
from tests.builders import a_client, a_reseller


def test_readers_of_one_ledger_share_the_events_one_of_them_decoded(
    ledger: Ledger,
) -> None:
    start = ledger.recorder.max_notification_id() or 0
    reseller_id = a_reseller(ledger).reseller.id
    a_client(ledger, reseller_id)
    views, process = reader_of(ledger), reader_of(ledger)
    first = views.read(start, 50)
    again = process.read(start, 50)
    assert [p for p, _ in first] == [p for p, _ in again]
    assert len(first) >= 2
    assert all(a is b for (_, a), (_, b) in zip(first, again, strict=True))
    # A reader of its own decodes afresh: equal events, other objects.
    alone = EventReader(ledger.recorder, ledger.mapper).read(start, 50)
    assert all(
        a is not b and vars(a) == vars(b)
        for (_, a), (_, b) in zip(first, alone, strict=True)
    )


def test_a_kept_event_serves_only_the_stored_event_it_came_from() -> None:
    recent = RecentEvents(size=3)
    stored = StoredEvent(uuid4(), 1, "topic", b"{}")
    event = object()
    recent.put(7, stored, event)
    assert recent.get(7, stored) is event
    assert recent.get(7, StoredEvent(uuid4(), 1, "topic", b"{}")) is None
    assert recent.get(7, StoredEvent(stored.originator_id, 2, "t", b"{}")) is None
    assert recent.get(8, stored) is None
    for position in (8, 9, 10):
        recent.put(position, stored, object())
    assert recent.get(7, stored) is None  # the oldest went first
    assert recent.get(10, stored) is not None
