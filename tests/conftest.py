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
from typing import Any
from uuid import uuid4

import pytest
from psycopg_pool import ConnectionPool

from api.bootstrap import reader_of
from api.database import (
    create_database,
    drop_database,
    eventsourcing_env,
    temporary_database,
    with_database,
)
from application.ledger import Ledger
from application.passwords import Passwords
from projections.followers import ProjectionRunner
from projections.read_models import ReadModels
from tests.e2e.server import SECRETS, running_server


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with temporary_database(
        "ledger_test",
        os.environ.get("DATABASE_URL"),
        Path(tempfile.mkdtemp(prefix="ledger-tests-")),
    ) as url:
        yield url


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


@pytest.fixture
def other_ledger(ledger: Ledger, ledger_env: dict[str, str]) -> Iterator[Ledger]:
    """A second ``Ledger`` on the same database: another process, as far as caches go."""
    app = Ledger(ledger_env, passwords=ledger.passwords)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(scope="session")
def read_models(ledger: Ledger, database_url: str) -> Iterator[ReadModels]:
    """Every view of the session database, kept live by an in-process runner."""
    pool: ConnectionPool[Any] = ConnectionPool(
        database_url, min_size=1, max_size=8, open=True
    )
    models = ReadModels.build(pool, database_url)
    runner = ProjectionRunner(
        reader_of(ledger), database_url, on_commit=models.watcher.update
    )
    models.watcher.start()
    runner.start()
    try:
        yield models
    finally:
        runner.stop()
        models.watcher.stop()
        pool.close()


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """A database of its own, for tests that run processes against it."""
    dbname = f"ledger_fresh_{uuid4().hex[:10]}"
    create_database(database_url, dbname)
    try:
        yield with_database(database_url, dbname)
    finally:
        drop_database(database_url, dbname)


@pytest.fixture
def fresh_ledger(fresh_database: str) -> Iterator[Ledger]:
    app = Ledger(
        eventsourcing_env(fresh_database, pool_size=2, max_overflow=20),
        passwords=Passwords.fast_for_tests(),
    )
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(scope="session")
def api_database(database_url: str) -> Iterator[str]:
    """The HTTP tests' own database (e2e, reliability and browser tests share it): its server's processes act on every invoice."""
    dbname = f"ledger_api_{uuid4().hex[:10]}"
    create_database(database_url, dbname)
    try:
        yield with_database(database_url, dbname)
    finally:
        drop_database(database_url, dbname)


@pytest.fixture(scope="session")
def api_url(
    api_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {"DATABASE_URL": api_database, **SECRETS}
    with running_server(env, log) as base_url:
        yield base_url


RELIABILITY = Path(__file__).parent / "reliability"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The reliability suite is ``serial``: it kills processes, times tenants against
    each other and owns machine-wide names, so ``make test`` runs it alone after the
    parallel part."""
    serial = pytest.mark.serial
    for item in items:
        if RELIABILITY in Path(str(item.fspath)).parents:
            item.add_marker(serial)
