"""Pausing and resuming a room link: nothing the group writes meanwhile is lost.

A link pauses when the bot is removed from the room, the room is deleted or archived, the
Pluto group cannot be read any more, or the linker unlinks their Pluto account; ``room
status`` and ``pluto-bridge rooms list`` show why. It resumes when the bot is back in the
room, the room unarchived, or (tried on a back-off by the intake) a linked member can read
the group again. The room's cursor stays where it was,
so when the room comes back the backlog arrives in order (or a summary, above
``rooms.backlog_limit``).
"""

from __future__ import annotations

import logging

from bridge.render import escape
from bridge.rooms.intake import Read, RoomIntake, tell_linker
from bridge.store.records import RoomLink, RoomStatus
from bridge.store.store import Store

log = logging.getLogger(__name__)


class Lifecycle:
    """Pauses and resumes room links."""

    def __init__(self, store: Store, intake: RoomIntake) -> None:
        self.store = store
        self.intake = intake
        intake.pause = self.pause
        intake.resume = self.resume

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

    async def resume(self, rl: RoomLink, got: Read | None = None) -> None:
        """Resume a paused ``rl``: the backlog, or a summary, follows; the linker, told of
        the pause, is told it is over. ``got``: the group as just read, if it was."""
        if rl.status is not RoomStatus.PAUSED or not await self.store.resume_room(rl.id):
            return
        log.info("room %s (group conversation %s) resumed", rl.room, rl.conversation_id)
        await self.intake.catch_up(rl, got)
        await tell_linker(
            self.store,
            rl,
            f"<p>The room linked to <b>{escape(rl.conversation_name)}</b> is active again: what was written "
            "while it was paused follows there.</p>",
        )

    async def linker_unlinked(self, identity_rooms: list[RoomLink]) -> None:
        """The linker unlinked their Pluto account: their rooms pause."""
        for rl in identity_rooms:
            await self.pause(rl, "the person who linked it unlinked their Pluto account")
