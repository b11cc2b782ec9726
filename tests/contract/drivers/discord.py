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

ACCOUNTS = {SAM: "310000000000000001", ALEX: "310000000000000002"}


def readable(content: str) -> str:
    """What Discord displays of escaped markdown: backslash escapes and ZWSPs gone."""
    return re.sub(r"\\(.)", r"\1", content).replace("\u200b", "")


class DiscordDriver(ChatDriver):
    """Discord, Sam talking to the bot in a DM."""

    name = "discord"

    def __init__(self, lms: SandboxLMS, tmp: Path) -> None:
        super().__init__(lms, tmp)
        self.dc = SandboxDiscord()
        self.world: DiscordWorld | None = None

    async def start(self) -> None:
        await self.dc.start()
        self.dc.add_user(ACCOUNTS[SAM], "Sam")
        self.dc.add_user(ACCOUNTS[ALEX], "Alex")
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

    async def press(self, person: str, message: Arrived, label: str) -> None:
        await self.dc.user_clicks(ACCOUNTS[person], message.raw, _custom_ids(message.raw)[label])

    async def command(self, person: str, text: str) -> list[str]:
        """``/pluto <sub> [args]``: Discord shows the answers as the interaction's follow-ups."""
        sub, _, args = text.partition(" ")
        interaction = await self.dc.user_slash(ACCOUNTS[person], sub, args or None)
        await self.wait_for(lambda: self._world.followups(interaction), f"an answer to /pluto {text}")
        return [readable(m["content"]) for m in self._world.followups(interaction)]

    def arrived(self, person: str) -> list[Arrived]:
        return [
            Arrived(readable(m["content"]), m["id"], tuple(_custom_ids(m)), m)
            for m in self._world.dms(ACCOUNTS[person])
        ]


def _custom_ids(message: dict[str, Any]) -> dict[str, str]:
    """The buttons that come back to the bot, label -> custom_id (link buttons left out)."""
    rows = message.get("components") or []
    return {b["label"]: b["custom_id"] for row in rows for b in row["components"] if "custom_id" in b}
