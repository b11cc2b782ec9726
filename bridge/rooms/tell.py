"""Telling one person something privately: inside the room where the platform can
(Slack and Discord ephemeral messages), else in their private chat with the bot."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping

from bridge.model import Action, ChatIdentity, Destination, Platform, Post, RoomAddress
from bridge.ports import Adapter, DeliveryError
from bridge.render import render, to_plain
from bridge.retry import AnswerDelivery
from bridge.store.store import Store

log = logging.getLogger(__name__)

DAY = 86400.0
FOREVER = 100 * 365 * DAY  # told once, ever


class Teller:
    """Shows a person safe HTML that the room must not see."""

    def __init__(
        self, store: Store, adapters: Mapping[Platform, Adapter], answers: AnswerDelivery | None = None
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.answers = answers or AnswerDelivery()  # private posts: front-of-lane, retried

    async def tell(
        self, identity: ChatIdentity, html: str, room: RoomAddress | None = None, actions: tuple[Action, ...] = ()
    ) -> bool:
        """Show ``html`` (and buttons) to ``identity`` alone, inside ``room`` where the
        platform can, else in their private chat; False when they could not be reached at
        all (no private chat known, blocked)."""
        adapter = self.adapters.get(identity.platform)
        if adapter is None:
            return False
        caps = adapter.capabilities
        fallback = to_plain(html)
        posts = [Post(text=t, fallback=fallback) for t in render(html, caps.markup, caps.max_text, caps.measure)]
        if posts and actions:
            posts[-1] = dataclasses.replace(posts[-1], actions=actions[: caps.max_actions])
        try:
            if room is not None and all([await adapter.tell_in_room(room, identity, p) for p in posts]):
                return True
            chat, address = await self.store.contact(identity)
            dest = Destination(identity, chat, address)
            for post in posts:
                if await self.answers.deliver(identity, functools.partial(adapter.send, dest, post)) is None:
                    return False
        except DeliveryError as exc:
            log.info("could not tell %s privately: %s", identity, exc.reason)
            return False
        return True

    async def tell_once(
        self, identity: ChatIdentity, topic: str, html: str, room: RoomAddress | None = None, every: float = DAY
    ) -> None:
        """``tell``, unless ``identity`` was told ``topic`` in the last ``every`` seconds."""
        if await self.store.tell_once(str(identity), topic, every):
            await self.tell(identity, html, room)
