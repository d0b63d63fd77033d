"""Applying a batch of events to views: rows and tracking in one transaction.

The live runner, rebuild and verify all write views this way. Each target's position
is read and row-locked inside the transaction, so the events a view already has are
skipped and two writers can never both apply the same event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from projections import tracking
from projections.reader import Batch
from projections.store import Row, Rows
from projections.view import View


@dataclass
class Target:
    """A view written in one schema.

    ``fresh`` marks tables created empty for a replay that nothing else writes: the
    rows and keys written are then remembered across batches (see ``Rows``).
    """

    view: View
    schema: str
    fresh: bool = False
    cache: dict[tuple[str, object], Row | None] = field(default_factory=dict)
    written: dict[str, set[object]] = field(default_factory=dict)


def apply_batch(
    conn: psycopg.Connection[Any], targets: Sequence[Target], batch: Batch
) -> int:
    """Apply ``batch`` to every target in one transaction; return rows written.

    Each target's tracking moves to the end of the batch even when no event of the
    batch concerns it, and the new position is announced on commit.
    """
    if not batch:
        return 0
    last = batch[-1][0]
    written = 0
    with conn.transaction(), conn.cursor() as cursor:
        positions = tracking.positions_of(
            cursor, [t.schema for t in targets], lock=True
        )
        advanced: list[str] = []
        for target, position in zip(targets, positions, strict=True):
            todo = [(p, e) for p, e in batch if p > position]
            if not todo:
                continue
            advanced.append(target.schema)
            written += _apply(cursor, target, todo)
        tracking.record_position(cursor, advanced, last)
        tracking.announce(cursor, last)
    return written


def _apply(cursor: psycopg.Cursor[Any], target: Target, todo: Batch) -> int:
    """Apply ``todo`` to one target's rows; return the rows written."""
    rows = (
        Rows(target.schema, cursor, target.cache, target.written)
        if target.fresh
        else Rows(target.schema, cursor)
    )
    rows.prefetch(w for _, e in todo for w in target.view.wanted_rows(e))
    for p, e in todo:
        target.view.apply(rows, e, p)
    return rows.flush(target.view.tables)
