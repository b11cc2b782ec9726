"""Which module and install extra serve each platform; adapters loaded by name.

The core never imports ``adapters`` statically (``lint-imports`` checks it): the adapter
of an enabled platform is imported here by name, so a base install without one
platform's SDK still runs the others, and an enabled platform whose SDK is missing is
named with the extra that brings it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from bridge.model import Platform
from bridge.ports import Adapter

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bridge.config import Settings

# Our own packages: a missing module among them is a bug, never a missing extra.
_OWN_PACKAGES = frozenset({"adapters", "bridge"})


@dataclass(frozen=True, slots=True)
class AdapterEntry:
    """Where one platform's adapter lives and what brings its SDK."""

    module: str
    """The adapter's module, imported only when the platform is enabled."""
    factory: str
    """The adapter class in ``module``."""
    extra: str | None
    """The install extra with the platform's SDK; None where no SDK is needed."""


ADAPTERS: dict[Platform, AdapterEntry] = {
    Platform.CONSOLE: AdapterEntry("adapters.console", "ConsoleAdapter", None),
    Platform.TELEGRAM: AdapterEntry("adapters.telegram", "TelegramAdapter", "telegram"),
    Platform.SLACK: AdapterEntry("adapters.slack", "SlackAdapter", "slack"),
    Platform.DISCORD: AdapterEntry("adapters.discord", "DiscordAdapter", "discord"),
    Platform.TEAMS: AdapterEntry("adapters.teams", "TeamsAdapter", "teams"),
}


class MissingSdk(Exception):
    """A platform is enabled but the SDK its adapter needs is not installed."""

    def __init__(self, platform: Platform, extra: str, missing: str) -> None:
        super().__init__(
            f"{platform.value} is enabled but its SDK is not installed (no module {missing!r}): "
            f'pip install "pluto-bridge[{extra}]"'
        )
        self.platform = platform
        self.extra = extra


def adapter_module(platform: Platform) -> ModuleType:
    """Import ``platform``'s adapter module; ``MissingSdk`` when its SDK is not installed."""
    entry = ADAPTERS[platform]
    try:
        return importlib.import_module(entry.module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if entry.extra is None or missing in _OWN_PACKAGES:
            raise
        raise MissingSdk(platform, entry.extra, missing) from exc


def adapter_factory(platform: Platform) -> Callable[..., Adapter]:
    """The adapter class of ``platform`` (its constructor takes keywords only)."""
    return cast(Callable[..., Adapter], getattr(adapter_module(platform), ADAPTERS[platform].factory))


def missing_sdks(platforms: Iterable[Platform]) -> list[MissingSdk]:
    """Of ``platforms`` (the enabled ones), those whose SDK is not installed."""
    missing = []
    for platform in platforms:
        try:
            adapter_module(platform)
        except MissingSdk as exc:
            missing.append(exc)
    return missing


def build_adapters(
    settings: Settings, given: Mapping[Platform, Mapping[str, Any]] | None = None
) -> dict[Platform, Adapter]:
    """One adapter per enabled platform. SDKs are imported only for enabled platforms;
    ``MissingSdk`` names the extra to install when one is not. ``given``: more constructor
    keywords per platform (the tests give Teams the sandbox's token provider)."""
    return {
        platform: adapter_factory(platform)(**options, **(given or {}).get(platform, {}))
        for platform, options in adapter_options(settings).items()
    }


def adapter_options(settings: Settings) -> dict[Platform, dict[str, Any]]:
    """Each enabled platform's adapter constructor keywords, from the settings."""
    options: dict[Platform, dict[str, Any]] = {}
    if settings.console.enabled:
        options[Platform.CONSOLE] = {"user_id": settings.console.user_id, "display_name": settings.console.display_name}
    tg = settings.telegram
    if tg.enabled and tg.token is not None:
        options[Platform.TELEGRAM] = {
            "token": tg.token.get_secret_value(),
            "mode": tg.mode,
            "base_url": tg.base_url,
            "base_file_url": tg.base_file_url,
            "webhook_url": settings.web.public_url + tg.webhook_path if tg.mode == "webhook" else None,
            "webhook_path": tg.webhook_path,
            "webhook_secret": tg.webhook_secret.get_secret_value() if tg.webhook_secret else None,
            "max_update_age": tg.max_update_age,
        }
    sl = settings.slack
    if sl.enabled:
        options[Platform.SLACK] = {
            "workspaces": {team: tok.get_secret_value() for team, tok in sl.workspaces.items()},
            "signing_secret": sl.signing_secret.get_secret_value() if sl.signing_secret else "",
            "mode": sl.mode,
            "app_token": sl.app_token.get_secret_value() if sl.app_token else None,
            "api_base_url": sl.api_base_url,
            "events_path": sl.events_path,
            "command": sl.command,
        }
    dc = settings.discord
    if dc.enabled and dc.token is not None:
        options[Platform.DISCORD] = {
            "token": dc.token.get_secret_value(),
            "application_id": dc.application_id,
            "api_base_url": dc.api_base_url,
            "gateway_url": dc.gateway_url,
            "command_name": dc.command_name,
        }
    tm = settings.teams
    if tm.enabled and tm.app_id is not None and tm.app_password is not None:
        options[Platform.TEAMS] = {
            "app_id": tm.app_id,
            "app_password": tm.app_password.get_secret_value(),
            "tenant_id": tm.tenant_id,
            "allowed_channels": tm.allowed_channels,
            "jwks_url": tm.jwks_url,
            "issuer": tm.issuer,
            "service_url": tm.service_url,
            "timeout": tm.timeout,
            "messages_path": tm.messages_path,
            "graph_url": tm.graph_url,
        }
    return options
