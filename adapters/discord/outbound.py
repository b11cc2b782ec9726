"""Outbound Discord: posts into the person's DM channel (opened once) through discord.py's
REST client, edits and deletes, and the history search that finds a post sent before a crash."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import discord

from adapters.discord.client import _BridgeClient
from adapters.discord.errors import map_error
from adapters.discord.views import _NO_MENTIONS, _button_view
from bridge.model import Destination, Post, SentRef
from bridge.ports import Adapter, TransientError

HISTORY_PAGE = 100  # Discord's largest page of channel messages


class DiscordOutbound(Adapter):
    """The adapter's sending half (``DiscordAdapter`` runs the client)."""

    _client: _BridgeClient | None
    _ready: asyncio.Event
    _dm_channels: dict[str, str]
    _dm_opening: dict[str, asyncio.Lock]

    def _require_client(self) -> _BridgeClient:
        if self._client is None or not self._ready.is_set():
            raise TransientError("discord adapter is not connected")
        return self._client

    async def _dm_channel(self, client: _BridgeClient, user_id: str) -> str:
        """The person's DM channel id, opened once: two sends to one person at the same
        moment (a notice and an item in different lanes) share one ``create_dm``."""
        cached = self._dm_channels.get(user_id)
        if cached is not None:
            return cached
        async with self._dm_opening.setdefault(user_id, asyncio.Lock()):
            cached = self._dm_channels.get(user_id)
            if cached is None:
                channel = await client.create_dm(discord.Object(id=int(user_id)))  # POST /users/@me/channels
                cached = self._dm_channels[user_id] = str(channel.id)
        self._dm_opening.pop(user_id, None)
        return cached

    @staticmethod
    def _partial(client: _BridgeClient, ref: SentRef) -> discord.PartialMessage:
        channel = client.get_partial_messageable(int(ref.room), type=discord.ChannelType.private)
        return channel.get_partial_message(int(ref.message_id))

    async def send(self, dest: Destination, post: Post) -> SentRef:
        """Post into the person's DM channel (opened and cached on first use)."""
        client = self._require_client()
        try:
            room = dest.room or await self._dm_channel(client, dest.identity.user_id)
            channel = client.get_partial_messageable(int(room), type=discord.ChannelType.private)
            options: dict[str, Any] = {"allowed_mentions": _NO_MENTIONS}
            if post.actions:
                options["view"] = _button_view(post.actions)
            if post.reply_to:
                options["reference"] = discord.MessageReference(
                    message_id=int(post.reply_to), channel_id=int(room), fail_if_not_exists=False
                )
            message = await channel.send(post.text, **options)
        except Exception as exc:
            raise map_error(exc) from exc
        return SentRef(room=str(message.channel.id), message_id=str(message.id))

    async def find_sent(self, dest: Destination, post: Post, since: float) -> SentRef | None:
        """The bot's own message with this post's text in the person's DM since ``since``:
        GET /channels/{dm}/messages with ``after`` the snowflake of that moment (less a
        second between the two clocks), which answers the 100 messages just after it."""
        client = self._require_client()
        after = discord.utils.time_snowflake(datetime.fromtimestamp(max(0.0, since - 1), UTC))
        try:
            room = dest.room or await self._dm_channel(client, dest.identity.user_id)
            messages = await client.http.logs_from(int(room), HISTORY_PAGE, after=after)
        except Exception as exc:
            raise map_error(exc) from exc
        me = str(client.user.id) if client.user is not None else None  # set at login, before any send
        for message in messages:
            if str(message["author"]["id"]) == me and message.get("content") == post.text:
                return SentRef(room=room, message_id=str(message["id"]))
        return None

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """Replace text and buttons (no actions: ``components: []`` retires the buttons).
        ``dest`` is unused: ``ref`` holds the DM channel and message ids."""
        client = self._require_client()
        try:
            await self._partial(client, ref).edit(
                content=post.text,
                view=_button_view(post.actions) if post.actions else None,
                allowed_mentions=_NO_MENTIONS,
            )
        except Exception as exc:
            raise map_error(exc) from exc

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """Delete a message the bot sent (``dest`` unused, as in ``edit``)."""
        client = self._require_client()
        try:
            await self._partial(client, ref).delete()
        except Exception as exc:
            raise map_error(exc) from exc
