"""``pluto-bridge rooms list``: every linked room, its group, its state and why it paused."""

from __future__ import annotations

import datetime as dt

from bridge.config import Settings
from bridge.operator import Echo, ago, open_store
from bridge.store.records import RoomStatus


async def list_rooms(settings: Settings, echo: Echo) -> int:
    """Print one line per room link (linked, paused, or being linked)."""
    async with open_store(settings) as store:
        rooms = await store.room_links(tuple(RoomStatus))
    for rl in rooms:
        state = rl.status.value
        if rl.status is RoomStatus.PAUSED:
            state += f" {ago(rl.paused_at)}: {rl.reason}"
        made = dt.datetime.fromtimestamp(rl.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        name = f" ({rl.room.name})" if rl.room.name else ""
        group = f"{rl.conversation_name} (conversation {rl.conversation_id})" if rl.conversation_id else "(not chosen)"
        echo(f"{rl.room}{name}\t{group}\t{state}\tlinked by LMS user {rl.linker_lms_user_id} ({rl.linker}), {made}")
    echo(f"{len(rooms)} room(s)")
    return 0
