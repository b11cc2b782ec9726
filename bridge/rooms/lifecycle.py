"""Pausing and resuming a room link: nothing the group writes meanwhile is lost.

A link pauses when the bot is removed from the room, the room is deleted or archived, the
Pluto group cannot be read any more, or the linker unlinks their Pluto account; ``room
status`` and ``pluto-bridge rooms list`` show why. The room's cursor stays where it was,
so when the room comes back the backlog arrives in order (or a summary, above
``rooms.backlog_limit``).
"""

from __future__ import annotations

import logging

from bridge.render import escape
from bridge.rooms.intake import RoomIntake, tell_linker
from bridge.store.records import RoomLink, RoomStatus
from bridge.store.store import Store

log = logging.getLogger(__name__)


class Lifecycle:
    """Pauses and resumes room links."""

    def __init__(self, store: Store, intake: RoomIntake) -> None:
        self.store = store
        self.intake = intake
        intake.pause = self.pause

    async def pause(self, rl: RoomLink, reason: str) -> None:
        """Pause ``rl`` with ``reason`` (once; a paused link keeps its first reason)."""
        if not await self.store.pause_room(rl.id, reason):
            return
        log.warning("room %s (group conversation %s) paused: %s", rl.room, rl.conversation_id, reason)
        await tell_linker(
            self.store,
            rl,
            f"<p>The room linked to <b>{escape(rl.conversation_name)}</b> is paused: {escape(reason)}. "
            "Nothing is lost: when it is back, what was written meanwhile follows.</p>",
        )

    async def resume(self, rl: RoomLink) -> None:
        """Resume a paused ``rl``: the backlog, or a summary, follows."""
        if rl.status is not RoomStatus.PAUSED or not await self.store.resume_room(rl.id):
            return
        log.info("room %s (group conversation %s) resumed", rl.room, rl.conversation_id)
        await self.intake.catch_up(rl)

    async def linker_unlinked(self, identity_rooms: list[RoomLink]) -> None:
        """The linker unlinked their Pluto account: their rooms pause."""
        for rl in identity_rooms:
            await self.pause(rl, "the person who linked it unlinked their Pluto account")
