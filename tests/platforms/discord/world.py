"""The real ``pluto-bridge run`` process with only Discord enabled, the Discord sandbox at
its real limits, and helpers that read what each person sees in their DM with the bot."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.discord import SandboxDiscord
from sandbox.lms import SandboxLMS
from tests.e2e.harness import BridgeProcess, bridge_config, sign_in
from tests.support import link_import

PASSWORD = "Passw0rd!"
EPHEMERAL = 1 << 6
# The sign-in URL as the link target of a markdown link: the label is escaped, the target is not.
SIGN_IN_URL = re.compile(r"\]\((http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+)\)")


@dataclass
class DiscordWorld:
    """One bridge process wired to the sandbox LMS and the Discord sandbox."""

    dc: SandboxDiscord
    lms: SandboxLMS
    tmp: Path
    # More config sections or settings, merged over the defaults (e.g. {"lms": {"poll_interval": 8}}).
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: Path = field(init=False)
    port: int = field(init=False)  # the bridge's web port (/metrics)
    bridge: BridgeProcess | None = None

    def __post_init__(self) -> None:
        discord: dict[str, Any] = {
            "enabled": True,
            "token": self.dc.token,
            "application_id": self.dc.application_id,
            "api_base_url": self.dc.api_base,
            "gateway_url": self.dc.gateway_url,
        }
        sections: dict[str, dict[str, Any]] = {"console": {"enabled": False}, "discord": discord}
        for section, values in self.settings.items():
            sections[section] = {**sections.get(section, {}), **values}
        self.config, self.port = bridge_config(self.tmp, self.lms.url, **sections)

    async def start(self) -> BridgeProcess:
        """Start the bridge; return once its gateway session is live and ``/pluto`` registered."""
        self.bridge = await BridgeProcess(self.config).start()
        await self.wait(
            lambda: self.dc.session_id is not None and bool(self.dc.commands.get("global")),
            "the gateway READY and the /pluto command",
            within=30,
        )
        await self.dc.wait_connected(within=10)
        return self.bridge

    async def stop(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()

    # -- waiting ---------------------------------------------------------------------------

    async def wait(self, predicate: Callable[[], Any], what: str, within: float = 15.0) -> None:
        """Poll until ``predicate()`` holds; fail early (with the bridge's log) if it exited."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            bridge = self.bridge
            if bridge is not None and bridge.proc is not None and bridge.proc.returncode is not None:
                raise AssertionError(
                    f"bridge exited ({bridge.proc.returncode}) waiting for {what}:\n" + "\n".join(bridge.err[-40:])
                )
            if loop.time() > deadline:
                log = "\n".join(bridge.err[-40:]) if bridge is not None else ""
                raise AssertionError(f"timed out waiting for {what}\nbridge log:\n{log}")
            await asyncio.sleep(0.05)

    # -- what a person sees ----------------------------------------------------------------

    def dms(self, user: str) -> list[dict[str, Any]]:
        """Messages the bot posted in this person's DM, oldest first (as Discord stores them)."""
        channel = self.dc.dm_channels.get(user)
        return self.dc.sent_by_bot(channel) if channel else []

    def texts(self, user: str) -> list[str]:
        return [m["content"] for m in self.dms(user)]

    def dm_containing(self, user: str, needle: str) -> dict[str, Any]:
        found = [m for m in self.dms(user) if needle in m["content"]]
        assert len(found) == 1, f"expected one DM with {needle!r}, got {len(found)}: {self.texts(user)}"
        return found[0]

    def followups(self, interaction: dict[str, Any]) -> list[dict[str, Any]]:
        """The answers shown to the person for one interaction (follow-up messages)."""
        return self.dc.interactions[interaction["id"]].followups

    def posts_to(self, user: str) -> list[Any]:
        """Recorded ``POST /channels/{dm}/messages`` requests for this person (any status)."""
        channel = self.dc.dm_channels.get(user)
        return self.dc.requests_to("POST", f"/channels/{channel}/messages") if channel else []

    # -- what a person does ----------------------------------------------------------------

    async def link(self, user: str, username: str) -> dict[str, Any]:
        """The real flow: ``/pluto link`` -> ephemeral URL -> sign-in form -> confirmation DM.

        Returns the ``/pluto link`` interaction."""
        interaction = await self.dc.user_slash(user, "link")
        await self.wait(
            lambda: any(SIGN_IN_URL.search(m["content"]) for m in self.followups(interaction)), "the sign-in URL"
        )
        answer = next(m for m in self.followups(interaction) if SIGN_IN_URL.search(m["content"]))
        assert int(answer["flags"]) & EPHEMERAL, "the sign-in URL must be shown to the person only"
        match = SIGN_IN_URL.search(answer["content"])
        assert match is not None
        async with aiohttp.ClientSession() as http:
            async with http.post(match.group(1), data=sign_in(username, PASSWORD)) as resp:
                assert resp.status == 200, await resp.text()
        await self.wait(lambda: any("Linked to Pluto as" in t for t in self.texts(user)), "the link confirmation")
        return interaction

    async def start_with_crowd(
        self, course_id: int, count: int, login: str, names: tuple[str, str], first_id: int
    ) -> dict[str, int]:
        """``count`` new LMS users in the course (``login``00, 01...; named ``names`` (first,
        last) with the number after the first), each with a Discord account (ids from
        ``first_id``) linked the operator's way; start the bridge and wait until every link
        is confirmed in chat. Returns Discord id -> LMS id."""
        people: dict[str, int] = {}
        for n in range(count):
            first = f"{names[0]}{n:02d}"
            lms_id = self.lms.create_user(f"{login}{n:02d}", PASSWORD, first, names[1])
            self.lms.enrol(course_id, lms_id, "student")
            people[self.dc.add_user(str(first_id + n), first)] = lms_id
        await self.import_links(
            [
                {"platform": "discord", "user_id": uid, "token": self.lms.issue_token(lms_id), "lms_user_id": lms_id}
                for uid, lms_id in people.items()
            ]
        )
        await self.start()
        await self.wait(
            lambda: all(any("Linked to Pluto as" in t for t in self.texts(uid)) for uid in people),
            "every link confirmation",
            within=30,
        )
        return people

    async def import_links(self, rows: list[dict[str, Any]]) -> None:
        """Link people the operator's way: ``pluto-bridge link import`` with issued tokens."""
        await link_import(self.config, rows, self.tmp, jsonl=True)
