"""The Slack app manifest and its slash command (Slack has no API to register commands)."""

from __future__ import annotations

from typing import Any

from bridge.model import COMMANDS

# What the adapter calls: conversations.open (im:write), chat.postMessage/update/delete
# (chat:write), users.info with the profile's email (users:read, users:read.email), the
# slash command (commands), DM events (im:history), user group handles for mentions typed
# without a label (usergroups:read).
BOT_SCOPES = (
    "chat:write",
    "commands",
    "im:history",
    "im:read",
    "im:write",
    "usergroups:read",
    "users:read",
    "users:read.email",
)


def slash_command(command: str, request_url: str | None = None) -> dict[str, Any]:
    """The slash command as an app manifest declares it, subcommands from ``COMMANDS``
    (Slack has no API to register commands: they live in the app's manifest)."""
    declared: dict[str, Any] = {
        "command": command,
        "description": "Pluto: " + ", ".join(c.name for c in COMMANDS),
        "usage_hint": " | ".join(c.usage for c in COMMANDS),
        "should_escape": False,
    }
    if request_url is not None:
        declared["url"] = request_url
    return declared


def app_manifest(*, name: str, command: str, socket_mode: bool, events_url: str) -> dict[str, Any]:
    """A Slack app manifest for the bridge (paste it at api.slack.com/apps, "From a
    manifest"): the bot, its scopes, the DM events, the slash command and interactivity,
    delivered over Socket Mode or to ``events_url``."""
    url = None if socket_mode else events_url
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": ["message.im"]},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
        "token_rotation_enabled": False,
    }
    if url is not None:
        settings["event_subscriptions"]["request_url"] = url
        settings["interactivity"]["request_url"] = url
    return {
        "display_information": {"name": name, "description": "Your Pluto messages, alerts and tasks in Slack"},
        "features": {
            "app_home": {"messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash_command(command, url)],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": settings,
    }
