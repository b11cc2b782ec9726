"""The Teams app manifest and its command menu (Teams has no API to publish commands)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bridge.model import COMMANDS


def command_list() -> list[dict[str, str]]:
    """The bridge commands as a Teams app-manifest ``commandLists[].commands`` value
    (Teams has no API to publish a command menu; the manifest carries it)."""
    return [{"title": c.name, "description": c.description[:128]} for c in COMMANDS]


def app_manifest(*, app_id: str, name: str, public_url: str) -> dict[str, Any]:
    """A Teams app manifest (manifest.json of the app package, zipped with the two icons
    it names): a personal-scope bot with the command menu; the bot's messaging endpoint
    itself is set in its Azure Bot resource, ``public_url`` + ``/api/messages``."""
    host = urlsplit(public_url).hostname or public_url
    return {
        "$schema": "https://developer.microsoft.com/en-us/json-schemas/teams/v1.16/MicrosoftTeams.schema.json",
        "manifestVersion": "1.16",
        "version": "1.0.0",
        "id": app_id,
        "developer": {
            "name": name,
            "websiteUrl": public_url,
            "privacyUrl": public_url,
            "termsOfUseUrl": public_url,
        },
        "name": {"short": name[:30], "full": f"{name}: Pluto LMS messages, alerts and tasks"[:100]},
        "description": {
            "short": "Your Pluto messages, alerts and tasks in Teams",
            "full": "Read and answer your Pluto LMS messages, and handle alerts and tasks, from Teams.",
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#3B5BDB",
        "bots": [
            {
                "botId": app_id,
                "scopes": ["personal"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": ["personal"], "commands": command_list()}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host],
    }
