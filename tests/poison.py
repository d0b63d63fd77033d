"""Poison events for the isolation tests: written straight to the log.

The edges (the API's validation, the domain's checks) may refuse these values; the
views and processes must nonetheless survive them, so the tests record them as an
older release, a bug or a hand-made repair would: as events, bypassing every check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from application.ledger import Ledger
from domain.clients import Client
from domain.invoices import Invoice

OLDEST_DATETIME = datetime(1, 1, 1, tzinfo=UTC)


def inject(ledger: Ledger, aggregate_id: UUID, event_class: type, **fields: Any) -> int:
    """Append ``event_class(**fields)`` to an aggregate; return its log position."""
    history = ledger.history(aggregate_id)
    event = event_class(
        originator_id=aggregate_id,
        originator_version=history[-1].originator_version + 1,
        timestamp=datetime.now(UTC),
        reseller_id=history[0].reseller_id,
        **fields,
    )
    stored = ledger.mapper.to_stored_event(event)
    ids = ledger.recorder.insert_events([stored])
    assert ids
    return ids[-1]


def nul_email(ledger: Ledger, client_id: UUID) -> int:
    """The client's e-mail now holds a NUL (PostgreSQL text refuses it)."""
    client = ledger.history(client_id)[0]
    return inject(
        ledger,
        client_id,
        Client.Updated,
        name=client.name,
        email="nul\x00@example.com.br",
        phone=None,
        city=None,
        state=None,
    )


def paid_in_year_one(ledger: Ledger, invoice_id: UUID, amount_cents: int) -> int:
    """A payment dated 0001-01-01 (date arithmetic on it overflows)."""
    return inject(
        ledger,
        invoice_id,
        Invoice.Paid,
        amount_cents=amount_cents,
        paid_at=OLDEST_DATETIME,
        method="boleto",
    )
