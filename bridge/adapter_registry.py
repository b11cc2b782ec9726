"""Which module and install extra serve each platform; adapters loaded by name.

The core never imports ``adapters`` statically (``lint-imports`` checks it): the adapter
of an enabled platform is imported here by name, so a base install without one
platform's SDK still runs the others, and an enabled platform whose SDK is missing is
named with the extra that brings it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from bridge.model import Platform
from bridge.ports import Adapter

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
