"""Telegram: the sandbox Bot API at its real flood limits delivers what the person does by
long polling (getUpdates) or to the bridge's webhook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.lms import SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.platforms.telegram.world import TelegramWorld

from .base import ALEX, SAM, Arrived, ChatDriver

ACCOUNTS = {SAM: 111, ALEX: 222}


class TelegramDriver(ChatDriver):
    """Telegram in ``mode`` "polling" or "webhook"."""

    def __init__(self, lms: SandboxLMS, tmp: Path, mode: str) -> None:
        super().__init__(lms, tmp)
        self.name = f"telegram-{mode}"
        self.mode = mode
        self.tg = SandboxTelegram(enforce_limits=True, redelivery_delay=0.1)
        self.world: TelegramWorld | None = None

    async def start(self) -> None:
        await self.tg.start()
        self.tg.add_user(ACCOUNTS[SAM], "Sam", last_name="Mentee", username="sam_mentee")
        self.tg.add_user(ACCOUNTS[ALEX], "Alex", last_name="Mentee", username="alex_mentee")
        self.world = TelegramWorld(self.tg, self.lms, self.tmp, self.mode)  # needs the sandbox's URL
        self.bridge = await self.world.start()

    async def restart(self, while_down: Callable[[], object]) -> None:
        assert self.world is not None
        await self.world.stop()
        while_down()
        self.bridge = await self.world.start()

    async def stop(self) -> None:
        if self.world is not None:
            await self.world.stop()
        await self.tg.stop()

    async def link(self, person: str, username: str) -> None:
        assert self.world is not None
        await self.world.link_by_command(ACCOUNTS[person], username)

    async def write(self, person: str, text: str) -> None:
        self.tg.user_sends_text(ACCOUNTS[person], text)

    async def reply(self, person: str, to: Arrived, text: str) -> None:
        self.tg.user_sends_text(ACCOUNTS[person], text, reply_to=to.ref)

    async def press(self, person: str, message: Arrived, label: str) -> None:
        data = _callbacks(message.raw)[label]
        query = self.tg.user_presses(ACCOUNTS[person], message.ref, data)
        await self.wait_for(lambda: query in self.tg.callback_answers, f"the answer to pressing {label!r}")

    async def command(self, person: str, text: str) -> list[str]:
        mark = len(self.arrived(person))
        self.tg.user_sends_text(ACCOUNTS[person], f"/{text}")
        return await self.answers_after(person, mark)

    def arrived(self, person: str) -> list[Arrived]:
        return [Arrived(m["text"], m["message_id"], tuple(_callbacks(m)), m) for m in self.tg.sent_to(ACCOUNTS[person])]


def _callbacks(message: dict[str, Any]) -> dict[str, str]:
    """The inline buttons that come back to the bot, label -> callback data (links left out)."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}
