"""Settings: blank values are unset, secrets are required outside development."""

import pytest

from api.settings import Settings, SettingsError


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
