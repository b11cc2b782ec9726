"""Where a guild channel is, as the core's ``RoomAddress``."""

import discord

from bridge.model import Platform, RoomAddress


def room_of(channel: discord.TextChannel | discord.Thread) -> RoomAddress:
    """A guild text channel as a room address; a thread is its parent channel's room (its
    messages are replies there). No workspace: Discord's ids are global, and the people in
    the room are identified without one too (the store pairs them with the room's)."""
    room_id = channel.parent_id if isinstance(channel, discord.Thread) else channel.id
    parent = channel.parent if isinstance(channel, discord.Thread) else channel
    name = f"#{parent.name}" if parent is not None else ""
    return RoomAddress(Platform.DISCORD, "", str(room_id), name=name)
