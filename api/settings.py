"""Every setting of the service, read once from the environment.

Names follow DESIGN.md: ``LEDGER_*`` plus the plain ``DATABASE_URL``. Without
``DATABASE_URL`` the service runs in development mode on an embedded PostgreSQL
under ``LEDGER_DATA_DIR``; with it, secrets are required. ``LEDGER_ENVIRONMENT``
says which explicitly (tests run a development server on their own database).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32
MAX_CLOCK_OFFSET_DAYS = 3650


class SettingsError(RuntimeError):
    """A setting is missing or unsafe for the way the service is run."""


class Settings(BaseSettings):
    """Configuration of the ledger service."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL")
    )
    data_dir: Path = Path(".ledger")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_url: str | None = None
    secret_key: SecretStr | None = None
    admin_token: SecretStr | None = None
    gateway: Literal["sandbox", "asaas"] = "sandbox"
    webhook_secret: SecretStr | None = None
    smtp_url: SecretStr | None = None
    asaas_api_key: SecretStr | None = None
    asaas_base_url: str = "https://api-sandbox.asaas.com/v3"
    """Asaas's sandbox; production is ``https://api.asaas.com/v3``."""
    asaas_webhook_token: SecretStr | None = None
    """The token set on the webhook in Asaas, sent back in ``asaas-access-token``."""
    mail_from: str = "faturas@revenda-ledger.localhost"
    pool_size: int = Field(default=5, ge=1, le=100)
    pool_max_overflow: int = Field(default=20, ge=0, le=200)
    embedded: bool = False
    """Set by the CLI for its own processes when it runs the embedded database."""
    overdue_sweep_seconds: float = Field(default=60.0, gt=0, le=86_400)
    """How often ``ledger serve`` marks unpaid invoices past their due date overdue."""
    outbox_backoff_seconds: float = Field(default=1.0, gt=0, le=60)
    """First retry delay of the sandbox's webhook deliveries (doubling each time)."""
    outbound_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """How long an API client's endpoint gets to answer one delivery."""
    outbound_backoff_seconds: float = Field(default=10.0, gt=0, le=3600)
    """First retry delay of an outbound webhook (doubling, up to an hour)."""
    outbound_retry_hours: float = Field(default=24.0, ge=24, le=24 * 30)
    """How long a delivery is retried after its first attempt before ``failing``."""
    outbound_concurrency: int = Field(default=8, ge=1, le=64)
    """Outbound deliveries in flight at once (one per endpoint at a time)."""
    outbound_allow_local: bool = False
    """Endpoints on this machine or a private network outside development too."""
    sandbox_pay: bool = False
    """``POST /v1/sandbox/invoices/{id}/pay`` outside development (else 404)."""
    run_projections: bool = True
    """Run the views' live runner inside ``ledger serve`` (else ``ledger project``)."""
    mail_worker: bool = True
    """``ledger serve`` (with ``run_projections``) and ``ledger project`` render and
    mail notices in a child process of their own at low priority (``ledger mail``),
    off the process of the API and the views; false keeps the mailer in it."""
    mail_session_niceness: int = Field(default=10, ge=0, le=19)
    """How far the ``ledger mail`` child's session (its own, to the kernel's
    autogroup scheduler) yields to the others, beside the child's nice 10: a nice
    value weighs only inside its session. 0 lets the mailer take a fair share of the
    machine against the server's session (the test run, where many servers and
    their mailers share two cores, and a mail test must not wait behind them)."""
    mailer_elsewhere: bool = False
    """Set by ``ledger serve`` and ``ledger project`` when their ``ledger mail``
    child mails."""
    environment: Literal["development", "production"] | None = None
    """Development or production; unset, development means the embedded database."""
    clock_offset_days: int = Field(
        default=0, ge=-MAX_CLOCK_OFFSET_DAYS, le=MAX_CLOCK_OFFSET_DAYS
    )
    """Development only: business dates (issue, due, overdue) run this many days
    off the real calendar, to try the service on another day. Security times
    (tokens, webhook signatures, idempotency keys) keep the real clock."""

    @field_validator(
        "database_url",
        "public_url",
        "secret_key",
        "admin_token",
        "webhook_secret",
        "smtp_url",
        "asaas_api_key",
        "asaas_webhook_token",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty variable (as docker compose passes for `${X:-}`) means "unset":
        # an empty admin token must never enable sign-up with an empty bearer.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _offset_only_in_development(self) -> Settings:
        # A shifted calendar in production would issue and mark overdue on the
        # wrong day: refuse to start rather than serve it.
        if self.clock_offset_days and not self.development:
            msg = (
                "LEDGER_CLOCK_OFFSET_DAYS is for development only "
                "(LEDGER_ENVIRONMENT=development)"
            )
            raise SettingsError(msg)
        return self

    @model_validator(mode="after")
    def _asaas_needs_its_keys(self) -> Settings:
        # Without the token every Asaas webhook would be refused (or, worse, an
        # empty token accepted): refuse to start instead.
        if self.gateway == "asaas":
            for name in ("asaas_api_key", "asaas_webhook_token"):
                if getattr(self, name) is None:
                    msg = f"LEDGER_{name.upper()} must be set when LEDGER_GATEWAY=asaas"
                    raise SettingsError(msg)
        return self

    @property
    def development(self) -> bool:
        """Development mode: as ``LEDGER_ENVIRONMENT`` says, else derived.

        Unset, development means the embedded database (no ``DATABASE_URL``).
        """
        if self.environment is not None:
            return self.environment == "development"
        return self.database_url is None or self.embedded

    @property
    def sandbox_pay_enabled(self) -> bool:
        """The sandbox's pay button: in development, or when explicitly enabled."""
        return self.development or self.sandbox_pay

    @property
    def outbound_local_allowed(self) -> bool:
        """Endpoints at 127.0.0.1 and private addresses: development, or opted in."""
        return self.development or self.outbound_allow_local

    @property
    def own_url(self) -> str:
        """Where this service answers, for the sandbox partner's webhooks."""
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host  # noqa: S104
        return self.public_url or f"http://{host}:{self.port}"

    def check_secrets(self) -> None:
        """Refuse to serve outside development without strong secrets.

        The admin token may be unset (sign-up is then disabled), never weak.
        """
        if self.development:
            return
        for name in ("secret_key", "webhook_secret", "admin_token"):
            value = getattr(self, name)
            if value is None and name == "admin_token":
                continue
            if value is None or len(value.get_secret_value()) < MIN_SECRET_LENGTH:
                msg = (
                    f"LEDGER_{name.upper()} must be set to at least "
                    f"{MIN_SECRET_LENGTH} characters outside development"
                )
                raise SettingsError(msg)
