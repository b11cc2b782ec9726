"""A bridge killed between Teams' acceptance of a message and the bridge's record of it.
The Bot Connector API gives a bot no way to check what arrived (no operation reads a
conversation's activities, and the service assigns activity ids), so the message is sent
again: one duplicate, counted in the resend metric (issue 12). Real process, SIGKILL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.teams.conftest import TeamsChat, start_bridge, visible

pytestmark = pytest.mark.e2e


def message_statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [str(r[0]) for r in conn.execute("SELECT status FROM outbox WHERE item_key LIKE 'msg:%' ORDER BY id")]


async def test_killed_between_teams_answer_and_the_record_resends_once_and_counts_it(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.sqlite3"
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    chat.sandbox.answer_delay = 60  # in the chat at once, answered late: the bridge dies waiting
    lms.post_message(seed.mentor_id, seed.mentee1_id, "shown before the crash")
    # (polled: the sandbox's own wait wakes on answers, and this one is held back)
    await chat.until(lambda: any("shown before the crash" in t for t in chat.texts(sam)))
    assert message_statuses(db) == ["sending"]
    await chat.bridge.kill()
    chat.sandbox.answer_delay = 0

    chat.bridge = await start_bridge(tmp_path / "bridge.toml", chat.port, chat.sandbox)  # stopped by the fixture
    await chat.until(lambda: message_statuses(db) == ["sent"], limit=30)
    assert sum("shown before the crash" in visible(t) for t in chat.texts(sam)) == 2  # at most one duplicate
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{chat.port}/metrics") as resp:
            metrics = await resp.text()
    assert 'pluto_bridge_resends_after_crash_total{platform="teams"} 1.0' in metrics
