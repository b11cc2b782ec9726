"""Reachability by each person's choice: ``prefs share PLATFORM contacts|nobody`` (default
nobody). A contact who shares a platform is shown "on Slack" (etc.) beside their name, with a
button opening a direct chat with them there, to their Pluto contacts only, and only to those
who are on that platform (in the same workspace or tenant) themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bridge.model import ChatIdentity, Platform
from bridge.store.records import Link
from bridge.store.store import Store

SHARE_KEY = "share"  # preferences: {"slack": "contacts", ...}
CHOICES = ("contacts", "nobody")
SHAREABLE = tuple(p.value for p in Platform if p is not Platform.CONSOLE)


@dataclass(frozen=True, slots=True)
class Reach:
    """Where a contact may be reached: the platform's name and a link opening a direct chat."""

    platform: Platform
    url: str

    @property
    def label(self) -> str:
        return f"on {self.platform.value.capitalize()}"


def chat_url(identity: ChatIdentity) -> str | None:
    """A link that opens a direct chat with ``identity`` on its platform."""
    user = quote(identity.user_id, safe="")
    if identity.platform is Platform.SLACK:
        return f"https://app.slack.com/client/{quote(identity.workspace, safe='')}/{user}"
    if identity.platform is Platform.TELEGRAM:
        return f"tg://user?id={user}"
    if identity.platform is Platform.DISCORD:
        return f"https://discord.com/users/{user}"
    if identity.platform is Platform.TEAMS:
        return f"https://teams.microsoft.com/l/chat/0/0?users={user}"
    return None


def set_share(prefs: dict[str, Any], value: str) -> str | None:
    """``prefs share PLATFORM contacts|nobody`` applied to ``prefs``; a problem, or None."""
    platform, _, choice = value.lower().partition(" ")
    choice = choice.strip()
    if platform not in SHAREABLE or choice not in CHOICES:
        return f"Type prefs share PLATFORM contacts|nobody, PLATFORM one of {', '.join(SHAREABLE)}."
    shared = dict(prefs.get(SHARE_KEY) or {})
    if choice == "nobody":
        shared.pop(platform, None)
    else:
        shared[platform] = choice
    prefs[SHARE_KEY] = shared
    return None


def shared_platforms(prefs: dict[str, Any]) -> list[str]:
    """The platforms the person shares with their contacts."""
    return sorted(p for p, who in (prefs.get(SHARE_KEY) or {}).items() if who == "contacts")


async def reach_of(store: Store, viewer: list[Link], contact_id: int) -> list[Reach]:
    """Where ``viewer`` (the links of someone the caller knows to be ``contact_id``'s Pluto
    contact) may reach that contact: the platforms the contact shares with contacts, has an
    active link on, and the viewer is on too (same workspace or tenant)."""
    shared = shared_platforms(await store.preferences_of(contact_id))
    if not shared:
        return []
    seen = {(v.identity.platform, v.identity.workspace) for v in viewer if v.active}
    found = []
    for link in await store.links_of_user(contact_id):
        identity = link.identity
        url = chat_url(identity)
        if identity.platform.value in shared and (identity.platform, identity.workspace) in seen and url:
            found.append(Reach(identity.platform, url))
    return found
