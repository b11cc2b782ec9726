"""Pluto's own notification preferences, as ``core_message_get_user_notification_preferences``
lists them (moodle-4.5-observed.md item 28): each type with the outputs the person left on
(``popup`` Web, ``email``, ``airnotifier`` Mobile), and the "disable all" switch."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

TTL = 300.0  # seconds a person's switches are trusted before they are read again
PREFIX = "message_provider_"
MOBILE = "airnotifier"


@dataclass(frozen=True, slots=True)
class NotificationType:
    """One notification type Pluto may send the person."""

    key: str  # its preference key without "message_provider_": mod_forum_posts
    component: str  # display name of its component ("Forum")
    name: str  # display name of the type ("Subscribed forum posts")
    outputs: frozenset[str]  # outputs the person left on


@dataclass(frozen=True, slots=True)
class NotificationPrefs:
    """The person's switches in Pluto."""

    disableall: bool
    types: tuple[NotificationType, ...]

    @property
    def mobile_off(self) -> frozenset[str]:
        """Keys of the types whose Mobile output is off: Pluto pushes none of them."""
        return frozenset(t.key for t in self.types if MOBILE not in t.outputs)

    def apply_to(self, preferences: dict[str, Any], *, pushed: bool) -> None:
        """Add these switches to the person's preferences for routing: "disable all", and
        where Pluto pushes to the bridge (``pushed``) the types it does not push, which a
        sweep must not deliver either."""
        if self.disableall:
            preferences["lms_disableall"] = True
        if pushed:
            preferences["lms_mobile_off"] = sorted(self.mobile_off)


def parse_notification_prefs(data: dict[str, Any]) -> NotificationPrefs:
    """The answer of ``core_message_get_user_notification_preferences``, typed."""
    prefs = data.get("preferences") or {}
    types = tuple(
        NotificationType(
            key=str(n["preferencekey"]).removeprefix(PREFIX),
            component=str(c.get("displayname") or ""),
            name=str(n.get("displayname") or n["preferencekey"]),
            outputs=frozenset(str(p["name"]) for p in n.get("processors") or [] if p.get("enabled")),
        )
        for c in prefs.get("components") or []
        for n in c.get("notifications") or []
        if n.get("preferencekey")
    )
    return NotificationPrefs(bool(int(prefs.get("disableall") or 0)), types)


class NotificationSwitches:
    """Each person's switches, read from Pluto at most every ``TTL`` seconds (intake asks
    for them whenever new items arrive)."""

    def __init__(self, fetch: Callable[[str, int], Awaitable[NotificationPrefs]]) -> None:
        self.fetch = fetch
        self._cached: dict[int, tuple[float, NotificationPrefs]] = {}

    async def of(self, token: str, userid: int) -> NotificationPrefs:
        """The person's switches, from the cache while fresh."""
        cached = self._cached.get(userid)
        if cached and time.monotonic() - cached[0] < TTL:
            return cached[1]
        found = await self.fetch(token, userid)
        self._cached[userid] = (time.monotonic(), found)
        return found
