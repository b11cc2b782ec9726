"""End to end: one item that cannot be read, rendered or sent stalls nothing (issue 14.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.e2e.harness import BridgeProcess, bridge_config, link_on_telegram

pytestmark = pytest.mark.e2e


def poison(lms: SandboxLMS, sent: dict[str, object], text: str) -> None:
    """Make a stored message hold what a broken LMS or proxy serves: a lone surrogate,
    which the sandbox (rightly) cannot accept through its own send function."""
    next(m for m in lms.state.messages.values() if m.id == sent["msgid"]).text = text


@pytest.fixture
async def bridge(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[tuple[BridgeProcess, str]]:
    """The bridge on the console, linked to mentee1, and its /readyz address."""
    config, port = bridge_config(tmp_path, lms.url)
    process = await BridgeProcess(config).start()
    try:
        await process.expect(r"send /link")
        await process.link("mentee1")
        yield process, f"http://127.0.0.1:{port}/readyz"
    finally:
        await process.stop()


async def test_a_poisoned_message_between_two_ordinary_ones_stalls_nothing(
    bridge: tuple[BridgeProcess, str], lms: SandboxLMS, seed: DemoSeed
) -> None:
    process, ready_url = bridge
    lms.post_message(seed.mentor_id, seed.mentee1_id, "First of three")
    poison(lms, lms.post_message(seed.mentor_id, seed.mentee1_id, "x"), "Second \ud850 of three")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Third of three")
    await process.expect(r"First of three.*Second \ufffd of three.*Third of three")
    # The polling loop lives on: what comes later, for the person, still arrives.
    lms.notify(seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz")
    await process.expect(r"Quiz 2 opens")
    assert not [line for line in process.err if "Traceback" in line]
    async with aiohttp.ClientSession() as http, http.get(ready_url) as resp:
        ready = await resp.json()
    assert resp.status == 200 and ready["polling"] == "ok" and ready["poll_cycles"] > 0, ready


async def test_a_message_the_platform_refuses_is_told_and_the_next_flows(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    tg = SandboxTelegram()
    await tg.start()
    tg.add_user(111, "Sam", started=True)
    config, _port = bridge_config(
        tmp_path,
        lms.url,
        telegram={"enabled": True, "token": tg.token, "base_url": tg.api_url, "base_file_url": tg.file_url},
    )
    bridge = await BridgeProcess(config).start()
    try:
        await link_on_telegram(tg, 111, "mentee1")

        def texts() -> list[str]:
            return [m.get("text", "") for m in tg.sent_to(111)]

        lms.post_message(seed.mentor_id, seed.mentee1_id, "First of three")
        await tg.wait_until(lambda: any("First of three" in t for t in texts()), within=10)
        tg.fail_next("sendMessage", chat_id=111, status=400, description="Bad Request: message is too long")
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Second of three")
        await tg.wait_until(lambda: any("could not be delivered here" in t for t in texts()), within=10)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Third of three")
        await tg.wait_until(lambda: any("Third of three" in t for t in texts()), within=10)
        told = next(m for m in tg.sent_to(111) if "could not be delivered" in m.get("text", ""))
        assert "1 message from Maya Mentor could not be delivered here (" in told["text"]
        [button] = [b for row in told["reply_markup"]["inline_keyboard"] for b in row]
        assert button["text"] == "Open in Pluto"
        assert button["url"].startswith(f"{lms.url}/message/index.php?convid=")
        assert not any("Second of three" in t for t in texts())
    finally:
        await bridge.stop()
        await tg.stop()
