"""Teams: the sandbox Bot Connector at Teams' limits posts signed activities to the bridge's
/api/messages; the person's personal chat is what the connector stores."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sandbox.lms import SandboxLMS
from sandbox.teams import CARD_CONTENT_TYPE, SandboxTeams, TeamsUser
from tests.platforms.teams.conftest import TeamsChat, start_bridge, teams_bridge_config, visible

from .base import ALEX, SAM, Arrived, ChatDriver

NAMES = {SAM: "Sam Mentee", ALEX: "Alex Mentee"}


class TeamsDriver(ChatDriver):
    """Teams, the app installed for Sam in a personal chat."""

    name = "teams"

    def __init__(self, lms: SandboxLMS, tmp: Path) -> None:
        super().__init__(lms, tmp)
        self.sandbox = SandboxTeams(enforce_limits=True)
        self.chat: TeamsChat | None = None
        self.users: dict[str, TeamsUser] = {}

    async def start(self) -> None:
        await self.sandbox.start()
        self.config, self.port = teams_bridge_config(self.tmp, self.lms.url, self.sandbox)
        self.bridge = await start_bridge(self.config, self.port, self.sandbox)
        self.chat = TeamsChat(self.sandbox, self.bridge, self.port)
        for person, name in NAMES.items():
            user = self.users[person] = self.sandbox.add_user(name)
            await self.chat.install(user)
            # The install is greeted: wait for it, so that it is not taken for a later answer.
            await self.wait_for(partial(self.sandbox.messages_in, self._chat.room(user)), "the greeting at install")

    async def restart(self, while_down: Callable[[], object]) -> None:
        assert self.bridge is not None
        await self.bridge.stop()
        while_down()
        self.bridge = await start_bridge(self.config, self.port, self.sandbox)
        self.chat = TeamsChat(self.sandbox, self.bridge, self.port)

    async def stop(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()
        await self.sandbox.stop()

    @property
    def _chat(self) -> TeamsChat:
        assert self.chat is not None
        return self.chat

    async def link(self, person: str, username: str) -> None:
        await self._chat.link(self.users[person], username)

    async def write(self, person: str, text: str) -> None:
        await self._chat.say(self.users[person], text)

    async def reply(self, person: str, to: Arrived, text: str) -> None:
        await self._chat.say(self.users[person], text, reply_to_id=to.ref)

    async def press(self, person: str, message: Arrived, label: str) -> None:
        press = self.sandbox.button_press(self.users[person], message.ref, label)
        status, body = await self.sandbox.push(press)
        assert status == 200 and body["statusCode"] == 200, (status, body)

    async def command(self, person: str, text: str) -> list[str]:
        mark = len(self.arrived(person))
        await self._chat.say(self.users[person], text)  # Teams has no slash: "to Maya"
        return await self.answers_after(person, mark)

    def arrived(self, person: str) -> list[Arrived]:
        room = self._chat.room(self.users[person])
        return [
            Arrived(re.sub(" {2,}", " ", visible(str(a.get("text") or ""))).strip(), a["id"], _card_buttons(a), a)
            for a in self.sandbox.messages_in(room)
        ]


def _card_buttons(message: dict[str, Any]) -> tuple[str, ...]:
    """Titles of the card's buttons that come back to the bot (links left out)."""
    cards = [a["content"] for a in message.get("attachments") or [] if a.get("contentType") == CARD_CONTENT_TYPE]
    return tuple(b["title"] for card in cards for b in card.get("actions", []) if b.get("type") != "Action.OpenUrl")
