"""The real ``pluto-bridge run`` process with only Telegram enabled, the sandbox Bot API at
its real flood limits, and helpers that read what each person sees in their chat."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.lms import SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.e2e.harness import BridgeProcess, bridge_config, sign_in

WEBHOOK_SECRET = "e2e-Webhook_secret-42"
PASSWORD = "Passw0rd!"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SIGN_IN_URL = re.compile(r"http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+")
_DEEP_LINK = re.compile(r"https://t\.me/(\w+)\?start=([A-Za-z0-9_-]+)")


# Waiting bounds are generous: they are only reached when something is wrong, and a shared
# machine running four test workers can be slow to start a bridge process.
START_WITHIN = 45.0
WITHIN = 30.0


@dataclass
class TelegramWorld:
    """One bridge process (polling or webhook) wired to the sandbox LMS and Telegram."""

    tg: SandboxTelegram
    lms: SandboxLMS
    tmp: Path
    mode: str
    # More config sections, merged over the Telegram-only defaults (another platform, say).
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: Path = field(init=False)
    port: int = field(init=False)
    bridge: BridgeProcess | None = None

    def __post_init__(self) -> None:
        telegram: dict[str, Any] = {
            "enabled": True,
            "token": self.tg.token,
            "base_url": self.tg.api_url,
            "base_file_url": self.tg.file_url,
            "mode": self.mode,
        }
        if self.mode == "webhook":
            telegram["webhook_secret"] = WEBHOOK_SECRET
        # bridge_config sets web.public_url to the bridge's own port: the webhook URL.
        self.config, self.port = bridge_config(
            self.tmp, self.lms.url, console={"enabled": False}, telegram=telegram, **self.settings
        )

    @property
    def db(self) -> Path:
        return self.tmp / "bridge.sqlite3"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/webhook"

    async def start(self) -> BridgeProcess:
        """Start the bridge and wait until Telegram is connected (polling or webhook set)."""
        self.bridge = await BridgeProcess(self.config).start()
        if self.mode == "webhook":
            await self.wait(lambda: self.tg.webhook is not None, "setWebhook", START_WITHIN)
        else:
            await self.wait(lambda: bool(self.tg.calls("getUpdates")), "the first getUpdates", START_WITHIN)
        return self.bridge

    async def stop(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()

    async def wait(self, predicate: Callable[[], bool], what: str, within: float = WITHIN) -> None:
        """Wait for ``predicate()`` on the sandbox; fail naming ``what`` and the bridge's stderr."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            proc = self.bridge.proc if self.bridge else None
            died = proc is not None and proc.returncode is not None
            if died or loop.time() >= deadline:
                err = "\n".join(self.bridge.err[-30:]) if self.bridge else ""
                state = "the bridge exited" if died else "timed out"
                raise AssertionError(f"{state} waiting for {what}; bridge stderr:\n{err}")
            # The sandbox wakes us on every change; the short cap notices a dead process.
            with contextlib.suppress(TimeoutError):
                await self.tg.wait_until(predicate, within=min(0.5, max(0.01, deadline - loop.time())))

    # --- what a person sees --------------------------------------------------------------

    def texts(self, user: int) -> list[str]:
        """What the bot shows in ``user``'s chat now, as they read it (entities parsed)."""
        return [m["text"] for m in self.tg.sent_to(user)]

    def shown(self, user: int, needle: str) -> list[str]:
        return [t for t in self.texts(user) if needle in t]

    def chats_showing(self, needle: str) -> set[int]:
        """Every chat with a bot message containing ``needle``, in one pass over the sandbox
        (a wait for a hundred chats asked chat by chat after every change, on the sandbox's
        own loop, and so slowed the server whose timing the test measures)."""
        return {c for (c, _), m in self.tg.messages.items() if m["from"]["is_bot"] and needle in m["text"]}

    async def see(self, user: int, needle: str, count: int = 1, within: float = WITHIN) -> list[str]:
        """Wait until ``count`` bot messages containing ``needle`` are in the chat; return them."""
        await self.wait(lambda: len(self.shown(user, needle)) >= count, f"{count} x {needle!r} in chat {user}", within)
        return self.shown(user, needle)

    def message_id_of(self, user: int, needle: str) -> int:
        ids = [m["message_id"] for m in self.tg.sent_to(user) if needle in m["text"]]
        assert len(ids) == 1, f"{needle!r} shown {len(ids)} times in chat {user}"
        return int(ids[0])

    def sends_to(self, user: int) -> list[Any]:
        """Every sendMessage the sandbox received for ``user``'s chat (ok or not)."""
        return [r for r in self.tg.calls("sendMessage") if r.params.get("chat_id") == user]

    # --- linking -------------------------------------------------------------------------

    async def link_by_command(self, user: int, username: str) -> None:
        """/link in chat -> the sign-in URL arrives -> POST the form -> the confirmation arrives."""
        before = len(self.texts(user))
        self.tg.user_sends_text(user, "/link")
        await self.wait(lambda: any(_SIGN_IN_URL.search(t) for t in self.texts(user)[before:]), "the sign-in URL")
        url = next(m.group(0) for t in self.texts(user)[before:] if (m := _SIGN_IN_URL.search(t)))
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=sign_in(username, PASSWORD)) as resp:
                assert resp.status == 200, await resp.text()
                assert "now linked to Pluto" in await resp.text()
        await self.see(user, "Linked to Pluto as")

    async def link_by_deep_link(self, user: int, username: str) -> str:
        """Web first: sign in on /link -> the page shows a code and a t.me deep link -> the
        person presses Start with that payload -> the confirmation arrives. Returns the code."""
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"http://127.0.0.1:{self.port}/link", data={"username": username, "password": PASSWORD}
            ) as resp:
                page = await resp.text()
                assert resp.status == 200, page
        found = _DEEP_LINK.search(page)
        assert found is not None, f"no deep link on the page:\n{page}"
        bot, code = found.groups()
        assert bot == self.tg.bot_username
        assert f"link {code}" in page  # the one-time code is shown for typing, too
        self.tg.user_starts(user, code)
        await self.see(user, "Linked to Pluto as")
        return code

    async def link_room(self, admin: int, group: int, conversation: str = "Cohort A") -> None:
        """``admin`` (a linked administrator of ``group``) sends /room there and picks the
        Pluto group ``conversation``; the confirmation arrives privately."""
        self.tg.user_sends_in_group(admin, group, "/room")
        await self.see(admin, "Which Pluto group conversation")
        self.press(admin, "Which Pluto group conversation", conversation)
        await self.see(admin, "now linked")

    def press(self, user: int, needle: str, label: str) -> None:
        """``user`` presses the button ``label`` on the last message in their chat showing ``needle``."""
        message = [m for m in self.tg.sent_to(user) if needle in m["text"]][-1]
        rows = message["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
        self.tg.user_presses(user, message["message_id"], data)

    # --- the bridge's store, read as an operator would --------------------------------------

    def outbox(self, user: int) -> list[tuple[str, str, str]]:
        """(item key, status, last error) of the LMS messages queued for ``user``'s chat, oldest first."""
        with sqlite3.connect(self.db) as conn:
            return list(
                conn.execute(
                    "SELECT item_key, status, last_error FROM outbox WHERE item_key LIKE 'msg:%' AND lane = ? "
                    "ORDER BY id",
                    (f"telegram||{user}",),
                )
            )
