"""The position watcher learns positions from the runners' announcements."""

from __future__ import annotations

import psycopg

from projections import tracking
from projections.read_models import VIEWS
from projections.watcher import PositionWatcher
from tests.integration.workers import wait_until


def test_an_announcement_moves_the_views_it_names_without_a_query(
    fresh_database: str,
) -> None:
    # No view's tables exist: a watcher that read the positions would see zeros.
    watcher = PositionWatcher(fresh_database, VIEWS)
    watcher.start()
    try:
        assert watcher.connected.wait(10)
        named, other = VIEWS[0], VIEWS[1]
        with psycopg.connect(fresh_database, autocommit=True) as conn:
            tracking.announce(
                conn.cursor(), 41, [f"{other.live_schema()}__rebuild", "nonsense"]
            )
            tracking.announce(conn.cursor(), 42, [named.live_schema()])
        wait_until(
            lambda: watcher.positions[named.name] == 42,
            10,
            "the named view's position was learnt",
        )
        assert watcher.positions[other.name] == 0, "a scratch schema is not a view"
        assert not watcher.wait_for(1, 0.01), "the other views are still at 0"
    finally:
        watcher.stop()


def test_an_unreadable_announcement_makes_the_watcher_read_every_position(
    fresh_database: str,
) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for view in VIEWS:
            view.create(conn.cursor())
            tracking.record_position(conn.cursor(), [view.live_schema()], 7)
    watcher = PositionWatcher(fresh_database, VIEWS)
    watcher.start()
    try:
        assert watcher.wait_for(7, 10)
        with psycopg.connect(fresh_database, autocommit=True) as conn:
            for view in VIEWS:
                tracking.record_position(conn.cursor(), [view.live_schema()], 9)
            conn.execute("SELECT pg_notify(%s, 'an older release')", ["ledger_views"])
        assert watcher.wait_for(9, 0.9), "read again at once, not at the recheck"
    finally:
        watcher.stop()
