"""Inbound Slack: DM messages, app-home opens, the slash command and button presses become
``Interaction`` values for the core's runner; wire text becomes plain readable text."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackClientError

from adapters.readable import readable_time
from adapters.slack.blocks import LINK_VALUE, REASON_BLOCK, REASON_INPUT, build_blocks, notification_text
from adapters.slack.errors import map_slack_error
from adapters.slack.outbound import SlackOutbound
from bridge.inbound.interaction import Interaction
from bridge.inbound.runner import Place, Runner
from bridge.model import (
    ActionEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    MessageEvent,
    Platform,
    Reply,
    RoomAddress,
    SentRef,
)
from bridge.ports import DeliveryError

log = logging.getLogger(__name__)

ACK_DEADLINE = 3.0  # seconds Slack waits for a slash command's or a button's ack
GROUPS_TTL = 600.0  # seconds an unknown user group waits before the groups are listed again

# <@U123>, <@U123|name>, <#C123>, <#C123|name>, <!here>, <!subteam^S1|@team>, <url|label>
_SPECIAL = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` (``&amp;`` last, so it is done once)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def to_plain_text(
    text: str,
    user_name: Callable[[str], Awaitable[str]],
    channel_name: Callable[[str], Awaitable[str]],
    group_name: Callable[[str], Awaitable[str]] | None = None,
) -> str:
    """Turn Slack wire text into plain readable text: mentions become ``@Name`` /
    ``#channel`` / ``@group`` (names looked up when the token carries no label), dates the
    date they stand for, links ``label (url)``, and the three escaped characters are
    restored. Never a raw token.

    Special sequences are only ever real angle brackets; anything a person typed as ``<``
    arrives as ``&lt;`` and so survives as the literal text they typed.
    """
    parts: list[str] = []
    pos = 0
    for m in _SPECIAL.finditer(text):
        parts.append(unescape(text[pos : m.start()]))
        pos = m.end()
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        label = unescape(label) if label is not None else None
        if sigil == "@":
            parts.append("@" + (await user_name(target) if target else ""))
        elif sigil == "#":
            parts.append("#" + (label or await channel_name(target)))
        elif sigil == "!":
            if target.startswith("subteam^"):
                group = target.split("^", 1)[1]
                name = label or (await group_name(group) if group_name else "")
                parts.append("@" + (name or "group").lstrip("@"))
            elif target.startswith("date^"):
                parts.append(label or readable_time(target.split("^")[1]))
            else:
                parts.append("@" + (label or target).lstrip("@"))
        else:
            url = unescape(target)
            shown = url.removeprefix("mailto:")
            parts.append(f"{label} ({shown})" if label and label not in (url, shown) else shown)
    parts.append(unescape(text[pos:]))
    return "".join(parts)


def channel_room(team: str, channel: str, name: str = "") -> RoomAddress | None:
    """A channel (``C…``, or a private ``G…``) as a room; None for DMs and unknown places."""
    if not channel or channel.startswith("D"):
        return None
    return RoomAddress(Platform.SLACK, team, channel, name=f"#{name}" if name and name != "directmessage" else "")


class SlackInbound(SlackOutbound):
    """The adapter's receiving half: listeners, names looked up for plain text, answers."""

    _runner: Runner | None
    _unrecorded: dict[str, asyncio.Event]
    _names: dict[tuple[str, str], str]
    _groups: dict[tuple[str, str], str]
    _groups_listed: dict[str, float]
    _channels: dict[tuple[str, str], str]

    @property
    def _runs(self) -> Runner:
        """The core's runner (Bolt runs listeners only once started)."""
        assert self._runner is not None, "slack: event before start()"
        return self._runner

    def _settle(self, event_id: str) -> None:
        done = self._unrecorded.get(event_id)
        if done is not None:
            done.set()

    def _settler(self, event_id: str) -> Callable[[], Awaitable[None]]:
        """The ack of an Events API event: Slack gets its 200 (or Socket Mode ack) once the
        event is journalled."""

        async def settle() -> None:
            self._settle(event_id)

        return settle

    async def _display_name(self, team: str, user: str) -> str:
        key = (team, user)
        if key not in self._names:
            name = user
            client = self._clients.get(team)
            if client is not None:
                try:
                    info = (await client.users_info(user=user)).get("user") or {}
                    profile = info.get("profile") or {}
                    name = profile.get("display_name") or profile.get("real_name") or info.get("name") or user
                except SlackClientError as exc:
                    log.info("slack: users.info %s failed: %s", user, exc)
                    return user
            self._names[key] = name
        return self._names[key]

    async def _channel_name(self, team: str, channel: str) -> str:
        """A channel's name (``conversations.info``), cached; "channel" when unknown."""
        key = (team, channel)
        if key not in self._channels:
            client = self._clients.get(team)
            if client is None:
                return "channel"
            try:
                info = (await client.conversations_info(channel=channel)).get("channel") or {}
            except SlackClientError:
                return "channel"
            self._channels[key] = str(info.get("name") or "channel")
        return self._channels[key]

    async def _plain(self, team: str, text: str) -> str:
        async def user_name(user: str) -> str:
            return await self._display_name(team, user)

        async def channel_name(channel: str) -> str:
            return await self._channel_name(team, channel)

        async def group_name(group: str) -> str:
            return await self._group_name(team, group)

        return await to_plain_text(text, user_name, channel_name, group_name)

    async def _group_name(self, team: str, group: str) -> str:
        """A user group's handle (``usergroups.list``, needs ``usergroups:read``), the
        workspace's groups cached; empty when it cannot be found."""
        key = (team, group)
        if key not in self._groups:
            client = self._clients.get(team)
            listed_at = self._groups_listed.get(team)
            if client is None or (listed_at is not None and time.monotonic() - listed_at < GROUPS_TTL):
                return ""  # unknown as of a recent listing: not worth another call yet
            try:
                listed = (await client.usergroups_list()).get("usergroups") or []
            except SlackClientError as exc:
                log.info("slack: usergroups.list failed: %s", exc)
                return ""
            self._groups_listed[team] = time.monotonic()
            for g in listed:
                self._groups[(team, str(g.get("id")))] = str(g.get("handle") or g.get("name") or "")
        return self._groups.get(key, "")

    def _identity(self, team: str, user: str) -> ChatIdentity:
        return ChatIdentity(Platform.SLACK, team, user)

    # --- inbound -------------------------------------------------------------------------

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """A DM to the bot -> MessageEvent; the bot's own posts and other bots are dropped."""
        if event.get("channel_type") != "im":
            return
        if event.get("bot_id") or event.get("subtype") not in (
            None,
            "file_share",
            "thread_broadcast",
            "me_message",
        ):
            return
        user = event.get("user")
        if not user or user == getattr(context, "bot_user_id", None):
            return
        team = str(body.get("team_id") or context.team_id)
        identity = self._identity(team, user)
        place = self._runs.place(identity, self._settler(str(body.get("event_id") or "")))  # arrival order
        try:
            channel = str(event["channel"])
            self._dms[identity] = channel
            thread = event.get("thread_ts")
            thread = thread if thread and thread != event.get("ts") else None
            message = MessageEvent(
                identity=identity,
                event_id=str(body.get("event_id") or event.get("client_msg_id") or event["ts"]),
                room=channel,
                display_name=await self._display_name(team, user),
                is_private=True,
                text=await self._plain(team, str(event.get("text") or "")),
                reply_to=thread,
                thread=thread,
            )

            async def answer(reply: Reply | None) -> None:
                if reply is not None:
                    await self._ephemeral(team, channel, user, reply, thread)

            await self._runs.submit(Interaction(message, answer=answer), place)
        except BaseException:
            place.leave()  # not handed over: Slack is not kept waiting, the next event goes
            raise

    async def _on_app_home(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """The person opened the app (its Messages or Home tab) -> ContactEvent, journalled
        before Slack gets its answer, like a message."""
        team = str(body.get("team_id") or context.team_id)
        user = str(event["user"])
        identity = self._identity(team, user)
        place = self._runs.place(identity, self._settler(str(body.get("event_id") or "")))
        try:
            channel = event.get("channel") or await self._open_dm(identity)
            self._dms[identity] = channel
            contact = ContactEvent(
                identity=identity,
                event_id=str(body.get("event_id") or f"home:{team}:{user}:{event.get('event_ts')}"),
                room=channel,
                display_name=await self._display_name(team, user),
                is_private=True,
            )

            async def answer(reply: Reply | None) -> None:
                if reply is not None:
                    await self._ephemeral(team, channel, user, reply, None)

            await self._runs.submit(Interaction(contact, answer=answer), place)
        except BaseException:
            place.leave()
            raise

    def _interaction_place(self, identity: ChatIdentity, ack: AsyncAck) -> Place:
        """The place of a slash command or button press, acknowledged once journalled and
        within Slack's 3 s at the latest."""

        async def acknowledge() -> None:
            await ack()

        return self._runs.place(identity, acknowledge, asyncio.get_running_loop().time() + ACK_DEADLINE)

    def _responder(self, respond: AsyncRespond) -> Callable[[Reply | None], Awaitable[None]]:
        async def answer(reply: Reply | None) -> None:
            if reply is not None:
                await self._respond(respond, reply)

        return answer

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        """``/pluto <sub> args``: journalled, then acked, then the core, then an ephemeral reply."""
        team, user = str(command["team_id"]), str(command["user_id"])
        identity = self._identity(team, user)
        place = self._interaction_place(identity, ack)  # before any await: arrival order
        try:
            channel = str(command.get("channel_id") or "")
            try:
                dm = await self._open_dm(identity)
            except DeliveryError as exc:
                log.info("slack: cannot open DM for %s: %s", identity, exc)
                dm = channel
            event = CommandEvent(
                identity=identity,
                event_id=str(command.get("trigger_id")),
                room=dm,
                display_name=await self._display_name(team, user),
                is_private=channel == dm,
                # Run in a channel: that channel is the room ``room`` links (answers stay ephemeral).
                shared=None if channel == dm else channel_room(team, channel, str(command.get("channel_name") or "")),
                text=str(command.get("text") or ""),  # the core parses it
                handle=str(command.get("user_name") or ""),
                workspace_name=str(command.get("team_domain") or ""),
            )
            await self._runs.submit(Interaction(event, answer=self._responder(respond)), place)
        except BaseException:
            place.leave()
            raise

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """A button press -> ActionEvent with the pressed message and any typed reason."""
        action = (body.get("actions") or [{}])[0]
        if action.get("value") == LINK_VALUE or action.get("type") != "button":
            await ack()
            return  # a link button (Slack reports the click) or an input: nothing to do
        user = body.get("user") or {}
        team = str((body.get("team") or {}).get("id") or user.get("team_id"))
        identity = self._identity(team, str(user.get("id")))
        place = self._interaction_place(identity, ack)  # before any await: arrival order
        try:
            container = body.get("container") or {}
            message = body.get("message") or {}
            channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id"))
            ts = str(container.get("message_ts") or message.get("ts"))
            values = ((body.get("state") or {}).get("values") or {}).get(REASON_BLOCK) or {}
            reason = (values.get(REASON_INPUT) or {}).get("value") or ""
            event = ActionEvent(
                identity=identity,
                event_id=str(body.get("trigger_id")),
                room=channel,
                display_name=await self._display_name(team, identity.user_id),
                is_private=channel.startswith("D"),
                action_id=str(action.get("action_id")),
                reason=reason.strip(),
                message=SentRef(room=channel, message_id=ts, thread=message.get("thread_ts")),
            )
            await self._runs.submit(Interaction(event, answer=self._responder(respond)), place)
        except BaseException:
            place.leave()
            raise

    async def _respond(self, respond: AsyncRespond, reply: Reply) -> None:
        """Show a Reply through the interaction's response_url: the pressed message is
        replaced when asked, texts go ephemeral, the buttons ride on the last text."""
        if reply.replace is not None:
            post = reply.replace
            await respond(
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
                replace_original=True,
            )
        for i, text in enumerate(reply.texts):
            last = i == len(reply.texts) - 1
            blocks = build_blocks(text, reply.actions) if last and reply.actions else None
            await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    async def _ephemeral(self, team: str, channel: str, user: str, reply: Reply, thread: str | None) -> None:
        """Show a Reply to a message/contact event as ephemeral messages in the DM, as the
        runner's front-of-lane deliveries (paced, retried with the outbox's policy). Answers
        to commands and presses (``_respond``) stay immediate: they must use the
        interaction's ``response_url``."""
        client = self._clients[team]
        identity = ChatIdentity(Platform.SLACK, team, user)
        for i, text in enumerate(reply.texts):
            last = i == len(reply.texts) - 1
            blocks = build_blocks(text, reply.actions) if last and reply.actions else None

            async def send(text: str = text, blocks: list[dict[str, Any]] | None = blocks) -> object:
                try:
                    return await client.chat_postEphemeral(
                        channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread
                    )
                except Exception as exc:
                    raise map_slack_error(exc) from exc

            if await self._runs.deliver(identity, send) is None:
                return
