"""Settings: blank values are unset, secrets are required outside development,
and the clock moves only in development."""

from datetime import UTC, datetime, timedelta

import pytest

from api.bootstrap import business_clock
from api.settings import MAX_CLOCK_OFFSET_DAYS, Settings, SettingsError


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests say every setting they mean; the test run's own are unset."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LEDGER_CLOCK_OFFSET_DAYS", raising=False)
    monkeypatch.delenv("LEDGER_ENVIRONMENT", raising=False)


def test_a_blank_admin_token_disables_sign_up_instead_of_allowing_an_empty_bearer() -> (
    None
):
    settings = Settings(admin_token="  ", database_url="", secret_key="")
    assert settings.admin_token is None
    assert settings.database_url is None
    assert settings.development


def test_secrets_are_required_outside_development() -> None:
    with pytest.raises(SettingsError, match="LEDGER_SECRET_KEY"):
        Settings(database_url="postgresql://db/ledger").check_secrets()
    with pytest.raises(SettingsError, match="LEDGER_WEBHOOK_SECRET"):
        Settings(
            database_url="postgresql://db/ledger", secret_key="k" * 40
        ).check_secrets()
    Settings(
        database_url="postgresql://db/ledger",
        secret_key="k" * 40,
        webhook_secret="w" * 40,
    ).check_secrets()


def test_the_embedded_database_keeps_development_mode() -> None:
    settings = Settings(database_url="postgresql://x/ledger", embedded=True)
    assert settings.development
    settings.check_secrets()


def test_the_clock_offset_is_refused_outside_development() -> None:
    with pytest.raises(SettingsError, match="LEDGER_CLOCK_OFFSET_DAYS"):
        Settings(database_url="postgresql://db/ledger", clock_offset_days=400)
    with pytest.raises(SettingsError, match="LEDGER_CLOCK_OFFSET_DAYS"):
        Settings(clock_offset_days=-1, environment="production")
    assert Settings(clock_offset_days=400).development
    shifted = Settings(
        database_url="postgresql://db/ledger",
        environment="development",
        clock_offset_days=-400,
    )
    assert shifted.clock_offset_days == -400


def test_the_clock_offset_is_bounded() -> None:
    with pytest.raises(ValueError, match="clock_offset_days"):
        Settings(clock_offset_days=MAX_CLOCK_OFFSET_DAYS + 1)


def test_the_environment_overrides_the_one_derived_from_the_database() -> None:
    production = Settings(environment="production")
    assert not production.development
    with pytest.raises(SettingsError, match="LEDGER_SECRET_KEY"):
        production.check_secrets()
    development = Settings(database_url="postgresql://db/x", environment="development")
    assert development.development


def test_business_dates_follow_the_offset_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_ENVIRONMENT", "development")
    monkeypatch.setenv("LEDGER_CLOCK_OFFSET_DAYS", "400")
    clock = business_clock(Settings())
    ahead = clock() - datetime.now(UTC)
    assert timedelta(days=400) - timedelta(minutes=1) < ahead <= timedelta(days=400)
    real = business_clock(Settings(clock_offset_days=0))() - datetime.now(UTC)
    assert abs(real) < timedelta(minutes=1)
