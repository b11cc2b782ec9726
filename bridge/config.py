"""Settings: a TOML file plus environment variables (prefix ``PLUTO_BRIDGE_``, nested with ``__``).

Environment variables win over the file, the file wins over defaults. Secrets are
``SecretStr`` so they never appear in reprs or logs. ``load_settings`` turns every
validation problem into a ``ConfigError`` whose lines each name the key and the problem.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "PLUTO_BRIDGE_"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per issue."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = {"extra": "forbid"}


class LmsSettings(_Section):
    """How to reach Pluto LMS."""

    url: str = Field(description="Base URL of the Pluto LMS site, e.g. https://pluto.example")
    service: str = "moodle_mobile_app"
    token: SecretStr | None = None
    timeout: float = Field(10.0, gt=0, le=300)
    retries: int = Field(3, ge=0, le=10)
    poll_interval: float = Field(10.0, gt=0, le=3600)
    poll_concurrency: int = Field(8, ge=1, le=256)
    conversations_per_poll: int = Field(20, ge=1, le=200)
    task_action_function: str = "local_pluto_task_action"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value.rstrip("/")


class StoreSettings(_Section):
    """Where the bridge keeps links, cursors and the outbox."""

    url: str = "sqlite+aiosqlite:///pluto-bridge.sqlite3"
    token_key: SecretStr = Field(
        description="Fernet key (32 url-safe base64 bytes) that encrypts LMS tokens at rest; "
        "make one with `pluto-bridge keygen`"
    )

    @field_validator("token_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        from cryptography.fernet import Fernet

        try:
            Fernet(value.get_secret_value().encode())
        except (ValueError, TypeError):
            raise ValueError("must be a Fernet key: 32 url-safe base64-encoded bytes (`pluto-bridge keygen`)") from None
        return value


class WebSettings(_Section):
    """The one HTTP server for the sign-in page, webhooks and health."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value.rstrip("/")


class OutboxSettings(_Section):
    """Delivery retries: transient failures (429, 5xx, time-outs) are retried with back-off
    for up to ``give_up_after`` seconds; permanent ones fail at once."""

    give_up_after: float = Field(86400.0, gt=0)
    backoff_initial: float = Field(1.0, gt=0)
    backoff_max: float = Field(300.0, gt=0)


class LinkSettings(_Section):
    """One-time link codes."""

    code_ttl: int = Field(900, ge=60, le=86400)


class ConsoleSettings(_Section):
    enabled: bool = False
    user_id: str = "console-user"
    display_name: str = "Console user"


class TelegramSettings(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/telegram/webhook"

    @field_validator("webhook_secret")
    @classmethod
    def _secret_alphabet(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for setWebhook's secret_token; checked here so a bad one is a
        # config error at start rather than a refusal from Telegram.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @model_validator(mode="after")
    def _needs(self) -> TelegramSettings:
        if self.enabled and self.token is None:
            raise ValueError("token is required when telegram is enabled")
        if self.enabled and self.mode == "webhook" and self.webhook_secret is None:
            raise ValueError("webhook_secret is required in webhook mode")
        return self


class SlackSettings(_Section):
    enabled: bool = False
    mode: Literal["http", "socket"] = "http"
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    workspaces: dict[str, SecretStr] = Field(default_factory=dict, description="team id -> bot token")
    api_base_url: str = "https://slack.com/api/"
    events_path: str = "/slack/events"
    command: str = "/pluto"

    @field_validator("workspaces")
    @classmethod
    def _team_ids(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        # Slack team ids are upper case; environment keys arrive lower-cased
        # (PLUTO_BRIDGE_SLACK__WORKSPACES__T0123 becomes "t0123").
        return {team.upper(): token for team, token in value.items()}

    @model_validator(mode="after")
    def _needs(self) -> SlackSettings:
        if self.enabled:
            if not self.workspaces:
                raise ValueError("workspaces needs at least one team id = bot token")
            if self.mode == "http" and self.signing_secret is None:
                raise ValueError("signing_secret is required in http mode")
            if self.mode == "socket" and self.app_token is None:
                raise ValueError("app_token is required in socket mode")
        return self


class DiscordSettings(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    application_id: str | None = None
    api_base_url: str | None = None
    gateway_url: str | None = None
    command_name: str = "pluto"

    @model_validator(mode="after")
    def _needs(self) -> DiscordSettings:
        if self.enabled and self.token is None:
            raise ValueError("token is required when discord is enabled")
        return self


class TeamsSettings(_Section):
    enabled: bool = False
    app_id: str | None = None
    app_password: SecretStr | None = None
    tenant_id: str | None = None
    token_endpoint: str | None = None
    jwks_url: str | None = None
    issuer: str = Field("https://api.botframework.com", description="required iss of inbound tokens")
    service_url: str = Field(
        "https://smba.trafficmanager.net/teams/",
        description="connector URL for a personal chat whose stored address has none",
    )
    timeout: float = Field(30.0, gt=0, le=300)
    messages_path: str = "/api/messages"

    @model_validator(mode="after")
    def _needs(self) -> TeamsSettings:
        if self.enabled and (self.app_id is None or self.app_password is None):
            raise ValueError("app_id and app_password are required when teams is enabled")
        return self


class Settings(BaseSettings):
    """Everything the bridge process reads at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    lms: LmsSettings
    store: StoreSettings
    web: WebSettings = WebSettings()
    outbox: OutboxSettings = OutboxSettings()
    link: LinkSettings = LinkSettings()
    console: ConsoleSettings = ConsoleSettings()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    discord: DiscordSettings = DiscordSettings()
    teams: TeamsSettings = TeamsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first so an operator can override any file value; the file comes in
        # through init kwargs (see load_settings).
        return env_settings, init_settings


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "missing":
        return f"{key}: required setting is missing"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown setting"
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{key}: {message}"


def load_settings(path: Path | str | None, **overrides: Any) -> Settings:
    """Read ``path`` (TOML) and the environment into ``Settings``.

    Raises ``ConfigError`` with one line per problem, each naming the key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{path}: config file not found"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    _merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError([_describe(err) for err in exc.errors()]) from None


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
