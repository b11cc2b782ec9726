"""How a person types a bridge command on each platform, for answers and help texts."""

from __future__ import annotations

from bridge.model import Platform
from bridge.render import escape


def command_hint(platform: Platform, usage: str) -> str:
    """How a person types a command on this platform, e.g. ``/pluto link`` on Slack."""
    if platform in (Platform.SLACK, Platform.DISCORD):
        return f"/pluto {usage}"
    if platform is Platform.TEAMS:
        return usage
    return f"/{usage}"


def how_to_link(platform: Platform) -> str:
    return (
        "<p>Hello! This bot brings your Pluto messages here. To start, connect your Pluto account: "
        f"send <code>{escape(command_hint(platform, 'link'))}</code>.</p>"
    )
