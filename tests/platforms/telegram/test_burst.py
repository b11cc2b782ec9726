"""A burst through the real bridge process: 300 LMS messages to 10 Telegram users at once,
with the sandbox Bot API at Telegram's real flood limits. Everything arrives, in order per
person, and the sandbox never has to answer 429."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import CHAT_RATE, SandboxRequest, SandboxTelegram
from tests.conftest import BurstReport
from tests.platforms.telegram.world import TelegramWorld
from tests.support import link_import

pytestmark = pytest.mark.e2e

PEOPLE = 10
PER_PERSON = 30
FIRST_CHAT = 3001
AT_START = 100  # people linked while the bridge was down: one "Linked" notice each at start


async def linked_world(
    tg: SandboxTelegram, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, people: int
) -> tuple[TelegramWorld, list[int]]:
    """``people`` LMS users in the seed course, each linked to a Telegram user who has
    started the bot (``pluto-bridge link import`` with administrator-issued tokens), the
    bridge not started yet. Returns the world and the LMS ids."""
    world = TelegramWorld(tg, lms, tmp_path, "polling")
    uids = []
    rows = []
    for i in range(people):
        uid = lms.create_user(f"burst{i:02d}", firstname="Burst", lastname=f"Person{i:02d}")
        lms.enrol(seed.course_id, uid)
        tg.add_user(FIRST_CHAT + i, "Burst", last_name=f"Person{i:02d}", started=True)
        token = lms.issue_token(uid)
        rows.append({"platform": "telegram", "user_id": str(FIRST_CHAT + i), "token": token, "lms_user_id": uid})
        uids.append(uid)
    await link_import(world.config, rows, tmp_path)
    return world, uids


@pytest.fixture
async def burst_world(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[tuple[TelegramWorld, list[int]]]:
    """Ten linked people and the bridge running with every "Linked" notice delivered.
    Yields the world and the LMS ids."""
    tg = SandboxTelegram(enforce_limits=True)
    await tg.start()
    world: TelegramWorld | None = None
    try:
        world, uids = await linked_world(tg, lms, seed, tmp_path, PEOPLE)
        await world.start()
        for i in range(PEOPLE):
            await world.see(FIRST_CHAT + i, "Linked to Pluto as")
        yield world, uids
    finally:
        if world is not None:
            await world.stop()
        await tg.stop()


async def test_100_linked_notices_at_start_draw_no_429(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, burst_report: BurstReport
) -> None:
    """A hundred people linked while the bridge was down: at start each gets "Linked", all
    at once against the bot-wide limit (30 a second), and Telegram never answers 429."""
    tg = SandboxTelegram(enforce_limits=True)
    await tg.start()
    world: TelegramWorld | None = None
    try:
        world, _ = await linked_world(tg, lms, seed, tmp_path, AT_START)
        running = world
        await running.start()
        chats = [FIRST_CHAT + i for i in range(AT_START)]
        await running.wait(
            lambda: running.chats_showing("Linked to Pluto as") >= set(chats), "every notice", within=60
        )
        assert [r.api_method for r in tg.requests if r.status == 429] == []
        sends = {r.params.get("chat_id"): [r.at] for r in tg.calls("sendMessage", ok=True)}
        burst_report("telegram (notices at start)", sends, 0.0, tg.min_seconds({c: 1 for c in chats}))
    finally:
        if world is not None:
            await world.stop()
        await tg.stop()


@pytest.mark.long(35)
async def test_300_messages_to_10_people_at_real_limits(
    burst_world: tuple[TelegramWorld, list[int]],
    lms: SandboxLMS,
    seed: DemoSeed,
    burst_report: BurstReport,
) -> None:
    world, uids = burst_world
    chats = [FIRST_CHAT + i for i in range(PEOPLE)]
    # Start from idle chats (each "Linked" notice took a turn), so the floor below holds.
    idle_at = max(r.at for r in world.tg.calls("sendMessage")) + world.tg.chat_burst / CHAT_RATE
    await world.wait(lambda: time.monotonic() >= idle_at, "idle chats", within=10)
    for n in range(1, PER_PERSON + 1):
        for uid in uids:
            lms.post_message(seed.mentor_id, uid, f"burst {n} of {PER_PERSON}")

    def delivered() -> int:
        return sum(len(world.shown(chat, "burst ")) for chat in chats)

    await world.wait(lambda: delivered() == PEOPLE * PER_PERSON, "all 300 messages", within=90)

    for chat in chats:
        order = [int(m.group(1)) for t in world.texts(chat) if (m := re.search(r"burst (\d+) of", t))]
        assert order == list(range(1, PER_PERSON + 1)), f"chat {chat}: {order}"
    assert [r.status for r in world.tg.requests if r.status == 429] == []
    assert all(r.ok for r in world.tg.calls("sendMessage"))

    sends = {chat: [r.at for r in world.tg.calls("sendMessage") if _burst_in(r, chat)] for chat in chats}
    bot_floor = world.tg.min_seconds({chat: 1 for chat in range(PEOPLE * PER_PERSON)})
    burst_report("telegram", sends, world.tg.min_seconds({FIRST_CHAT: PER_PERSON}), bot_floor)


def _burst_in(request: SandboxRequest, chat: int) -> bool:
    return str(request.params.get("chat_id")) == str(chat) and "burst " in str(request.params.get("text"))
