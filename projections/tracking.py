"""Tracking tables: how far in the log each view and each process has got.

Every view's schema and every process's schema holds a ``tracking`` table with one
row, the position of the last event applied. This module owns every statement on
those tables: creating them, reading positions (optionally row-locked), moving them
forward, holding them still while a rebuild swaps schemas, and announcing the views'
new positions on ``ledger_views``.

Moving forward is eventsourcing's ``TrackingRecorder`` contract: a move that would
not advance the position fails the whole transaction, so no event is applied twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from eventsourcing.persistence import IntegrityError
from psycopg import Cursor, sql

from projections.store import rendered

APPLICATION_NAME = "ledger"
"""The upstream application every view and process follows (``Ledger.name``)."""
VIEWS_CHANNEL = "ledger_views"
"""Where the views' new positions are announced (see ``PositionWatcher``)."""


def create_tracking(cursor: Cursor[Any], schema: str) -> None:
    """Create ``schema`` and its ``tracking`` table if missing."""
    cursor.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
    )
    cursor.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.tracking "
            "(application_name text PRIMARY KEY, notification_id bigint NOT NULL)"
        ).format(sql.Identifier(schema))
    )


def positions_of(
    cursor: Cursor[Any], schemas: Sequence[str], *, lock: bool = False
) -> list[int]:
    """Every schema's position (0 before any event), in one round trip.

    With ``lock`` the rows are locked until the transaction ends, so that no other
    writer moves them meanwhile.
    """
    return received_positions(
        request_positions(cursor, schemas, lock=lock), len(schemas)
    )


def request_positions(
    cursor: Cursor[Any], schemas: Sequence[str], *, lock: bool = False
) -> Cursor[Any]:
    """Send ``positions_of``'s query; ``received_positions`` reads its answer.

    In pipeline mode, what is sent next goes in the same round trip.
    """
    mode = "lock" if lock else "read"
    statement = rendered(
        ("positions", mode, *schemas),
        lambda: sql.SQL(" UNION ALL ").join(
            sql.SQL(
                "(SELECT {0}::int AS n, (SELECT notification_id FROM {1}.tracking "
                "WHERE application_name = %s {2}) AS position)"
            ).format(
                sql.Literal(number),
                sql.Identifier(schema),
                sql.SQL("FOR UPDATE" if lock else ""),
            )
            for number, schema in enumerate(schemas)
        ),
    )
    return cursor.execute(statement, [APPLICATION_NAME] * len(schemas))


def received_positions(cursor: Cursor[Any], count: int) -> list[int]:
    """The positions ``request_positions`` asked ``cursor`` for, in order."""
    found = dict(cursor.fetchall())
    return [int(found.get(number) or 0) for number in range(count)]


def position_of(cursor: Cursor[Any], schema: str, *, lock: bool = False) -> int:
    """One schema's position (0 before any event)."""
    return positions_of(cursor, [schema], lock=lock)[0]


def record_position(cursor: Cursor[Any], schemas: Sequence[str], at: int) -> None:
    """Move every schema's tracking to ``at`` in one statement, or fail.

    Raises ``IntegrityError`` (which fails the transaction) when any of them is
    already at or beyond ``at``.
    """
    if not schemas:
        return
    statement = rendered(("record", *schemas), lambda: _record_statement(schemas))
    row = cursor.execute(
        statement, {"app": APPLICATION_NAME, "position": at}
    ).fetchone()
    if row is None or row[0] != len(schemas):
        msg = f"{', '.join(schemas)}: already at or beyond position {at}"
        raise IntegrityError(msg)


def _record_statement(schemas: Sequence[str]) -> sql.Composed:
    moves = sql.SQL(", ").join(
        sql.SQL(
            "m{0} AS (INSERT INTO {1}.tracking AS t VALUES (%(app)s, %(position)s) "
            "ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = EXCLUDED.notification_id "
            "WHERE t.notification_id < EXCLUDED.notification_id RETURNING 1)"
        ).format(sql.SQL(str(number)), sql.Identifier(schema))
        for number, schema in enumerate(schemas)
    )
    total = sql.SQL(" + ").join(
        sql.SQL("(SELECT count(*) FROM m{})").format(sql.SQL(str(number)))
        for number in range(len(schemas))
    )
    return sql.SQL("WITH {} SELECT {}").format(moves, total)


def hold(
    cursor: Cursor[Any],
    schema: str,
    mode: Literal["EXCLUSIVE", "ACCESS EXCLUSIVE"],
) -> None:
    """Lock ``schema``'s tracking table until the transaction ends.

    ``EXCLUSIVE`` stops its writer (the live runner waits) and lets readers on;
    ``ACCESS EXCLUSIVE`` stops readers too, as a schema swap needs.
    """
    cursor.execute(
        sql.SQL("LOCK TABLE {}.tracking IN {} MODE").format(
            sql.Identifier(schema), sql.SQL(mode)
        )
    )


def announce(cursor: Cursor[Any], at: int, schemas: Sequence[str]) -> None:
    """Tell every ``PositionWatcher`` that ``schemas`` reached ``at`` (on commit).

    The payload (``<position> <schema>,<schema>...``, see ``parse_announcement``)
    saves each watcher a query per commit; a watcher ignores the schemas it does
    not follow (a rebuild's or a verification's scratch schemas).
    """
    payload = f"{at} {','.join(schemas)}"
    cursor.execute("SELECT pg_notify(%s, %s)", (VIEWS_CHANNEL, payload))


def parse_announcement(payload: str) -> tuple[int, list[str]] | None:
    """The position and schemas of an ``announce`` payload (None if not one)."""
    position, _, schemas = payload.partition(" ")
    if not position.isdigit() or not schemas:
        return None
    return int(position), schemas.split(",")
