"""Settings: a TOML file plus environment variables (prefix ``PLUTO_BRIDGE_``, nested with ``__``).

Environment variables win over the file, the file wins over defaults. Secrets are
``SecretStr`` so they never appear in reprs or logs. ``load_settings`` turns every
validation problem into a ``ConfigError`` whose lines each name the key and the problem.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bridge.config_platforms import (
    ConsoleSettings,
    DiscordSettings,
    SlackSettings,
    TeamsSettings,
    TelegramSettings,
)
from bridge.config_section import Section as _Section

ENV_PREFIX = "PLUTO_BRIDGE_"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per issue."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# Defaults of the idle ceilings, in base intervals: 10 s polls stretch to 2 minutes for idle
# people (10,000 of them then need about 170 requests a second), 5 minute sweeps to 15.
IDLE_POLLS = 12
IDLE_SWEEPS = 3


class LmsSettings(_Section):
    """How to reach Pluto LMS."""

    url: str = Field(description="Base URL of the Pluto LMS site, e.g. https://pluto.example")
    service: str = "moodle_mobile_app"
    token: SecretStr | None = None
    timeout: float = Field(10.0, gt=0, le=300)
    retries: int = Field(3, ge=0, le=10)
    poll_interval: float = Field(10.0, gt=0, le=3600)
    idle_poll_interval: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="seconds between reads of a person with no recent activity, at most (default: 12 poll intervals)",
    )
    poll_concurrency: int = Field(8, ge=1, le=256, description="people read at once, at least")
    max_in_flight: int = Field(
        64, ge=1, le=1024, description="LMS requests in flight at most; fewer while the LMS answers fast"
    )
    max_requests_per_second: float = Field(
        200.0, gt=0, le=100000, description="LMS requests per second the whole bridge never exceeds"
    )
    conversations_per_poll: int = Field(20, ge=1, le=200)
    task_action_function: str = "local_pluto_task_action"

    @property
    def idle_interval(self) -> float:
        """``idle_poll_interval``, or its default; never shorter than ``poll_interval``."""
        return max(self.poll_interval, self.idle_poll_interval or IDLE_POLLS * self.poll_interval)

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
    message_map_retention_days: float = Field(
        90.0, gt=0, description="days a sent message stays mapped to its item; older rows are pruned"
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
    public_url: str = Field("", description="default: http://127.0.0.1:<port>")
    management_listen: str | None = Field(
        None, description="HOST:PORT for /healthz, /readyz and /metrics on their own server"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="reverse proxies whose X-Forwarded-For names the sign-in's client address"
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value.rstrip("/")

    @field_validator("management_listen")
    @classmethod
    def _management_listen(cls, value: str | None) -> str | None:
        if value is not None:
            host_port(value)
        return value

    @property
    def management(self) -> tuple[str, int] | None:
        """``management_listen`` as (host, port), or None to serve them on the main server."""
        return host_port(self.management_listen) if self.management_listen else None


def host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9090`` for IPv6) as a pair; ValueError naming what is wrong."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT, e.g. 127.0.0.1:9090 (got {value!r})")
    return host, int(port)


class LogSettings(_Section):
    """How the log looks (its level is ``log_level``)."""

    format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per record; json: one JSON object per line"
    )
    trace: bool = Field(
        False, description="also let HTTP clients, chat SDKs and SQL log at DEBUG (request bodies: message text)"
    )


class OutboxSettings(_Section):
    """Delivery retries: transient failures (429, 5xx, time-outs) are retried with back-off
    for up to ``give_up_after`` seconds; permanent ones fail at once."""

    give_up_after: float = Field(86400.0, gt=0)
    backoff_initial: float = Field(1.0, gt=0)
    backoff_max: float = Field(300.0, gt=0)
    stop_grace: float = Field(
        5.0, ge=0, description="seconds a stopping bridge lets sends already under way finish and be recorded"
    )


class ReplicasSettings(_Section):
    """Several bridge processes on one PostgreSQL store (README "Scaling out"): each share
    of the work (an outbox lane, a singleton connection) is held under a lease."""

    lease_seconds: float = Field(
        15.0,
        ge=1,
        le=600,
        description="how long a lease lasts unrenewed: a dead replica's work is taken over within this time",
    )


class BulkSettings(_Section):
    """Bulk messages from chat (the ``bulk`` command): how hard they may use the LMS."""

    requests_per_second: float = Field(
        2.0, gt=0, le=100, description="LMS send calls per second for all bulk jobs together"
    )
    batch_size: int = Field(25, ge=1, le=100, description="recipients per core_message_send_instant_messages call")


class RoomsSettings(_Section):
    """Group rooms: Pluto group conversations linked to shared chat rooms."""

    backlog_limit: int = Field(
        50,
        ge=0,
        le=10000,
        description="a room back after a pause gets at most this many missed messages; above, one summary",
    )
    retry_initial: float = Field(
        30.0, gt=0, le=3600, description="seconds before a group nobody linked could read is tried again"
    )
    retry_max: float = Field(
        1800.0, gt=0, le=86400, description="the longest wait between tries of an unreadable group (doubling)"
    )


class LinkSettings(_Section):
    """One-time link codes and the sign-in page's limits on failed sign-ins."""

    code_ttl: int = Field(900, ge=60, le=86400)
    failure_window: int = Field(900, ge=1, le=86400, description="seconds over which failed sign-ins count")
    max_failures_per_username: int = Field(5, ge=1, le=1000)
    max_failures_per_identity: int = Field(5, ge=1, le=1000)
    max_failures_per_address: int = Field(20, ge=1, le=10000)


