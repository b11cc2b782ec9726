"""What an adapter declares about its platform as people see it: a ``Profile``.

The core words every notice once (``bridge.notices``) and writes commands the way the
person's platform has them typed (``/pluto to NAME`` on Slack, ``/to NAME`` on Telegram,
``to NAME`` on Teams); the platform's name in outcomes ("Accepted by Sam in Slack") comes
from here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.model import Capabilities, CommandSpec, Markup, Platform


@dataclass(frozen=True, slots=True)
class Profile:
    """One platform as its people see it.

    ``display_name``: the platform's name in a sentence; ``command_prefix``: what is typed
    before a command's name (the configured slash command and a space, ``/``, or nothing);
    ``own_commands``: commands the adapter handles itself (the console's ``/reply``), listed
    in help after the bridge's.
    """

    platform: Platform
    display_name: str
    capabilities: Capabilities
    command_prefix: str = "/"
    own_commands: tuple[CommandSpec, ...] = ()

    def command(self, usage: str) -> str:
        """How a person types ``usage`` (``to NAME``) here."""
        return f"{self.command_prefix}{usage}"


class Profiles:
    """The profiles of the running adapters, by platform. A platform without a declared
    profile (a test's stand-in adapter) gets a plain one: its name, ``/`` commands."""

    def __init__(self, profiles: Iterable[Profile] = ()) -> None:
        self._by_platform = {p.platform: p for p in profiles}

    @classmethod
    def of(cls, adapters: Mapping[Platform, object]) -> Profiles:
        """The profiles the adapters declare (their ``profile`` attribute)."""
        return cls(p for a in adapters.values() if isinstance(p := getattr(a, "profile", None), Profile))

    def __getitem__(self, platform: Platform) -> Profile:
        found = self._by_platform.get(platform)
        if found is None:
            found = Profile(platform, platform.value.capitalize(), Capabilities(Markup.PLAIN, 4000))
        return found
