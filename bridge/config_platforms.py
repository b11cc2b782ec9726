"""The chat platforms' settings sections: ``[console]``, ``[telegram]``, ``[slack]``,
``[discord]`` and ``[teams]`` (part of ``bridge.config.Settings``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bridge.config_section import Section as _Section


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
    max_update_age: float = Field(
        600.0, ge=10, le=86400, description="seconds; older messages (replays, a long outage) are not acted on"
    )

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
    tenant_id: str | list[str] | None = Field(
        None, description="tenant(s) served: inbound activities from any other are refused; the first signs outbound"
    )
    allowed_channels: list[str] = Field(["msteams"], description="channelId values accepted on /api/messages")
    jwks_url: str | None = None
    issuer: str = Field("https://api.botframework.com", description="required iss of inbound tokens")
    service_url: str = Field(
        "https://smba.trafficmanager.net/teams/",
        description="connector URL for a personal chat whose stored address has none",
    )
    timeout: float = Field(30.0, gt=0, le=300)
    messages_path: str = "/api/messages"
    graph_url: str = Field("https://graph.microsoft.com", description="Microsoft Graph (a team's owners)")

    @model_validator(mode="after")
    def _needs(self) -> TeamsSettings:
        if self.enabled and (self.app_id is None or self.app_password is None):
            raise ValueError("app_id and app_password are required when teams is enabled")
        return self
