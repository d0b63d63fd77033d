"""The composition root: the one place that reads settings and wires the service."""

from __future__ import annotations

from dataclasses import dataclass

from api.database import eventsourcing_env
from api.settings import Settings, SettingsError
from application.ledger import Ledger


@dataclass
class Container:
    """Everything a running service holds, built once per process."""

    settings: Settings
    database_url: str
    ledger: Ledger

    def close(self) -> None:
        """Release connections."""
        self.ledger.close()


def build_ledger(settings: Settings, database_url: str) -> Ledger:
    """The ``Ledger`` on ``database_url`` with the pool sizes of ``settings``."""
    env = eventsourcing_env(
        database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
    )
    return Ledger(env)


def build_container(settings: Settings) -> Container:
    """Wire the service from ``settings`` (``DATABASE_URL`` must be resolved)."""
    if settings.database_url is None:
        msg = "DATABASE_URL is not set (the CLI starts the embedded database)"
        raise SettingsError(msg)
    return Container(
        settings=settings,
        database_url=settings.database_url,
        ledger=build_ledger(settings, settings.database_url),
    )
