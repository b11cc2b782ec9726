"""The core's entry point for chat events (the adapters' ``EventSink``).

Each (platform, event id) is processed once; the person's room and address are
remembered so the bridge can reach them later; then the event goes to the command set,
the relay or the action handler, and the answer comes back rendered for the platform.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from adapters.base import Adapter
from bridge.commands import Commands, command_hint, how_to_link
from bridge.model import ActionEvent, ChatEvent, CommandEvent, ContactEvent, MessageEvent, Platform, Reply
from bridge.relay import Relay
from bridge.render import escape, render
from bridge.store.store import Store

log = logging.getLogger(__name__)


class Inbound:
    """Turns chat events into LMS actions and answers."""

    def __init__(self, store: Store, adapters: Mapping[Platform, Adapter], commands: Commands, relay: Relay) -> None:
        self.store = store
        self.adapters = adapters
        self.commands = commands
        self.relay = relay

    def reply(self, platform: Platform, html: str | None) -> Reply | None:
        """Safe HTML rendered into the platform's markup and cut to its limit."""
        if not html:
            return None
        caps = self.adapters[platform].capabilities
        return Reply(texts=tuple(render(html, caps.markup, caps.max_text)))

    async def __call__(self, event: ChatEvent) -> Reply | None:
        platform = event.identity.platform
        if not await self.store.first_time(platform, event.event_id):
            log.debug("dropping repeated event %s %s", platform.value, event.event_id)
            return None
        address = dict(event.address) if event.address is not None else None
        first_contact = False
        if event.is_private:
            first_contact = await self.store.remember_contact(event.identity, event.display_name, event.room, address)
        if isinstance(event, ContactEvent) and not first_contact:
            return None  # reopening the chat or a second install notice: greet once
        try:
            html = await self._handle(event)
        except Exception:
            log.exception("failed to handle %s event %s", platform.value, event.event_id)
            html = "<p>Something went wrong on the bridge while handling that. Please try again.</p>"
        return self.reply(platform, html)

    async def _handle(self, event: ChatEvent) -> str | None:
        link = await self.store.link_for(event.identity)
        platform = event.identity.platform
        if isinstance(event, CommandEvent):
            return await self.commands.run(event, link)
        if isinstance(event, ContactEvent):
            if link is None:
                return how_to_link(platform)
            return f"<p>Welcome back, {escape(link.lms_fullname)}. Your Pluto messages arrive here.</p>"
        if isinstance(event, ActionEvent):
            return "<p>That button is no longer active.</p>"
        if isinstance(event, MessageEvent):
            if not event.is_private:
                return None  # only private chats with the bot are relayed
            if link is None:
                return how_to_link(platform)
            if link.status == "needs_signin":
                hint = escape(command_hint(platform, "link"))
                return f"<p>Not sent: your Pluto sign-in no longer works. Send <code>{hint}</code> to sign in again.</p>"
            if not link.active:
                return f"<p>Not sent: this link is inactive ({escape(link.status_reason)}).</p>"
            return await self.relay.relay(link, event)
        return None
