"""Slack channels (public and private) as rooms (issue 16): posts under the author's name
(``chat:write.customize``), ephemeral answers in the channel, its members
(``conversations.members``); any channel member may link it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError

from adapters.slack.blocks import build_blocks, notification_text
from adapters.slack.errors import map_slack_error
from adapters.slack.inbound import SlackInbound, channel_room
from adapters.slack.manifest import ROOM_EVENTS
from bridge.inbound.interaction import Interaction
from bridge.model import ChatIdentity, MessageEvent, Platform, Post, RoomAddress, RoomChange, RoomEvent, SentRef
from bridge.ports import RoomUnavailable

log = logging.getLogger(__name__)

# What Slack answers when the bot cannot post into a channel any more.
ROOM_GONE = {
    "not_in_channel": "the bot was removed from the channel",
    "channel_not_found": "the channel was deleted, or the bot removed from it",
    "is_archived": "the channel is archived",
}
MEMBERS_PAGE = 200


class SlackRooms(SlackInbound):
    """The adapter's channels: the room calls of the ``bridge.ports.Adapter`` contract, and
    channel messages and events (joins, leaves, the bot removed or added, archive) as room
    events."""

    _bot_users: dict[str, str]
    app: AsyncApp

    async def _bot_user(self, team: str) -> str | None:
        """The bot's own user id in ``team`` (auth.test, cached)."""
        found = self._bot_users.get(team)
        if found is None:
            client = self._clients.get(team)
            if client is None:
                return None
            try:
                found = str((await client.auth_test()).get("user_id") or "")
            except SlackClientError as exc:
                log.info("slack: auth.test for %s failed: %s", team, exc)
                return None
            self._bot_users[team] = found
        return found

    async def send_to_room(self, room: RoomAddress, post: Post, author: str) -> SentRef:
        """chat.postMessage into the channel, shown as sent by ``author``."""
        client = self._client(room.workspace)
        try:
            resp = await client.chat_postMessage(
                channel=room.room_id,
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
                username=author or None,
                unfurl_links=False,
                unfurl_media=False,
                mrkdwn=True,
            )
        except SlackApiError as exc:
            gone = ROOM_GONE.get(str(exc.response.get("error", "")))
            if gone is not None:
                raise RoomUnavailable(gone) from exc
            raise map_slack_error(exc) from exc
        except Exception as exc:
            raise map_slack_error(exc) from exc
        return SentRef(room=str(resp["channel"]), message_id=str(resp["ts"]))

    async def tell_in_room(self, room: RoomAddress, identity: ChatIdentity, post: Post) -> bool:
        """chat.postEphemeral: seen by that member alone; False when Slack will not (not a
        member of the channel), so the core writes to their DM instead."""
        client = self._clients.get(room.workspace)
        if client is None:
            return False
        try:
            await client.chat_postEphemeral(
                channel=room.room_id,
                user=identity.user_id,
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
            )
        except SlackClientError as exc:
            log.info("slack: ephemeral to %s in %s failed: %s", identity.user_id, room.room_id, exc)
            return False
        return True

    async def _member_ids(self, room: RoomAddress) -> list[str] | None:
        client = self._clients.get(room.workspace)
        if client is None:
            return None
        found: list[str] = []
        cursor = ""
        try:
            while True:
                resp = await client.conversations_members(
                    channel=room.room_id, limit=MEMBERS_PAGE, cursor=cursor or None
                )
                found += [str(m) for m in resp.get("members") or []]
                cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    return found
        except SlackClientError as exc:
            log.info("slack: conversations.members %s failed: %s", room.room_id, exc)
            return None

    async def room_members(self, room: RoomAddress) -> list[ChatIdentity] | None:
        """The channel's members, the bot left out."""
        ids = await self._member_ids(room)
        if ids is None:
            return None
        bot = await self._bot_user(room.workspace)
        return [ChatIdentity(Platform.SLACK, room.workspace, u) for u in ids if u != bot]

    async def can_manage(self, room: RoomAddress, identity: ChatIdentity) -> bool | None:
        """Any member of the channel may link it."""
        ids = await self._member_ids(room)
        return None if ids is None else identity.user_id in ids

    async def room_problem(self, room: RoomAddress) -> str | None:
        client = self._clients.get(room.workspace)
        if client is None:
            return "the bridge has no token for this workspace"
        try:
            info = (await client.conversations_info(channel=room.room_id)).get("channel") or {}
        except SlackApiError as exc:
            return ROOM_GONE.get(str(exc.response.get("error", "")))
        except SlackClientError:
            return None
        if info.get("is_archived"):
            return ROOM_GONE["is_archived"]
        if info.get("is_member") is False:
            return ROOM_GONE["not_in_channel"]
        return None

    # --- inbound: what happens in channels ------------------------------------------------

    def _room_listeners(self) -> None:
        """Bolt listeners for the channel events rooms need."""
        for kind in ROOM_EVENTS:
            self.app.event(kind)(self._on_room_change)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        if event.get("channel_type") in ("channel", "group"):
            await self._on_room_message(body, event, context)
        else:
            await super()._on_message(body, event, context)

    async def _on_room_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """A channel message -> MessageEvent in a room; an edit or deletion -> RoomEvent;
        bots (the bridge's own posts included) and other subtypes are not relayed."""
        subtype = event.get("subtype")
        team = str(body.get("team_id") or context.team_id)
        room = channel_room(team, str(event.get("channel") or ""))
        if room is None:
            return
        if subtype in ("message_changed", "message_deleted"):
            changed = event.get("message") or event.get("previous_message") or {}
            user = changed.get("user")
            if user and not changed.get("bot_id"):
                change = RoomChange.EDITED if subtype == "message_changed" else RoomChange.DELETED
                await self._room_event(body, team, str(user), room, change)
            return
        if event.get("bot_id") or subtype not in (None, "file_share", "thread_broadcast", "me_message"):
            return
        user = event.get("user")
        if not user or user == getattr(context, "bot_user_id", None):
            return
        identity = self._identity(team, str(user))
        unrecorded = str(body.get("event_id") or "")

        async def settle() -> None:
            self._settle(unrecorded)

        place = self._runs.place(identity, settle)
        try:
            thread = event.get("thread_ts")
            thread = thread if thread and thread != event.get("ts") else None
            message = MessageEvent(
                identity=identity,
                event_id=str(body.get("event_id") or event["ts"]),
                room=room.room_id,
                display_name=await self._display_name(team, str(user)),
                is_private=False,
                shared=room,
                text=await self._plain(team, str(event.get("text") or "")),
                reply_to=thread,
                thread=thread,
            )
            await self._runs.submit(Interaction(message), place)
        except BaseException:
            place.leave()
            raise

    async def _on_room_change(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """Joins and leaves (the bot's own: removed or added), archive and unarchive."""
        team = str(body.get("team_id") or context.team_id)
        kind = str(event.get("type"))
        room = channel_room(team, str(event.get("channel") or ""))
        user = str(event.get("user") or "")
        if room is None or not user:
            return
        bot = getattr(context, "bot_user_id", None) or await self._bot_user(team)
        if kind in ("member_joined_channel", "member_left_channel"):
            joined = kind == "member_joined_channel"
            if user == bot:
                change = RoomChange.BOT_ADDED if joined else RoomChange.BOT_REMOVED
            else:
                change = RoomChange.MEMBER_JOINED if joined else RoomChange.MEMBER_LEFT
        else:
            change = RoomChange.ARCHIVED if kind.endswith("_archive") else RoomChange.UNARCHIVED
        await self._room_event(body, team, user, room, change)

    async def _room_event(
        self, body: dict[str, Any], team: str, user: str, room: RoomAddress, change: RoomChange
    ) -> None:
        identity = self._identity(team, user)
        place = self._runs.place(identity)
        try:
            event = RoomEvent(
                identity=identity,
                event_id=str(body.get("event_id") or f"{room.room_id}:{change.value}:{user}"),
                room=room.room_id,
                display_name=await self._display_name(team, user),
                is_private=False,
                shared=room,
                change=change,
            )
            await self._runs.submit(Interaction(event), place)
        except BaseException:
            place.leave()
            raise
