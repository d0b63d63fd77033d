"""Shared fixtures: a fresh PostgreSQL database per test session, and the ledger.

With ``DATABASE_URL`` set, the session creates its own database on that server and
drops it at the end; without it, an embedded PostgreSQL is started (and stopped)
for the session. Nothing is started until a test asks for the database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from api.database import (
    EmbeddedPostgres,
    create_database,
    drop_database,
    eventsourcing_env,
    with_database,
)
from application.ledger import Ledger
from application.passwords import Passwords


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server_url = os.environ.get("DATABASE_URL")
    embedded: EmbeddedPostgres | None = None
    if not server_url:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ledger-tests-")))
        embedded.start()
        server_url = embedded.server_url
    dbname = f"ledger_test_{uuid4().hex[:12]}"
    create_database(server_url, dbname)
    try:
        yield with_database(server_url, dbname)
    finally:
        drop_database(server_url, dbname)
        if embedded is not None:
            embedded.stop()


@pytest.fixture(scope="session")
def ledger_env(database_url: str) -> dict[str, str]:
    return eventsourcing_env(database_url, pool_size=4, max_overflow=30)


@pytest.fixture(scope="session")
def ledger(ledger_env: dict[str, str]) -> Iterator[Ledger]:
    app = Ledger(ledger_env, passwords=Passwords.fast_for_tests())
    try:
        yield app
    finally:
        app.close()
