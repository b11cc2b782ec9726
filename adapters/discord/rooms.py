"""Discord rooms: guild text channels linked to Pluto group conversations.

Posts go through one channel webhook per linked channel (made once, found again after a
restart by its application id), so each shows its Pluto author's name; ``allowed_mentions``
is none, so nothing a Pluto member writes pings anyone. discord.py's webhook client keeps
the webhook's own bucket (it waits when the headers say it is spent), so the core adds no
pace of its own. Who may link: a member with Manage Channels in the channel, as the
interaction that ran the command reports it (``member.permissions``, computed by Discord
with roles and overwrites); the member list needs the privileged Server Members intent.
The bot removed from the server or the channel deleted pauses the link.
"""

import asyncio
import logging
from typing import Any

import discord

from adapters.discord.errors import map_error
from adapters.discord.inbound import DiscordInbound
from adapters.discord.rooms_address import room_of
from adapters.discord.views import _NO_MENTIONS
from bridge.model import ChatIdentity, Platform, Post, RoomAddress, RoomChange, RoomEvent, SentRef
from bridge.ports import RoomUnavailable

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Pluto Bridge"
MEMBERS_PAGE = 1000  # Discord's largest page of guild members
MAX_USERNAME = 80  # Discord's limit on a webhook message's username
MISSING_ACCESS, UNKNOWN_CHANNEL, UNKNOWN_WEBHOOK = 50001, 10003, 10015
GONE = {
    MISSING_ACCESS: "the bot was removed from the server",
    UNKNOWN_CHANNEL: "the channel was deleted",
}


