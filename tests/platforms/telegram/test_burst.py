"""A burst through the real bridge process: 300 LMS messages to 10 Telegram users at once,
with the sandbox Bot API at Telegram's real flood limits. Everything arrives, in order per
person, and the sandbox never has to answer 429."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.platforms.telegram.world import TelegramWorld, cli

pytestmark = pytest.mark.e2e

PEOPLE = 10
PER_PERSON = 30
FIRST_CHAT = 3001


@pytest.fixture
async def burst_world(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[tuple[TelegramWorld, list[int]]]:
    """Ten LMS users in the seed course, each linked to a Telegram user who has started the
    bot (linked with ``pluto-bridge link import`` and administrator-issued tokens), and the
    bridge running with every "Linked" notice delivered. Yields the world and the LMS ids."""
    tg = SandboxTelegram(enforce_limits=True)
    await tg.start()
    world = TelegramWorld(tg, lms, tmp_path, "polling")
    try:
        uids = []
        rows = []
        for i in range(PEOPLE):
            uid = lms.create_user(f"burst{i:02d}", firstname="Burst", lastname=f"Person{i:02d}")
            lms.enrol(seed.course_id, uid)
            tg.add_user(FIRST_CHAT + i, "Burst", last_name=f"Person{i:02d}", started=True)
            token = lms.issue_token(uid)
            rows.append({"platform": "telegram", "user_id": str(FIRST_CHAT + i), "token": token, "lms_user_id": uid})
            uids.append(uid)
        tokens = tmp_path / "tokens.json"
        tokens.write_text(json.dumps(rows))
        code, out, err = await cli("link", "import", str(tokens), "--config", str(world.config))
        assert code == 0, out + err
        await world.start()
        for i in range(PEOPLE):
            await world.see(FIRST_CHAT + i, "Linked to Pluto as")
        yield world, uids
    finally:
        await world.stop()
        await tg.stop()


async def test_300_messages_to_10_people_at_real_limits(
    burst_world: tuple[TelegramWorld, list[int]],
    lms: SandboxLMS,
    seed: DemoSeed,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    world, uids = burst_world
    chats = [FIRST_CHAT + i for i in range(PEOPLE)]
    started = time.monotonic()
    for n in range(1, PER_PERSON + 1):
        for uid in uids:
            lms.post_message(seed.mentor_id, uid, f"burst {n} of {PER_PERSON}")

    def delivered() -> int:
        return sum(len(world.shown(chat, "burst ")) for chat in chats)

    await world.wait(lambda: delivered() == PEOPLE * PER_PERSON, "all 300 messages", within=90)
    elapsed = time.monotonic() - started

    for chat in chats:
        order = [int(m.group(1)) for t in world.texts(chat) if (m := re.search(r"burst (\d+) of", t))]
        assert order == list(range(1, PER_PERSON + 1)), f"chat {chat}: {order}"
    assert [r.status for r in world.tg.requests if r.status == 429] == []
    assert all(r.ok for r in world.tg.calls("sendMessage"))

    floor = world.tg.min_seconds({chat: PER_PERSON for chat in chats})
    line = (
        f"burst telegram: {PEOPLE * PER_PERSON} messages to {PEOPLE} chats in {elapsed:.1f} s "
        f"(limits allow >= {floor:.1f} s)"
    )
    record_property("figure", line)  # shown in the summary under pytest-xdist (see conftest)
    with capsys.disabled():
        print(f"\n{line}")
