"""A bridge killed between reading the LMS and sending to chat delivers every message
exactly once after a restart (real process, SIGKILL, Telegram sandbox as the chat side)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.e2e.harness import BridgeProcess, bridge_config, sign_in

pytestmark = pytest.mark.e2e

USER = 111


@pytest.fixture
async def telegram() -> AsyncIterator[SandboxTelegram]:
    tg = SandboxTelegram(enforce_limits=True)
    await tg.start()
    tg.add_user(USER, "Sam", username="sam_mentee", started=True)
    try:
        yield tg
    finally:
        await tg.stop()


def texts(tg: SandboxTelegram) -> list[str]:
    return [m.get("text", "") for m in tg.sent_to(USER)]


def outbox_rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT item_key, status FROM outbox WHERE item_key LIKE 'msg:%' ORDER BY id"))


async def link_over_telegram(tg: SandboxTelegram, username: str) -> None:
    tg.user_sends_text(USER, "/link")
    await tg.wait_until(lambda: any("/link/" in t for t in texts(tg)), within=15)
    url = re.search(r"http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+", "\n".join(texts(tg)))
    assert url is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(url.group(0), data=sign_in(username)) as resp:
            assert resp.status == 200
    await tg.wait_until(lambda: any("Linked to Pluto as" in t for t in texts(tg)), within=15)


async def test_killed_before_sending_delivers_each_message_once_after_restart(
    lms: SandboxLMS, seed: DemoSeed, telegram: SandboxTelegram, tmp_path: Path
) -> None:
    config, port = bridge_config(
        tmp_path,
        lms.url,
        console={"enabled": False},
        telegram={
            "enabled": True,
            "token": telegram.token,
            "base_url": telegram.api_url,
            "base_file_url": telegram.file_url,
        },
    )
    db = tmp_path / "bridge.sqlite3"
    first = await BridgeProcess(config).start()
    try:
        await first.ready(port)
        await link_over_telegram(telegram, "mentee1")
        # Two messages go through before the crash...
        for n in (1, 2):
            lms.post_message(seed.mentor_id, seed.mentee1_id, f"crash test {n}")
        await telegram.wait_until(lambda: sum("crash test" in t for t in texts(telegram)) == 2, within=15)
        # ...then Telegram throttles this chat until the crash (however long the machine takes
        # to get there), so the next three are read from the LMS and queued, but not yet
        # sent, when the process dies.
        telegram.fail_next("sendMessage", chat_id=USER, status=429, retry_after=1, count=10_000)
        for n in (3, 4, 5):
            lms.post_message(seed.mentor_id, seed.mentee1_id, f"crash test {n}")

        async def queued() -> None:
            while not (len(outbox_rows(db)) == 5 and telegram.calls("sendMessage", ok=False)):  # noqa: ASYNC110
                await asyncio.sleep(0.05)

        await asyncio.wait_for(queued(), 15)
        assert [status for _, status in outbox_rows(db)] == ["sent", "sent", "pending", "pending", "pending"]
        await first.kill()
    finally:
        await first.stop()

    assert sum("crash test" in t for t in texts(telegram)) == 2
    telegram.clear_failures()  # the throttling ends
    second = await BridgeProcess(config).start()
    try:
        await second.ready(port)
        await telegram.wait_until(lambda: sum("crash test" in t for t in texts(telegram)) == 5, within=20)

        async def all_sent() -> None:  # nothing pending: nothing more can be sent, doubled or not
            while [status for _, status in outbox_rows(db)] != ["sent"] * 5:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

        await asyncio.wait_for(all_sent(), 15)
        delivered = [t for t in texts(telegram) if "crash test" in t]
        assert [re.search(r"crash test (\d)", t).group(1) for t in delivered] == ["1", "2", "3", "4", "5"]  # type: ignore[union-attr]
        assert [status for _, status in outbox_rows(db)] == ["sent"] * 5
    finally:
        await second.stop()