class DiscordRooms(DiscordInbound):
    """The adapter's room half: webhook posts, permissions, members and the bot's removal."""

    _webhooks: dict[str, discord.Webhook]  # channel id -> the bot's webhook there
    _webhook_making: dict[str, asyncio.Lock]
    _member_names: dict[str, dict[str, str]]  # channel id -> user id -> name (last listing)
    _left_guilds: set[int]  # servers the bot was removed from while running

    # -- posting ---------------------------------------------------------------------------

    async def _webhook(self, room: RoomAddress) -> discord.Webhook:
        """The bot's webhook in the channel: the cached one, one made earlier, or a new one."""
        client = self._require_client()
        cached = self._webhooks.get(room.room_id)
        if cached is not None:
            return cached
        async with self._webhook_making.setdefault(room.room_id, asyncio.Lock()):
            if room.room_id not in self._webhooks:
                found = await client.http.channel_webhooks(int(room.room_id))
                ours = [w for w in found if str(w.get("application_id")) == str(client.application_id)]
                data = ours[0] if ours else await client.http.create_webhook(int(room.room_id), name=WEBHOOK_NAME)
                self._webhooks[room.room_id] = discord.Webhook.from_state(data, client._connection)
        return self._webhooks[room.room_id]

    async def send_to_room(self, room: RoomAddress, post: Post, author: str) -> SentRef:
        """Post through the channel's webhook as ``author``, mentions inert; a reply quotes
        nothing (webhooks cannot reply), the core's text carries the context."""
        client = self._require_client()
        try:
            if client.get_channel(int(room.room_id)) is None:
                # Not in the cache: the server is gone or not loaded yet; ask Discord once.
                await client.http.get_channel(int(room.room_id))
            webhook = await self._webhook(room)
            message = await webhook.send(
                post.text,
                username=(author or WEBHOOK_NAME)[:MAX_USERNAME],
                allowed_mentions=_NO_MENTIONS,
                wait=True,
            )
        except discord.HTTPException as exc:
            if exc.code == UNKNOWN_WEBHOOK:
                self._webhooks.pop(room.room_id, None)  # deleted by someone: make another next time
            if exc.code in GONE:
                raise RoomUnavailable(GONE[exc.code]) from exc
            raise map_error(exc) from exc
        except Exception as exc:
            raise map_error(exc) from exc
        return SentRef(room=room.room_id, message_id=str(message.id))

    async def tell_in_room(self, room: RoomAddress, identity: ChatIdentity, post: Post) -> bool:
        """Discord shows a message to one person only as an interaction's answer: the core
        answers commands that way already; anything else goes to the person's DM."""
        return False

    # -- who is there, who may link --------------------------------------------------------

    async def _guild_of(self, room: RoomAddress) -> str:
        """The channel's server: from the cache, else ``GET /channels/{id}``."""
        client = self._require_client()
        channel = client.get_channel(int(room.room_id))
        if isinstance(channel, discord.abc.GuildChannel):
            return str(channel.guild.id)
        data = await client.http.get_channel(int(room.room_id))
        return str(data.get("guild_id") or "")

    async def room_members(self, room: RoomAddress) -> list[ChatIdentity] | None:
        """The server's people (bots left out), from ``GET /guilds/{id}/members``; None when
        the Server Members intent is not granted (Discord answers 403)."""
        client = self._require_client()
        people: dict[str, str] = {}
        after: int | None = None
        try:
            guild = await self._guild_of(room)
            while True:
                page = await client.http.get_members(int(guild), MEMBERS_PAGE, after)
                for member in page:
                    user = member["user"]
                    if not user.get("bot"):
                        people[str(user["id"])] = str(member.get("nick") or user.get("global_name") or user["username"])
                if len(page) < MEMBERS_PAGE:
                    break
                after = int(page[-1]["user"]["id"])
        except discord.HTTPException as exc:
            log.info("discord: cannot list the members of %s: %s", room, map_error(exc).reason)
            return None
        self._member_names[room.room_id] = people
        return [ChatIdentity(Platform.DISCORD, "", uid) for uid in people]

    async def room_member_names(self, room: RoomAddress) -> dict[str, str]:
        return dict(self._member_names.get(room.room_id, {}))

    async def can_manage(self, room: RoomAddress, identity: ChatIdentity) -> bool | None:
        """Manage Channels in the channel, as the person's latest interaction there said."""
        return self._may_manage.get((room.room_id, identity.user_id))

    async def room_problem(self, room: RoomAddress) -> str | None:
        """None while the bot can reach the channel; else why not."""
        client = self._require_client()
        try:
            await client.http.get_channel(int(room.room_id))
        except discord.HTTPException as exc:
            return GONE.get(exc.code or 0, f"Discord answers {exc.status} for the channel")
        return None

    # -- the bot's removal and return -----------------------------------------------------

    async def _room_changed(self, channels: list[discord.TextChannel], change: RoomChange) -> None:
        """One ``RoomEvent`` per text channel (the core ignores channels nobody linked)."""
        client = self._client
        if client is None or client.user is None:
            return
        bot = ChatIdentity(Platform.DISCORD, "", str(client.user.id))
        for channel in channels:
            if change is RoomChange.BOT_REMOVED:
                self._webhooks.pop(str(channel.id), None)
            event = RoomEvent(
                identity=bot,
                event_id=f"{change.value}:{channel.id}:{discord.utils.time_snowflake(discord.utils.utcnow())}",
                room=str(channel.id),
                display_name=client.user.display_name,
                is_private=False,
                shared=room_of(channel),
                change=change,
            )
            await self._submit(event, self._no_answer)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """A person edited their message in a server channel: edits are not carried to
        Pluto (the core tells them so once). Updates without ``edited_timestamp`` are
        Discord adding link previews, not edits."""
        data: dict[str, Any] = dict(payload.data)
        author = data.get("author") or {}
        if payload.guild_id is None or author.get("bot") or not data.get("edited_timestamp"):
            return
        channel = self._client.get_channel(payload.channel_id) if self._client is not None else None
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return
        event = RoomEvent(
            identity=ChatIdentity(Platform.DISCORD, "", str(author.get("id", ""))),
            event_id=f"edit:{payload.message_id}:{data['edited_timestamp']}",
            room=str(channel.id),
            display_name=str(author.get("global_name") or author.get("username") or ""),
            is_private=False,
            shared=room_of(channel),
            change=RoomChange.EDITED,
        )
        await self._submit(event, self._no_answer)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Kicked or banned from the server (or the server deleted)."""
        self._left_guilds.add(guild.id)
        await self._room_changed(list(guild.text_channels), RoomChange.BOT_REMOVED)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Invited (back) into a server."""
        self._left_guilds.discard(guild.id)
        await self._room_changed(list(guild.text_channels), RoomChange.BOT_ADDED)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """A server is there: back from an outage, or (within discord.py's first seconds
        after READY, which takes every GUILD_CREATE for a guild loading) a server the bot
        was just invited back to: that one resumes its rooms."""
        if guild.id in self._left_guilds:
            await self.on_guild_join(guild)

    async def on_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A channel was deleted."""
        if isinstance(channel, discord.TextChannel):
            await self._room_changed([channel], RoomChange.BOT_REMOVED)
