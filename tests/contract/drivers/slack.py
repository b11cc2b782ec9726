"""Slack: the sandbox Slack at its real limits delivers events, slash commands and button
presses to the bridge by signed HTTP requests or over Socket Mode."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.slack.blocks import REASON_INPUT
from sandbox.lms import SandboxLMS
from tests.platforms.slack.e2e_support import ALEX as SLACK_ALEX
from tests.platforms.slack.e2e_support import SAM as SLACK_SAM
from tests.platforms.slack.e2e_support import T1, SlackChat, new_sandbox, shown, slack_config

from .base import ALEX, SAM, Arrived, ChatDriver

ACCOUNTS = {SAM: SLACK_SAM, ALEX: SLACK_ALEX, "rory": "U0RORY", "ivy": "U0IVY"}
ROOMS = {"cohort": "C0COHORT"}


def readable(text: str) -> str:
    """What Slack draws of mrkdwn the bridge escaped: entities decoded, zero-width spaces gone."""
    return html.unescape(text).replace("\u200b", "")


class SlackDriver(ChatDriver):
    """Slack in ``mode`` "http" or "socket", one workspace, Sam in it."""

    def __init__(self, lms: SandboxLMS, tmp: Path, mode: str) -> None:
        super().__init__(lms, tmp)
        self.name = f"slack-{mode}"
        self.mode = mode
        self.slack = new_sandbox()
        self.chat: SlackChat | None = None
        self._answers: dict[str, list[str]] = {}  # person -> response_url ids of what they ran in rooms

    rooms = True

    async def start(self) -> None:
        self.slack.add_user(T1, ACCOUNTS["rory"], "rory", real_name="Rory Outsider")
        self.slack.add_user(T1, ACCOUNTS["ivy"], "ivy", real_name="Ivy")
        for room, channel in ROOMS.items():
            self.slack.add_channel(T1, channel, room)
        await self.slack.start()
        self.config, self.port = slack_config(self.tmp, self.lms.url, self.slack, self.mode)
        self.chat = await SlackChat.start(self.slack, self.config, self.port, self.mode)
        self.bridge = self.chat.process

    async def restart(self, while_down: Callable[[], object]) -> None:
        await self._chat.stop()
        while_down()
        self.chat = await SlackChat.start(self.slack, self.config, self.port, self.mode)
        self.bridge = self.chat.process

    async def stop(self) -> None:
        if self.chat is not None:
            await self.chat.stop()
        await self.slack.stop()

    @property
    def _chat(self) -> SlackChat:
        assert self.chat is not None
        return self.chat

    async def link(self, person: str, username: str) -> None:
        await self._chat.link(T1, ACCOUNTS[person], username)

    async def write(self, person: str, text: str) -> None:
        await self._chat.say(T1, ACCOUNTS[person], text)

    async def reply(self, person: str, to: Arrived, text: str) -> None:
        await self._chat.say(T1, ACCOUNTS[person], text, thread_ts=to.ref)

    async def press(self, person: str, message: Arrived, label: str, reason: str | None = None) -> None:
        """A button on a DM post, or on an answer only the person was shown (a command's
        response_url answer: ``ref`` is ("ephemeral", its response id))."""
        account = ACCOUNTS[person]
        channel = self.slack.dm(T1, account).id
        action = _actions(message.raw)[label]
        inputs = {REASON_INPUT: reason} if reason is not None else None  # typed in the message's reason box
        if _is_ephemeral(message):
            await self._press_ephemeral(person, channel, message, action, inputs)
            return
        _rid, result = await self.slack.post_block_action(
            T1, account, channel, message.raw["ts"], action, inputs=inputs
        )
        assert result.status == 200, result.body

    async def _press_ephemeral(
        self, person: str, channel: str, message: Arrived, action: str, inputs: dict[str, str] | None = None
    ) -> None:
        """Press ``action`` on an answer only ``person`` was shown in ``channel``; what the
        press answers through its response_url counts as arrived for them."""
        rid, result = await self.slack.post_block_action(
            T1, ACCOUNTS[person], channel, "", action, inputs=inputs, ephemeral=message.raw
        )
        assert result.status == 200, result.body
        self._answers.setdefault(person, []).append(rid)

    async def command(self, person: str, text: str) -> list[str]:
        """``/pluto <text>`` in the DM: Slack shows the answer to the person alone, in the DM,
        where its buttons can be pressed (``arrived`` includes it)."""
        rid, result = await self.slack.post_slash_command(T1, ACCOUNTS[person], text)
        assert result.status == 200, result.body
        self._answers.setdefault(person, []).append(rid)
        await self.wait_for(lambda: self.slack.responses[rid], f"an answer to /pluto {text}")
        return [readable(str(a.get("text") or "")) for a in self.slack.responses[rid]]

    def arrived(self, person: str) -> list[Arrived]:
        """What the person was shown in their DM, in the order shown: the bot's messages (a
        reply goes in the message's thread) and what it showed them alone (ephemeral
        messages, the answers to their commands and presses)."""
        account = ACCOUNTS[person]
        posts = [
            (m["ts"], Arrived(readable(shown(m)), m.get("thread_ts") or m["ts"], tuple(_actions(m)), m))
            for m in self._chat.dm(T1, account)
            if m.get("user") != account
        ]
        hints = [  # chat.postEphemeral: the bot's answers to what the person wrote
            (e["ts"], Arrived(readable(str(e.get("text") or "")), ("ephemeral", e["ts"]), tuple(_actions(e)), e))
            for e in self.slack.ephemerals
            if e["user"] == account
        ]
        answers = [
            (stamp, Arrived(readable(shown(body)), ("ephemeral", rid), tuple(_actions(body)), body))
            for rid in self._answers.get(person, [])
            for body, stamp in zip(
                self.slack.responses.get(rid, []), self.slack.response_stamps.get(rid, []), strict=False
            )
        ]
        return [a for _, a in sorted([*posts, *hints, *answers], key=lambda shown_at: float(shown_at[0]))]

    def throttle(self, person: str, sends: int, retry_after: int) -> None:
        channel = self.slack.dm(T1, ACCOUNTS[person]).id
        self.slack.inject("chat.postMessage", channel=channel, count=sends, retry_after=retry_after)

    def refused(self, person: str) -> int:
        channel = self.slack.dm(T1, ACCOUNTS[person]).id
        return sum(1 for r in self.slack.rate_limited() if r.params.get("channel") == channel)

    # --- group rooms ----------------------------------------------------------------------

    async def _event(self, event: dict[str, Any]) -> None:
        _, result = await self.slack.sign_and_post_event(T1, event)
        assert result.status == 200, result.body

    async def link_person(self, person: str, username: str) -> None:
        await self.link(person, username)

    async def room_write(self, room: str, person: str, text: str) -> None:
        await self._event(self.slack.channel_message(T1, ROOMS[room], ACCOUNTS[person], text))

    async def room_reply(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self._event(self.slack.channel_message(T1, ROOMS[room], ACCOUNTS[person], text, thread_ts=to.ref))

    async def room_edit(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self._event(self.slack.channel_edit(T1, ROOMS[room], str(to.ref), text))

    async def room_command(self, room: str, person: str, text: str) -> None:
        rid, result = await self.slack.post_slash_command(T1, ACCOUNTS[person], text, channel_id=ROOMS[room])
        assert result.status == 200, result.body
        self._answers.setdefault(person, []).append(rid)

    async def join(self, room: str, person: str) -> None:
        await self._event(self.slack.member_joined(T1, ROOMS[room], ACCOUNTS[person]))

    async def remove_bot(self, room: str) -> None:
        await self._event(self.slack.member_left(T1, ROOMS[room], self.slack.teams[T1].bot_user_id))

    async def add_bot(self, room: str) -> None:
        await self._event(self.slack.member_joined(T1, ROOMS[room], self.slack.teams[T1].bot_user_id))

    def room_posts(self, room: str) -> list[Arrived]:
        return [_room_post(m) for m in self.slack.channel(ROOMS[room]).messages if m.get("bot_id")]

    def room_sends(self, room: str) -> tuple[list[float], int]:
        channel = ROOMS[room]
        sent = [
            r.at
            for r in self.slack.api_calls("chat.postMessage")
            if r.params.get("channel") == channel and r.status == 200 and (r.response or {}).get("ok")
        ]
        return sent, len(self.slack.rate_limited())

    def room_floor(self, posts: int) -> float:
        return max(0, posts - self.slack.post_burst) / self.slack.post_rate

    async def press_privately(self, person: str, message: Arrived, label: str) -> None:
        if not _is_ephemeral(message):
            await self.press(person, message, label)
            return
        await self._press_ephemeral(person, next(iter(ROOMS.values())), message, _actions(message.raw)[label])


def _is_ephemeral(message: Arrived) -> bool:
    """Whether ``message`` is an answer only the person was shown (a response_url post)."""
    return isinstance(message.ref, tuple) and message.ref[0] == "ephemeral"


def _room_post(message: dict[str, Any]) -> Arrived:
    """A bot post in a channel: the author it was posted as (``username``) on top."""
    author = str(message.get("username") or "")
    text = readable(shown(message))
    return Arrived(f"{author}\n{text}" if author else text, message["ts"], tuple(_actions(message)), message)


def _actions(message: dict[str, Any]) -> dict[str, str]:
    """The buttons that come back to the bot, label -> action_id (link buttons left out)."""
    rows = [b for b in message.get("blocks") or [] if b.get("type") == "actions"]
    return {e["text"]["text"]: e["action_id"] for row in rows for e in row["elements"] if "url" not in e}
