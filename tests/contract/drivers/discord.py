"""Discord: the sandbox gateway and REST API at Discord's limits deliver DMs and ``/pluto``
interactions to the real discord.py inside the bridge."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.discord import SandboxDiscord
from sandbox.lms import SandboxLMS
from tests.e2e.harness import BridgeProcess
from tests.platforms.discord.world import DiscordWorld

from .base import ALEX, SAM, Arrived, ChatDriver

ACCOUNTS = {
    SAM: "310000000000000001",
    ALEX: "310000000000000002",
    "rory": "310000000000000003",
    "ivy": "310000000000000004",
}
NAMES = {SAM: "Sam", ALEX: "Alex", "rory": "Rory", "ivy": "Ivy"}
GUILD = "320000000000000001"  # the cohort's server; Sam owns it (Manage Channels)
ROOMS = {"cohort": "330000000000000001"}


def readable(content: str) -> str:
    """What Discord displays of escaped markdown: backslash escapes and ZWSPs gone."""
    return re.sub(r"\\(.)", r"\1", content).replace("\u200b", "")


class DiscordDriver(ChatDriver):
    """Discord, Sam talking to the bot in a DM."""

    name = "discord"
    rooms = True

    def __init__(self, lms: SandboxLMS, tmp: Path) -> None:
        super().__init__(lms, tmp)
        self.dc = SandboxDiscord()
        self.world: DiscordWorld | None = None

    async def start(self) -> None:
        await self.dc.start()
        for person, account in ACCOUNTS.items():
            self.dc.add_user(account, NAMES[person])
        self.dc.add_guild(GUILD, "Cohort server", owner_id=ACCOUNTS[SAM])
        for room, channel in ROOMS.items():
            self.dc.add_text_channel(GUILD, channel, room)
        self.world = DiscordWorld(self.dc, self.lms, self.tmp)  # needs the sandbox's URLs
        self.bridge = await self.world.start()

    async def restart(self, while_down: Callable[[], object]) -> None:
        await self._world.stop()
        while_down()
        # Not DiscordWorld.start: the sandbox still remembers the old session, so wait for
        # the new process's own word that its gateway session is up.
        bridge = self.bridge = self._world.bridge = await BridgeProcess(self._world.config).start()
        await self._world.wait(lambda: "discord adapter started" in "\n".join(bridge.err), "a restarted adapter", 45)
        await self.dc.wait_connected(within=30)

    async def stop(self) -> None:
        if self.world is not None:
            await self.world.stop()
        await self.dc.stop()

    @property
    def _world(self) -> DiscordWorld:
        assert self.world is not None
        return self.world

    async def link(self, person: str, username: str) -> None:
        await self._world.link(ACCOUNTS[person], username)

    async def write(self, person: str, text: str) -> None:
        await self.dc.user_dm(ACCOUNTS[person], text)

    async def reply(self, person: str, to: Arrived, text: str) -> None:
        await self.dc.user_dm(ACCOUNTS[person], text, reply_to=to.ref)

    async def press(self, person: str, message: Arrived, label: str, reason: str | None = None) -> None:
        press = await self.dc.user_clicks(ACCOUNTS[person], message.raw, _custom_ids(message.raw)[label])
        if reason is not None:  # the press opens a modal with one text input: the reason
            await self.wait_for(lambda: self.dc.interactions[press["id"]].callbacks, "the reason modal")
            [modal] = self.dc.interactions[press["id"]].callbacks
            field = modal["data"]["components"][0]["components"][0]
            await self.dc.user_submits_modal(ACCOUNTS[person], press, {field["custom_id"]: reason})

    async def command(self, person: str, text: str) -> list[str]:
        """``/pluto <sub> [args]``: Discord shows the answers as the interaction's follow-ups."""
        sub, _, args = text.partition(" ")
        interaction = await self.dc.user_slash(ACCOUNTS[person], sub, args or None)
        await self.wait_for(lambda: self._world.followups(interaction), f"an answer to /pluto {text}")
        return [readable(m["content"]) for m in self._world.followups(interaction)]

    def arrived(self, person: str) -> list[Arrived]:
        """The DM, with the answers to what the person ran there (an interaction's
        follow-ups show in the DM and their buttons can be pressed), in the order posted."""
        account = ACCOUNTS[person]
        answers = [
            m
            for i in self.dc.interactions.values()
            if not i.payload.get("guild_id") and (i.payload.get("user") or {}).get("id") == account
            for m in i.followups
        ]
        posted = sorted([*self._world.dms(account), *answers], key=lambda m: int(m["id"]))
        return [_arrived(m) for m in posted]

    def throttle(self, person: str, sends: int, retry_after: int) -> None:
        channel = self.dc.dm_channel_of(ACCOUNTS[person])
        self.dc.inject(429, method="POST", channel_id=channel, count=sends, retry_after=retry_after)

    def refused(self, person: str) -> int:
        path = f"/channels/{self.dc.dm_channel_of(ACCOUNTS[person])}/messages"
        return sum(1 for r in self.dc.requests if r.status == 429 and r.path == path)

    # --- group rooms ----------------------------------------------------------------------

    async def link_person(self, person: str, username: str) -> None:
        await self.link(person, username)

    async def room_write(self, room: str, person: str, text: str) -> None:
        await self.dc.user_posts(ACCOUNTS[person], ROOMS[room], text)

    async def room_reply(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self.dc.user_posts(ACCOUNTS[person], ROOMS[room], text, reply_to=to.ref)

    async def room_edit(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self.dc.user_edits(to.raw, text)

    async def room_command(self, room: str, person: str, text: str) -> None:
        sub, _, args = text.partition(" ")
        await self.dc.user_slash(ACCOUNTS[person], sub, args or None, channel_id=ROOMS[room])

    async def join(self, room: str, person: str) -> None:
        if ACCOUNTS[person] not in self.dc.guilds[GUILD].members:
            await self.dc.add_member(GUILD, ACCOUNTS[person])

    async def remove_bot(self, room: str) -> None:
        await self.dc.remove_bot_from_guild(GUILD)

    async def add_bot(self, room: str) -> None:
        await self.dc.add_bot_to_guild(GUILD)

    def room_posts(self, room: str) -> list[Arrived]:
        """Everything in the channel from the bot or its webhooks (ephemeral answers are not
        kept in the channel), each with the name it was posted under on top."""
        posts = [m for m in self.dc.messages.get(ROOMS[room], {}).values() if m["author"].get("bot")]
        return [
            Arrived(f"{m['author']['username']}\n{readable(m['content'])}", m["id"], tuple(_custom_ids(m)), m)
            for m in posts
        ]

    def private(self, person: str) -> list[Arrived]:
        """The person's DMs and the ephemeral answers to what they ran in servers."""
        account = ACCOUNTS[person]
        answers = [
            _arrived(m)
            for i in self.dc.interactions.values()
            if i.payload.get("guild_id") and (i.payload.get("member") or {}).get("user", {}).get("id") == account
            for m in i.followups
        ]
        return self.arrived(person) + answers

    def room_sends(self, room: str) -> tuple[list[float], int]:
        hooks = {w.id for w in self.dc.webhooks.values() if w.channel_id == ROOMS[room]}
        sent = [
            r.at for r in self.dc.requests_to("POST", "/webhooks/") if r.path.split("/")[2] in hooks and r.status == 200
        ]
        return sent, sum(1 for r in self.dc.requests if r.status == 429)

    def room_floor(self, posts: int) -> float:
        limit, window = self.dc.webhook_limit
        return max(0, posts - limit) / limit * window


def _arrived(message: dict[str, Any]) -> Arrived:
    return Arrived(readable(message["content"]), message["id"], tuple(_custom_ids(message)), message)


def _custom_ids(message: dict[str, Any]) -> dict[str, str]:
    """The buttons that come back to the bot, label -> custom_id (link buttons left out)."""
    rows = message.get("components") or []
    return {b["label"]: b["custom_id"] for row in rows for b in row["components"] if "custom_id" in b}
