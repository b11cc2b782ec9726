"""Telegram: the sandbox Bot API at its real flood limits delivers what the person does by
long polling (getUpdates) or to the bridge's webhook."""

from __future__ import annotations

from pathlib import Path

from sandbox.lms import SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.platforms.telegram.world import TelegramWorld

from .base import SAM, Arrived, ChatDriver

ACCOUNTS = {SAM: 111}


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
        self.world = TelegramWorld(self.tg, self.lms, self.tmp, self.mode)  # needs the sandbox's URL
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

    async def command(self, person: str, text: str) -> list[str]:
        mark = len(self.arrived(person))
        self.tg.user_sends_text(ACCOUNTS[person], f"/{text}")
        return await self.answers_after(person, mark)

    def arrived(self, person: str) -> list[Arrived]:
        return [Arrived(m["text"], m["message_id"]) for m in self.tg.sent_to(ACCOUNTS[person])]
