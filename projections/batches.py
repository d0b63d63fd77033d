"""Applying a batch of events to views: rows and tracking in one transaction.

The live runner, rebuild and verify all write views this way. Each target's position
is read and row-locked inside the transaction, so the events a view already has are
skipped and two writers can never both apply the same event. An event that keeps
failing is set aside (see ``projections.set_aside``); the batch goes on without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from projections import set_aside, tracking
from projections.reader import Batch, Undecodable
from projections.set_aside import SetAsideEvent
from projections.store import Row, Rows
from projections.view import View

log = logging.getLogger(__name__)

SetAsideHook = Callable[[psycopg.Cursor[Any], SetAsideEvent], None]
"""What to do with an event set aside: record it (live), collect it (rebuild)..."""


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
    conn: psycopg.Connection[Any],
    targets: Sequence[Target],
    batch: Batch,
    on_set_aside: SetAsideHook = set_aside.record,
) -> int:
    """Apply ``batch`` to every target in one transaction; return rows written.

    Each target's tracking moves to the end of the batch even when no event of the
    batch concerns it, and the new position is announced on commit. When the batch
    fails because of an event (see ``set_aside.is_poison``), it is applied again,
    each target in a savepoint, and a target that fails on it one event at a time:
    only the events that keep failing are set aside (handed to ``on_set_aside`` in
    the same transaction), every other one is applied.
    """
    if not batch:
        return 0
    try:
        if _can_pipeline(targets, batch):
            return _apply_pipelined(conn, targets, batch)
        return _apply_batch(conn, targets, batch, None)
    except Exception as error:
        if not set_aside.is_poison(error):
            raise
        for target in targets:
            target.cache.clear()  # it may hold rows of the rolled-back batch
        return _apply_batch(conn, targets, batch, on_set_aside)


def _apply_batch(
    conn: psycopg.Connection[Any],
    targets: Sequence[Target],
    batch: Batch,
    on_set_aside: SetAsideHook | None,
) -> int:
    """One transaction: together, or (with ``on_set_aside``) event by event."""
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
            if on_set_aside is None:
                written += apply_events(cursor, target, todo)
            else:
                written += _apply_or_split(conn, cursor, target, todo, on_set_aside)
        tracking.record_position(cursor, advanced, last)
        tracking.announce(cursor, last, [t.schema for t in targets])
    return written


def _can_pipeline(targets: Sequence[Target], batch: Batch) -> bool:
    """Whether the batch may take the pipelined path (the live runner's).

    Not into fresh tables (a rebuild writes those with COPY), nor with an event
    that cannot be decoded (it fails, and the batch is split at once).
    """
    return (
        psycopg.Pipeline.is_supported()
        and not any(t.fresh for t in targets)
        and not any(type(e) is Undecodable for _, e in batch)
    )


def _apply_pipelined(
    conn: psycopg.Connection[Any], targets: Sequence[Target], batch: Batch
) -> int:
    """``_apply_batch`` (rows and tracking in one transaction) in three round trips.

    The statements are the same, in the same order, sent in pipeline mode: the
    tracking rows are locked and every row any event of the batch wants is read in
    one round trip (a view whose position already covers some events gets rows it
    does not use); the rows are then written, and the tracking moved (checked), in
    a second; the announcement and the commit go in the third. Statements of one
    view no longer wait for another's round trips. Any failure rolls the whole
    transaction back, as on the other path, and ``apply_batch`` then applies the
    batch there, where an event that keeps failing is set aside.
    """
    if not conn.autocommit:  # the runner's connections are; BEGIN is sent here
        return _apply_batch(conn, targets, batch, None)
    last = batch[-1][0]
    schemas = [t.schema for t in targets]
    written = 0
    try:
        with conn.pipeline(), conn.cursor() as cursor:
            cursor.execute("BEGIN")
            locked = tracking.request_positions(cursor, schemas, lock=True)
            rows = [Rows(t.schema, cursor) for t in targets]
            pending = [
                r.request(w for _, e in batch for w in t.view.wanted_rows(e))
                for r, t in zip(rows, targets, strict=True)
            ]
            positions = tracking.received_positions(locked, len(schemas))
            advanced: list[str] = []
            for target, position, r, queries in zip(
                targets, positions, rows, pending, strict=True
            ):
                r.receive(queries)
                todo = [(p, e) for p, e in batch if p > position]
                if not todo:
                    continue
                advanced.append(target.schema)
                for p, e in todo:
                    target.view.apply(r, e, p)
                written += r.flush(target.view.tables)
            tracking.record_position(cursor, advanced, last)
            tracking.announce(cursor, last, schemas)
            cursor.execute("COMMIT")
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    return written


def apply_events(cursor: psycopg.Cursor[Any], target: Target, todo: Batch) -> int:
    """Apply ``todo`` to one target's rows; return the rows written."""
    rows = (
        Rows(target.schema, cursor, target.cache, target.written)
        if target.fresh
        else Rows(target.schema, cursor)
    )
    for _, e in todo:
        if type(e) is Undecodable:
            e.fail()  # set aside like an event a handler cannot apply
    rows.prefetch(w for _, e in todo for w in target.view.wanted_rows(e))
    for p, e in todo:
        target.view.apply(rows, e, p)
    return rows.flush(target.view.tables)


def _apply_or_split(
    conn: psycopg.Connection[Any],
    cursor: psycopg.Cursor[Any],
    target: Target,
    todo: Batch,
    on_set_aside: SetAsideHook,
) -> int:
    """Apply ``todo`` together if the target can, else event by event.

    Only the views that fail on the batch pay for applying it one event at a time.
    """
    if len(todo) > 1:
        try:
            with conn.transaction():
                return apply_events(cursor, target, todo)
        except Exception as error:
            target.cache.clear()
            if not set_aside.is_poison(error):
                raise
    return _apply_each(conn, cursor, target, todo, on_set_aside)


def _apply_each(
    conn: psycopg.Connection[Any],
    cursor: psycopg.Cursor[Any],
    target: Target,
    todo: Batch,
    on_set_aside: SetAsideHook,
) -> int:
    """Apply each event in a savepoint, tried a few times, else set aside.

    The failed batch was the event's first attempt; it is tried alone thereafter.
    """
    written = 0
    for position, event in todo:
        for attempt in range(2, set_aside.VIEW_ATTEMPTS + 1):
            try:
                with conn.transaction():
                    written += apply_events(cursor, target, [(position, event)])
                break
            except Exception as error:
                # Keys noted as written by the failed attempt are harmless (they
                # are looked up); rows cached by it are not.
                target.cache.clear()
                if not set_aside.is_poison(error):
                    raise
                if attempt == set_aside.VIEW_ATTEMPTS:
                    found = set_aside.of_event(
                        target.view.name, position, event, error, attempt
                    )
                    log.warning(
                        "view %s cannot apply the event at %s: %s",
                        found.follower,
                        position,
                        found.error,
                    )
                    on_set_aside(cursor, found)
    return written
