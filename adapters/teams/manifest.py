"""The Teams app manifest and its command menu (Teams has no API to publish commands)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bridge.model import COMMANDS

SCOPES = ("personal", "team", "groupChat")  # 1:1 chats, and team channels and group chats as rooms
# Resource-specific consent: every channel message of a team, every message of a group chat,
# and the team's members with their roles (Microsoft Graph: only team owners link a channel).
RSC_PERMISSIONS = ("ChannelMessage.Read.Group", "ChatMessage.Read.Chat", "TeamMember.Read.Group")


# Teams shows at most 10 commands per command list (manifest schema: commandLists[].commands
# maxItems 10), so each menu holds the commands most used there; `help` lists them all.
PERSONAL_MENU = ("to", "find", "msg", "conversations", "tasks", "status", "contacts", "prefs", "link", "help")
ROOM_MENU = ("room", "help")  # in a team channel or group chat: every answer goes privately
MENU_LIMIT = 10


def command_list(names: tuple[str, ...] = PERSONAL_MENU) -> list[dict[str, str]]:
    """Commands ``names`` as a Teams app-manifest ``commandLists[].commands`` value (Teams
    has no API to publish a command menu; the manifest carries it), at most ``MENU_LIMIT``."""
    specs = {c.name: c for c in COMMANDS}
    unknown = [n for n in names if n not in specs]
    if unknown or len(names) > MENU_LIMIT:
        raise ValueError(f"a Teams command menu holds at most {MENU_LIMIT} known commands: {names}")
    return [{"title": n, "description": specs[n].description[:128]} for n in names]


def command_lists() -> list[dict[str, Any]]:
    """The manifest's command menus: one for 1:1 chats, one for rooms."""
    return [
        {"scopes": ["personal"], "commands": command_list(PERSONAL_MENU)},
        {"scopes": ["team", "groupChat"], "commands": command_list(ROOM_MENU)},
    ]


def app_manifest(*, app_id: str, name: str, public_url: str) -> dict[str, Any]:
    """A Teams app manifest (manifest.json of the app package, zipped with the two icons
    it names): a bot for personal chats, team channels and group chats (group rooms) with
    the command menu; the bot's messaging endpoint itself is set in its Azure Bot resource,
    ``public_url`` + ``/api/messages``. The resource-specific consent asked for
    (``RSC_PERMISSIONS``) lets the bot receive every message in a linked channel or chat,
    not only those that @mention it, and read a team's owners with Graph;
    ``webApplicationInfo`` names the app it is granted to."""
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
                "scopes": list(SCOPES),
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": command_lists(),
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "webApplicationInfo": {"id": app_id, "resource": f"api://{host}/{app_id}"},
        "authorization": {
            "permissions": {
                "resourceSpecific": [{"name": name, "type": "Application"} for name in RSC_PERMISSIONS],
            }
        },
        "validDomains": [host],
    }
