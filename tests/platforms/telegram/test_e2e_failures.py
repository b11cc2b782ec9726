"""End to end on Telegram when things go wrong: a throttled chat, a person who blocked the
bot, a forged webhook POST. The real bridge process, the real python-telegram-bot, the
sandbox Bot API at its real flood limits, the sandbox LMS."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.telegram.conftest import ALEX, SAM
from tests.platforms.telegram.world import SECRET_HEADER, WEBHOOK_SECRET, TelegramWorld
from tests.support import cli, until

pytestmark = pytest.mark.e2e

async def test_blocked_bot_makes_the_link_inactive_without_retries(
    world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link_by_command(SAM, "mentee1")
    await world.link_by_command(ALEX, "mentee2")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "before the block")
    await world.see(SAM, "before the block")

    world.tg.block_bot(SAM)
    sends_before = len(world.sends_to(SAM))
    for n in (1, 2, 3):
        lms.post_message(seed.mentor_id, seed.mentee1_id, f"after the block {n}")
    await until(lambda: [s for _, s, _ in world.outbox(SAM)[-3:]] == ["dead"] * 3, what="the three deliveries given up")

    attempts = world.sends_to(SAM)[sends_before:]
    assert [r.status for r in attempts] == [403]  # one refusal; the other two never went out
    assert all("blocked by the user" in error for _, _, error in world.outbox(SAM)[-3:])  # the reason is kept
    code, out, _ = await cli("link", "list", "--config", str(world.config))
    assert code == 0
    assert re.search(r"telegram:111\tmentee1 \(id \d+\)\tinactive \(.*blocked by the user\)", out), out
    assert re.search(r"telegram:222\tmentee2 \(id \d+\)\tactive", out), out

    # Later messages are not even read for Sam: one poll cycle covers both people, so once
    # Alex's later message has arrived, Sam's would have been queued too.
    lms.post_message(seed.mentor_id, seed.mentee1_id, "after the link went inactive")
    lms.post_message(seed.mentor_id, seed.mentee2_id, "Alex still receives")
    await world.see(ALEX, "Alex still receives")
    assert len(world.outbox(SAM)) == 4 and len(world.sends_to(SAM)) == sends_before + 1


@pytest.mark.parametrize("world", ["webhook"], indirect=True)
async def test_forged_webhook_secret_is_refused(world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    await world.link_by_command(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Any news on your project?")
    await world.see(SAM, "Any news on your project?")
    sam = world.tg.users[SAM]
    message: dict[str, Any] = {
        "message_id": 9001,
        "from": sam.as_json(),
        "chat": sam.private_chat(),
        "date": int(time.time()),
        "text": "forged: please drop me from the course",
    }
    forged = {"update_id": 424242, "message": message}
    async with aiohttp.ClientSession() as http:
        for headers in ({SECRET_HEADER: "not-the-secret"}, {}):
            async with http.post(world.webhook_url, json=forged, headers=headers) as resp:
                assert resp.status == 403

    # A genuine message after the forged ones: once it is in the LMS, a relayed forgery would be too.
    world.tg.user_sends_text(SAM, "genuine: going well")
    conv = sent["conversationid"]

    def sams() -> list[str]:
        return [m["text"] for m in lms.messages_in(conv) if m["useridfrom"] == seed.mentee1_id]

    await until(lambda: sams() == ["genuine: going well"], what="the genuine message in the LMS")
    assert all(d.status == 200 for d in world.tg.webhook_deliveries)  # the real secret is accepted
    assert world.bridge is not None
    assert any("wrong secret token" in line for line in world.bridge.err)

    # Telegram delivers an update again when it missed the answer: it reaches Pluto once.
    again = {"update_id": 900_001, "message": {**message, "message_id": 9002, "text": "said once"}}
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(world.webhook_url, json=again, headers={SECRET_HEADER: WEBHOOK_SECRET}) as resp:
                assert resp.status == 200
    world.tg.user_sends_text(SAM, "and after that")
    await world.wait(lambda: "and after that" in sams(), "the message after the redelivered one")
    assert sams() == ["genuine: going well", "said once", "and after that"]  # once, and in the order written
