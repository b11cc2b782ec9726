"""Deliveries under a chat platform's failures, with the real bridge process: transient
failures are retried for a time, not a number of tries; a delivery that dies is told to its
person (issue 12)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.e2e.harness import BridgeProcess, poll_until
from tests.e2e.test_crash_recovery import USER, link_over_telegram, telegram, telegram_config, texts

pytestmark = pytest.mark.e2e
__all__ = ["telegram"]  # the fixture, shared
OTHER = 222  # Alex's Telegram account
OUTAGE = 120.0  # seconds of 5xx for one chat (issue 12)


def statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM outbox WHERE item_key LIKE 'msg:%' ORDER BY id")]


def numbered(tg: SandboxTelegram, prefix: str, user: int = USER) -> list[int]:
    return [int(m.group(1)) for t in texts(tg, user) if (m := re.search(rf"{prefix} (\d+)", t))]


@pytest.mark.long(125)
@pytest.mark.timeout(420)  # the outage itself lasts two minutes
async def test_two_minutes_of_5xx_for_one_chat_delays_it_while_other_chats_flow(
    lms: SandboxLMS, seed: DemoSeed, telegram: SandboxTelegram, tmp_path: Path
) -> None:
    telegram.add_user(OTHER, "Alex", started=True)
    config, port = telegram_config(tmp_path, lms, telegram)  # back-off 0.2 s doubling to 1 s
    bridge = await BridgeProcess(config).start()
    try:
        await bridge.ready(port)  # start-up has its own bound on a loaded machine
        await link_over_telegram(telegram, "mentee1")
        await link_over_telegram(telegram, "mentee2", OTHER)
        # Telegram answers 500 to every send into Sam's chat for two minutes: about 120
        # tries at this back-off, where the old count of 8 attempts killed the message.
        telegram.fail_next("sendMessage", chat_id=USER, status=500, for_seconds=OUTAGE)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "during the outage 1")
        for n in (1, 2):
            lms.post_message(seed.mentor_id, seed.mentee2_id, f"to Alex {n}")
        await poll_until(lambda: len(telegram.calls("sendMessage", ok=False)) >= 2, what="the first refused sends")
        lms.post_message(seed.mentor_id, seed.mentee1_id, "during the outage 2")
        lms.post_message(seed.mentor_id, seed.mentee1_id, "during the outage 3")
        # Alex's chat flows meanwhile; Sam's waits, its later messages behind the first.
        await telegram.wait_until(lambda: len(numbered(telegram, "to Alex", OTHER)) == 2, within=60)
        assert numbered(telegram, "during the outage") == []
        await telegram.wait_until(lambda: len(numbered(telegram, "during the outage")) == 3, within=OUTAGE + 60)
        assert numbered(telegram, "during the outage") == [1, 2, 3]  # all, in order, once
        assert numbered(telegram, "to Alex", OTHER) == [1, 2]
        assert len(telegram.calls("sendMessage", ok=False)) > 8
        await poll_until(lambda: statuses(tmp_path / "bridge.sqlite3") == ["sent"] * 5)  # none dead
        assert not any("could not be delivered" in t for t in texts(telegram))
    finally:
        await bridge.stop()


async def test_a_delivery_out_of_time_is_told_to_the_person(
    lms: SandboxLMS, seed: DemoSeed, telegram: SandboxTelegram, tmp_path: Path
) -> None:
    config, _ = telegram_config(tmp_path, lms, telegram, outbox={"give_up_after": 2.0})
    db = tmp_path / "bridge.sqlite3"
    bridge = await BridgeProcess(config).start()
    try:
        await link_over_telegram(telegram, "mentee1")
        telegram.fail_next("sendMessage", chat_id=USER, status=502, count=10_000)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "lost to the outage")
        await poll_until(lambda: statuses(db) == ["dead"])
        telegram.clear_failures()
        await telegram.wait_until(lambda: any("could not be delivered" in t for t in texts(telegram)), within=30)
        [told] = [m for m in telegram.sent_to(USER) if "could not be delivered" in m["text"]]
        assert "1 message from Maya Mentor could not be delivered" in told["text"]
        buttons = [b for row in told["reply_markup"]["inline_keyboard"] for b in row]
        assert [b["text"] for b in buttons] == ["Open in Pluto"]
        conversation = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
        assert buttons[0]["url"] == f"{lms.url}/message/index.php?convid={conversation}"
        assert not any("lost to the outage" in t for t in texts(telegram))
        await bridge.expect_log("delivery .* dead after")
    finally:
        await bridge.stop()


async def test_not_sent_answers_in_a_busy_chat_are_shown_without_a_flood_limit_hit(
    lms: SandboxLMS, seed: DemoSeed, telegram: SandboxTelegram, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.sqlite3"
    bridge = await BridgeProcess(telegram_config(tmp_path, lms, telegram)[0]).start()
    try:
        await link_over_telegram(telegram, "mentee1")
        # Twelve messages: the chat receives at Telegram's full rate for a while.
        for n in range(1, 13):
            lms.post_message(seed.mentor_id, seed.mentee1_id, f"busy {n}")
        await poll_until(lambda: len(statuses(db)) == 12)
        await telegram.wait_until(lambda: len(numbered(telegram, "busy")) >= 3, within=30)
        lms.set_down(True)  # Pluto's outage: whatever Sam writes now is not sent
        for n in range(1, 5):
            telegram.user_sends_text(USER, f"are you there {n}?")
        await telegram.wait_until(
            lambda: sum("Not sent" in t for t in texts(telegram)) == 4 and len(numbered(telegram, "busy")) == 12,
            within=60,
        )
        assert numbered(telegram, "busy") == list(range(1, 13))
        assert [r.api_method for r in telegram.requests if r.status == 429] == []  # the bridge caused none
    finally:
        lms.set_down(False)
        await bridge.stop()
