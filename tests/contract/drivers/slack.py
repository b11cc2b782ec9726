"""Slack: the sandbox Slack at its real limits delivers events, slash commands and button
presses to the bridge by signed HTTP requests or over Socket Mode."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.lms import SandboxLMS
from tests.platforms.slack.e2e_support import ALEX as SLACK_ALEX
from tests.platforms.slack.e2e_support import SAM as SLACK_SAM
from tests.platforms.slack.e2e_support import T1, SlackChat, new_sandbox, shown, slack_config

from .base import ALEX, SAM, Arrived, ChatDriver

ACCOUNTS = {SAM: SLACK_SAM, ALEX: SLACK_ALEX}


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

    async def start(self) -> None:
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

    async def press(self, person: str, message: Arrived, label: str) -> None:
        account = ACCOUNTS[person]
        channel = self.slack.dm(T1, account).id
        action = _actions(message.raw)[label]
        _rid, result = await self.slack.post_block_action(T1, account, channel, message.raw["ts"], action)
        assert result.status == 200, result.body

    async def command(self, person: str, text: str) -> list[str]:
        answers = await self._chat.command(T1, ACCOUNTS[person], text)
        return [readable(str(a.get("text") or "")) for a in answers]

    def arrived(self, person: str) -> list[Arrived]:
        """The bot's messages in the DM (a reply goes in the message's thread), then what
        the bot showed the person only (ephemeral messages)."""
        account = ACCOUNTS[person]
        posts = [
            Arrived(readable(shown(m)), m.get("thread_ts") or m["ts"], tuple(_actions(m)), m)
            for m in self._chat.dm(T1, account)
            if m.get("user") != account
        ]
        hints = [
            Arrived(readable(str(e.get("text") or "")), None) for e in self.slack.ephemerals if e["user"] == account
        ]
        return posts + hints


def _actions(message: dict[str, Any]) -> dict[str, str]:
    """The buttons that come back to the bot, label -> action_id (link buttons left out)."""
    rows = [b for b in message.get("blocks") or [] if b.get("type") == "actions"]
    return {e["text"]["text"]: e["action_id"] for row in rows for e in row["elements"] if "url" not in e}