class PushSettings(_Section):
    """Real-time wake-ups from Moodle's AirNotifier output (``message_airnotifier``)."""

    enabled: bool = False
    app_name: str = Field("plutobridge", description="what the site sends as X-AN-APP-NAME (airnotifierappname)")
    access_key: SecretStr | None = Field(None, description="what the site sends as X-AN-APP-KEY (airnotifieraccesskey)")
    path_prefix: str = Field("/airnotifier", description="path of the receiver on the bridge's web server")
    mobile_app_name: str = Field(
        "com.moodle.moodlemobile", description="appid of the bridge's devices (the site's airnotifiermobileappname)"
    )
    sweep_interval: float = Field(300.0, gt=0, le=86400, description="seconds between safety reads of pushed people")
    idle_sweep_interval: float | None = Field(
        None, gt=0, le=86400, description="the same for pushed people with no recent activity (default: 3 sweeps)"
    )
    stale_after: float = Field(
        900.0, gt=0, le=86400, description="no push this long while the sweep finds messages: pushes stopped"
    )

    @property
    def idle_sweep(self) -> float:
        """``idle_sweep_interval``, or its default; never shorter than ``sweep_interval``."""
        return max(self.sweep_interval, self.idle_sweep_interval or IDLE_SWEEPS * self.sweep_interval)

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.rstrip("/")
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError(f"must be a path such as /airnotifier (got {value!r})")
        return value

    @model_validator(mode="after")
    def _needs(self) -> PushSettings:
        if self.enabled and (self.access_key is None or not self.access_key.get_secret_value()):
            raise ValueError("access_key is required when push is enabled (the site's airnotifieraccesskey)")
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
    allow_insecure_http: bool = Field(
        False, description="accept http:// for lms.url and web.public_url beyond loopback (passwords in clear)"
    )
    log: LogSettings = LogSettings()
    lms: LmsSettings
    store: StoreSettings
    web: WebSettings = WebSettings()
    outbox: OutboxSettings = OutboxSettings()
    replicas: ReplicasSettings = ReplicasSettings()
    bulk: BulkSettings = BulkSettings()
    link: LinkSettings = LinkSettings()
    rooms: RoomsSettings = RoomsSettings()
    console: ConsoleSettings = ConsoleSettings()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    discord: DiscordSettings = DiscordSettings()
    teams: TeamsSettings = TeamsSettings()
    push: PushSettings = PushSettings()

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        # Here, not in WebSettings: the section's default instance must keep it empty so
        # that a port set in the file or the environment still reaches the default.
        if not self.web.public_url:
            self.web.public_url = f"http://127.0.0.1:{self.web.port}"
        return self

    @model_validator(mode="after")
    def _telegram_webhook_url(self) -> Settings:
        tg = self.telegram
        # Telegram's own rule for setWebhook (https://core.telegram.org/bots/api#setwebhook);
        # a local Bot API server (another base_url) accepts any URL.
        if tg.enabled and tg.mode == "webhook" and tg.base_url.startswith(TELEGRAM_API):
            url = urlsplit(self.web.public_url)
            port = url.port or (443 if url.scheme == "https" else 80)
            if url.scheme != "https" or port not in TELEGRAM_WEBHOOK_PORTS:
                raise ValueError(
                    "web.public_url: Telegram webhook mode needs an https:// address on port 443, 80, 88 or 8443 "
                    f"(got {self.web.public_url!r})"
                )
        return self

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


TELEGRAM_API = "https://api.telegram.org/"
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)
PLATFORMS = ("console", "telegram", "slack", "discord", "teams")


def require_platform(settings: Settings) -> None:
    """``run`` needs at least one chat platform (the demo brings its own console)."""
    if not any(getattr(settings, name).enabled for name in PLATFORMS):
        raise ConfigError(
            ["no chat platform is enabled: set enabled = true in [telegram], [slack], [discord], [teams] or [console]"]
        )


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if not key:  # checks across sections name their keys themselves
        return message
    if error["type"] == "missing":
        return f"{key}: required setting is missing"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown setting"
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
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError([_describe(err) for err in exc.errors()]) from None
    problems = insecure_http(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_http(settings: Settings) -> list[str]:
    """``http://`` addresses beyond loopback: people's passwords (sign-in page) and tokens
    (LMS calls) would cross the network in clear. Allowed only with allow_insecure_http."""
    if settings.allow_insecure_http:
        return []
    problems = []
    for key, url in (("lms.url", settings.lms.url), ("web.public_url", settings.web.public_url)):
        parts = urlsplit(url)
        if parts.scheme == "http" and not _loopback(parts.hostname or ""):
            problems.append(
                f"{key}: http:// beyond this machine sends passwords and tokens in clear; "
                f"use https:// or set allow_insecure_http = true (got {url!r})"
            )
    return problems


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
