"""Guilds for the Discord sandbox: servers, their text channels and threads, members with
their permissions, channel webhooks, and the people's side of all that.

What it models (Discord's documented behaviour, see /work/shared/reference/platforms.md
section 4 and the OpenAPI document):

* The bot's guilds come in READY as unavailable and then one ``GUILD_CREATE`` each; adding
  the bot later dispatches ``GUILD_CREATE``, removing it ``GUILD_DELETE`` without
  ``unavailable``; deleting a channel ``CHANNEL_DELETE``.
* ``GET /channels/{id}`` answers 404 (10003) for a deleted channel and 403 (50001 Missing
  Access) once the bot is out of the guild; so do webhook creation and listing.
* ``GET /guilds/{id}/members`` lists members only with the privileged Server Members intent
  granted in the portal (``members_intent_granted``), else 403 (50001).
* Channel webhooks: ``POST``/``GET /channels/{id}/webhooks`` create and list them (Manage
  Webhooks); ``POST /webhooks/{id}/{token}?wait=true`` executes one with a ``username``:
  the message's author is the webhook shown under that name (``bot: true``). Webhook
  execution has its own bucket per webhook (``webhook_limit``, 5 per 2 s as Discord's
  headers answer) and does not count against the bot's global limit; it keeps working after
  the bot left, as on Discord, so only the bot's own calls tell that it was removed.
* Slash commands and button presses in a guild channel carry ``guild_id``, ``member`` with
  the member's ``permissions`` in that channel, and context 0 (GUILD).
* Threads (type 11) started from a message share that message's id, as on Discord;
  ``THREAD_CREATE`` precedes the first message in them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_WEBHOOKS = 1 << 29
ALL_PERMISSIONS = (1 << 51) - 1
MEMBER = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY  # what @everyone may do
MISSING_ACCESS, UNKNOWN_CHANNEL, UNKNOWN_WEBHOOK = 50001, 10003, 10015


@dataclass
class Guild:
    """One server: its members (user id -> permission bits) and text channels."""

    id: str
    name: str
    owner_id: str
    members: dict[str, int] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    bot_in: bool = True


@dataclass
class Webhook:
    """A channel webhook and who made it (the application, for the bot's own)."""

    id: str
    token: str
    channel_id: str
    guild_id: str
    name: str
    application_id: str


class DiscordRest(Protocol):
    """What ``GuildsMixin`` uses of ``SandboxDiscord``: the REST plumbing it is mixed into."""

    def snowflake(self) -> str: ...

    async def dispatch(self, event: str, data: dict[str, Any]) -> int: ...

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response: ...

    @staticmethod
    def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response: ...

    def _validate_content(self, body: Any) -> web.Response | None: ...

    def _message(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        *,
        components: list[Any] | None = None,
        reference: dict[str, Any] | None = None,
        flags: int = 0,
        webhook_id: str | None = None,
    ) -> dict[str, Any]: ...


# The mixin is typed against the plumbing it needs; at run time it is a plain class.
if TYPE_CHECKING:
    _Host = DiscordRest
else:
    _Host = object


class GuildsMixin(_Host):
    """The guild half of ``SandboxDiscord`` (which provides the REST plumbing)."""

    # Provided by SandboxDiscord.
    application_id: str
    bot_user: dict[str, Any]
    users: dict[str, dict[str, Any]]
    messages: dict[str, dict[str, dict[str, Any]]]

    def _init_guilds(self) -> None:
        self.guilds: dict[str, Guild] = {}
        self.guild_channels: dict[str, dict[str, Any]] = {}  # channel id -> channel object
        self.webhooks: dict[str, Webhook] = {}
        self.members_intent_granted = True
        self.webhook_limit: tuple[int, float] = (5, 2.0)

    # -- switches and builders -----------------------------------------------------------------

    def add_guild(self, guild_id: str, name: str, owner_id: str) -> Guild:
        """A server with the bot in it; its owner may do anything."""
        guild = self.guilds[guild_id] = Guild(guild_id, name, owner_id)
        guild.members[owner_id] = ADMINISTRATOR | MEMBER
        return guild

    def add_text_channel(self, guild_id: str, channel_id: str, name: str) -> None:
        """A guild text channel (type 0)."""
        self.guild_channels[channel_id] = {
            "id": channel_id,
            "type": 0,
            "guild_id": guild_id,
            "name": name,
            "position": len(self.guilds[guild_id].channels),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        self.guilds[guild_id].channels.append(channel_id)
        self.messages.setdefault(channel_id, {})

    async def add_member(self, guild_id: str, user_id: str, *, manage_channels: bool = False) -> None:
        """The person joins the server (``GUILD_MEMBER_ADD``, for the Server Members intent)."""
        self.guilds[guild_id].members[user_id] = MEMBER | (MANAGE_CHANNELS if manage_channels else 0)
        await self.dispatch("GUILD_MEMBER_ADD", {**self._member(guild_id, user_id), "guild_id": guild_id})

    async def remove_bot_from_guild(self, guild_id: str) -> None:
        """The bot is kicked (``GUILD_DELETE`` without ``unavailable``)."""
        self.guilds[guild_id].bot_in = False
        await self.dispatch("GUILD_DELETE", {"id": guild_id})

    async def add_bot_to_guild(self, guild_id: str) -> None:
        """The bot is invited back (``GUILD_CREATE``)."""
        self.guilds[guild_id].bot_in = True
        joined = self._guild_payload(self.guilds[guild_id])
        del joined["unavailable"]  # a join, not a guild coming back after an outage
        await self.dispatch("GUILD_CREATE", joined)

    async def delete_channel(self, channel_id: str) -> None:
        """The channel is deleted (``CHANNEL_DELETE``)."""
        channel = self.guild_channels.pop(channel_id)
        self.guilds[channel["guild_id"]].channels.remove(channel_id)
        await self.dispatch("CHANNEL_DELETE", channel)

    async def user_posts(self, user: str, channel_id: str, text: str, reply_to: str | None = None) -> dict[str, Any]:
        """The person writes in a guild channel or thread (optionally replying)."""
        channel = self.guild_channels[channel_id]
        reference = None
        if reply_to is not None:
            reference = {"type": 0, "message_id": reply_to, "channel_id": channel_id, "fail_if_not_exists": False}
        message = self._message(channel_id, self.users[user], text, reference=reference)
        message["guild_id"] = channel["guild_id"]
        message["member"] = self._member(channel["guild_id"], user, with_user=False)
        if reference is not None and reply_to in self.messages[channel_id]:
            message["referenced_message"] = self.messages[channel_id][reply_to]
        self.messages[channel_id][message["id"]] = message
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def user_edits(self, message: dict[str, Any], text: str) -> None:
        """The message's author edits it (``MESSAGE_UPDATE`` with ``edited_timestamp``)."""
        message["content"] = text
        message["edited_timestamp"] = datetime.now(UTC).isoformat()
        await self.dispatch("MESSAGE_UPDATE", dict(message))

    async def user_starts_thread(self, user: str, starter: dict[str, Any], name: str) -> str:
        """A thread from ``starter`` (a message in a text channel): its id is the message's."""
        parent = self.guild_channels[starter["channel_id"]]
        thread = {
            **parent,
            "id": starter["id"],
            "type": 11,
            "name": name,
            "parent_id": parent["id"],
            "owner_id": user,
            "message_count": 0,
            "member_count": 1,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": starter["timestamp"],
                "locked": False,
            },
            "newly_created": True,
        }
        self.guild_channels[thread["id"]] = thread
        self.messages.setdefault(thread["id"], {})
        await self.dispatch("THREAD_CREATE", thread)
        return str(thread["id"])

    def webhook_posts(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages posted through the bot's webhooks in the channel, oldest first."""
        ours = {w.id for w in self.webhooks.values() if w.application_id == self.application_id}
        return [m for m in self.messages.get(channel_id, {}).values() if m.get("webhook_id") in ours]

    def permissions(self, guild_id: str, user_id: str) -> int:
        """What Discord computes for the member in the guild's channels: everything for an
        administrator or the owner, else their bits."""
        guild = self.guilds[guild_id]
        bits = guild.members.get(user_id, 0)
        return ALL_PERMISSIONS if user_id == guild.owner_id or bits & ADMINISTRATOR else bits

    # -- payloads ---------------------------------------------------------------------------------

    def _member(self, guild_id: str, user_id: str, *, with_user: bool = True) -> dict[str, Any]:
        member: dict[str, Any] = {
            "roles": [],
            "nick": None,
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "permissions": str(self.permissions(guild_id, user_id)),
        }
        if with_user:
            member["user"] = self.users[user_id]
        return member

    def _guild_payload(self, guild: Guild) -> dict[str, Any]:
        everyone = {
            "id": guild.id,
            "name": "@everyone",
            "permissions": str(MEMBER),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": guild.id,
            "name": guild.name,
            "owner_id": guild.owner_id,
            "unavailable": False,
            "icon": None,
            "features": [],
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "channels": [self.guild_channels[c] for c in guild.channels],
            "threads": [],
            "members": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "member_count": len(guild.members) + 1,
            "large": False,
            "joined_at": "2026-01-01T00:00:00+00:00",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
        }

    def ready_guilds(self) -> list[dict[str, Any]]:
        """READY's ``guilds``: the bot's guilds, unavailable until their GUILD_CREATE."""
        return [{"id": g.id, "unavailable": True} for g in self.guilds.values() if g.bot_in]

    async def send_guild_creates(self) -> None:
        """One GUILD_CREATE per guild the bot is in, right after READY."""
        for guild in self.guilds.values():
            if guild.bot_in:
                await self.dispatch("GUILD_CREATE", self._guild_payload(guild))

    def guild_interaction(self, payload: dict[str, Any], user: str, channel_id: str) -> dict[str, Any]:
        """An interaction payload moved into a guild channel: ``member`` with permissions."""
        channel = self.guild_channels[channel_id]
        guild_id = channel["guild_id"]
        payload = {k: v for k, v in payload.items() if k != "user"}
        return {
            **payload,
            "guild_id": guild_id,
            "channel_id": channel_id,
            "channel": channel,
            "member": self._member(guild_id, user),
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,  # GUILD
        }

    # -- REST -------------------------------------------------------------------------------------

    def guild_route(self, method: str, p: list[str], query: Any, body: Any) -> web.Response | None:
        """The guild routes, or None when the path is not one of them."""
        n = len(p)
        if p[0] == "channels" and n == 2 and method == "GET" and p[1] in self.guild_channels:
            return self._guild_channel(p[1]) or self._json(self.guild_channels[p[1]])
        if p[0] == "channels" and n == 3 and p[2] == "webhooks":
            return self._channel_webhooks(method, p[1], body)
        if p[0] == "guilds" and n == 3 and p[2] == "members" and method == "GET":
            return self._guild_members(p[1], query)
        if p[0] == "webhooks" and n == 3 and p[1] in self.webhooks and method == "POST":
            return self._execute_webhook(self.webhooks[p[1]], p[2], query, body)
        return None

    def _guild_channel(self, channel_id: str) -> web.Response | None:
        """403 when the bot is out of the channel's guild; None when it may use the channel."""
        channel = self.guild_channels.get(channel_id)
        if channel is None:
            return self._error(404, UNKNOWN_CHANNEL, "Unknown Channel")
        if not self.guilds[channel["guild_id"]].bot_in:
            return self._error(403, MISSING_ACCESS, "Missing Access")
        return None

    def _channel_webhooks(self, method: str, channel_id: str, body: Any) -> web.Response:
        problem = self._guild_channel(channel_id)
        if problem is not None:
            return problem
        if method == "GET":
            found = [w for w in self.webhooks.values() if w.channel_id == channel_id]
            return self._json([self._webhook_payload(w) for w in found])
        if method != "POST":
            return self._error(405, 0, "405: Method Not Allowed")
        name = str((body or {}).get("name") or "")
        if not 1 <= len(name) <= 80:
            return self._error(400, 50035, "Invalid Form Body", {"name": {"_errors": []}})
        hook = Webhook(
            self.snowflake(),
            secrets.token_urlsafe(48),
            channel_id,
            self.guild_channels[channel_id]["guild_id"],
            name,
            self.application_id,
        )
        self.webhooks[hook.id] = hook
        return self._json(self._webhook_payload(hook))

    def _webhook_payload(self, hook: Webhook) -> dict[str, Any]:
        return {
            "id": hook.id,
            "type": 1,
            "guild_id": hook.guild_id,
            "channel_id": hook.channel_id,
            "name": hook.name,
            "avatar": None,
            "token": hook.token,
            "application_id": hook.application_id,
            "user": self.bot_user,
        }

    def _guild_members(self, guild_id: str, query: Any) -> web.Response:
        guild = self.guilds.get(guild_id)
        if guild is None or not guild.bot_in or not self.members_intent_granted:
            return self._error(403, MISSING_ACCESS, "Missing Access")
        limit = int(query.get("limit", "1"))
        after = int(query.get("after", "0"))
        ids = sorted((u for u in guild.members if int(u) > after), key=int)[:limit]
        return self._json([self._member(guild_id, u) for u in ids])

    def _execute_webhook(self, hook: Webhook, token: str, query: Any, body: Any) -> web.Response:
        if token != hook.token or hook.channel_id not in self.guild_channels:
            return self._error(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        problem = self._validate_content(body)
        if problem:
            return problem
        username = str((body or {}).get("username") or hook.name)
        if not 1 <= len(username) <= 80:
            return self._error(400, 50035, "Invalid Form Body", {"username": {"_errors": []}})
        author = {**self.bot_user, "id": hook.id, "username": username, "global_name": None, "bot": True}
        message = self._message(
            hook.channel_id, author, body.get("content", ""), components=body.get("components"), webhook_id=hook.id
        )
        message["guild_id"] = hook.guild_id
        message["allowed_mentions"] = body.get("allowed_mentions")  # kept for assertions
        self.messages[hook.channel_id][message["id"]] = message
        if query.get("wait") in ("true", "True", "1"):
            return self._json(message)
        return web.Response(status=204)
