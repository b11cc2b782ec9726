"""What every command handler needs first: how the person's platform looks to them, and
their active link (or the notice that says why there is none)."""

from __future__ import annotations

from bridge import notices
from bridge.model import ChatEvent
from bridge.profile import Profile, Profiles
from bridge.store.records import Link


class Answering:
    """Base of the command handlers (``ItemCommands``, ``ContactCommands``, ``People``)."""

    profiles: Profiles

    def _profile(self, event: ChatEvent) -> Profile:
        """How the person's platform looks to them (command form, name)."""
        return self.profiles[event.identity.platform]

    async def _linked(self, event: ChatEvent, link: Link | None) -> Link | str:
        """The person's link when it may act in Pluto, else the notice saying why not."""
        if link is None:
            return notices.how_to_link(self._profile(event))
        if link.status == "needs_signin":
            return notices.signin_lost(self._profile(event), "Not done")
        if not link.active:
            return notices.link_inactive(self._profile(event), link.status_reason)
        return link
