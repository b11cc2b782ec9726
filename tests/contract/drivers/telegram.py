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

ACCOUNTS = {SAM: 111, ALEX: 112, "rory": 113, "ivy": 114}
ROOMS = {"cohort": -5001}  # a Telegram group the bot is in, Sam its administrator


class TelegramDriver(ChatDriver):
    """Telegram in ``mode`` "polling" or "webhook"."""

    def __init__(self, lms: SandboxLMS, tmp: Path, mode: str) -> None:
        super().__init__(lms, tmp)
        self.name = f"telegram-{mode}"
        self.mode = mode
        self.tg = SandboxTelegram(enforce_limits=True, redelivery_delay=0.1)
        self.world: TelegramWorld | None = None

    rooms = True
    lists_members = False  # bots cannot list a group's members

    async def start(self) -> None:
        await self.tg.start()
        self.tg.add_user(ACCOUNTS[SAM], "Sam", last_name="Mentee", username="sam_mentee")
        self.tg.add_user(ACCOUNTS[ALEX], "Alex", last_name="Mentee", username="alex_mentee")
        self.tg.add_user(ACCOUNTS["rory"], "Rory")
        self.tg.add_user(ACCOUNTS["ivy"], "Ivy", started=True)  # pressed Start, never linked
        for room, chat_id in ROOMS.items():
            self.tg.add_group(chat_id, room.capitalize(), admins=[ACCOUNTS[SAM]])
        # Privacy mode off, as the README's set-up says for relaying every message.
        self.tg.privacy_mode = False
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

    async def press(self, person: str, message: Arrived, label: str, reason: str | None = None) -> None:
        data = _callbacks(message.raw)[label]
        query = self.tg.user_presses(ACCOUNTS[person], message.ref, data)
        await self.wait_for(lambda: query in self.tg.callback_answers, f"the answer to pressing {label!r}")
        if reason is not None:  # the bot asks with a ForceReply question: the person replies to it
            prompt = await self.see(person, f"Reason for {label}")
            self.tg.user_sends_text(ACCOUNTS[person], reason, reply_to=prompt.ref)

    async def command(self, person: str, text: str) -> list[str]:
        mark = len(self.arrived(person))
        self.tg.user_sends_text(ACCOUNTS[person], f"/{text}")
        return await self.answers_after(person, mark)

    def arrived(self, person: str) -> list[Arrived]:
        return self._posts(ACCOUNTS[person])

    def _posts(self, chat_id: int) -> list[Arrived]:
        return [Arrived(m["text"], m["message_id"], tuple(_callbacks(m)), m) for m in self.tg.sent_to(chat_id)]

    def throttle(self, person: str, sends: int, retry_after: int) -> None:
        self.tg.fail_next("sendMessage", chat_id=ACCOUNTS[person], count=sends, retry_after=retry_after)

    def refused(self, person: str) -> int:
        chat = str(ACCOUNTS[person])
        return sum(1 for r in self.tg.requests if r.status == 429 and str(r.params.get("chat_id")) == chat)

    # --- group rooms ----------------------------------------------------------------------

    async def link_person(self, person: str, username: str) -> None:
        await self.link(person, username)

    async def room_write(self, room: str, person: str, text: str) -> None:
        self.tg.user_sends_in_group(ACCOUNTS[person], ROOMS[room], text)

    async def room_reply(self, room: str, person: str, to: Arrived, text: str) -> None:
        self.tg.user_sends_in_group(ACCOUNTS[person], ROOMS[room], text, reply_to=to.ref)

    async def room_edit(self, room: str, person: str, to: Arrived, text: str) -> None:
        self.tg.user_edits_in_group(ACCOUNTS[person], ROOMS[room], to.ref, text)

    async def room_command(self, room: str, person: str, text: str) -> None:
        self.tg.user_sends_in_group(ACCOUNTS[person], ROOMS[room], f"/{text}")

    async def join(self, room: str, person: str) -> None:
        self.tg.user_joins_group(ACCOUNTS[person], ROOMS[room])

    async def remove_bot(self, room: str) -> None:
        self.tg.remove_bot_from_group(ROOMS[room], ACCOUNTS[SAM])

    async def add_bot(self, room: str) -> None:
        self.tg.add_bot_to_group(ROOMS[room], ACCOUNTS[SAM])

    def room_posts(self, room: str) -> list[Arrived]:
        return self._posts(ROOMS[room])

    async def press_privately(self, person: str, message: Arrived, label: str) -> None:
        await self.press(person, message, label)

    def room_sends(self, room: str) -> tuple[list[float], int]:
        chat = str(ROOMS[room])
        sent = [r.at for r in self.tg.calls("sendMessage", ok=True) if str(r.params.get("chat_id")) == chat]
        return sent, sum(1 for r in self.tg.requests if r.status == 429)

    def room_floor(self, posts: int) -> float:
        return self.tg.min_seconds({next(iter(ROOMS.values())): posts})


def _callbacks(message: dict[str, Any]) -> dict[str, str]:
    """The inline buttons that come back to the bot, label -> callback data (links left out)."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}
