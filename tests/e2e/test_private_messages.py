"""End to end: the real bridge process, the sandbox LMS, the console as the person's chat."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import BridgeProcess, bridge_config
from tests.support import lms_texts

pytestmark = pytest.mark.e2e


@pytest.fixture
async def bridge(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, bridge_store_url: str
) -> AsyncIterator[BridgeProcess]:
    config, _port = bridge_config(tmp_path, lms.url, store={"url": bridge_store_url})
    process = await BridgeProcess(config).start()
    try:
        await process.expect(r"send /link")  # the console greets an unlinked person
        yield process
    finally:
        await process.stop()


async def test_lms_markup_shows_literally_on_the_console(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    """Both directions on every platform: tests/contract/test_messages.py."""
    await bridge.link("mentee1")
    hostile = "Hello Sam <b>not bold</b> & <a href='https://evil.example'>x</a>"
    lms.post_message(seed.mentor_id, seed.mentee1_id, hostile)
    # Plain-text markup on the console: what the mentor typed shows literally, tags and all.
    await bridge.expect(r"Maya Mentor\n\nHello Sam <b>not bold</b> & <a href='https://evil.example'>x</a>")


async def test_privacy_refusal_shown_in_chat(bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed) -> None:
    await bridge.link("mentee1")
    sent = lms.post_message(seed.mentee2_id, seed.mentee1_id, "Hi, it's Alex")
    await bridge.expect(r"Hi, it's Alex")
    lms.block(seed.mentee2_id, seed.mentee1_id)
    mark = len(bridge.out)
    await bridge.type("Why did you block me?")
    await bridge.expect(r"Not delivered to Pluto: .+", after=mark)
    assert lms_texts(lms, sent["conversationid"], seed.mentee1_id) == []


@pytest.mark.postgres
async def test_revoked_token_asks_for_a_new_sign_in_once(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await bridge.link("mentee1")
    lms.revoke_token(lms.issue_token(seed.mentee1_id))
    await bridge.expect(r"sign-in no longer works \(it was revoked or expired\)")
    await asyncio.sleep(1.5)  # several poll cycles: the notice must not repeat
    assert bridge.count("sign-in no longer works (it was revoked or expired)") == 1
    mark = len(bridge.out)
    await bridge.type("Are you there?")
    await bridge.expect(r"Not sent: your Pluto sign-in no longer works", after=mark)
    assert bridge.proc is not None and bridge.proc.returncode is None


@pytest.mark.postgres
async def test_lms_outage_backlog_arrives_in_order(bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed) -> None:
    await bridge.link("mentee1")
    lms.set_down(True)
    for n in range(1, 6):
        lms.post_message(seed.mentor_id, seed.mentee1_id, f"backlog message {n}")
    await asyncio.sleep(1.5)  # polls fail while the LMS is down
    assert "backlog message" not in bridge.text
    lms.set_down(False)
    await bridge.expect(r"backlog message 5")
    positions = [bridge.text.index(f"backlog message {n}") for n in range(1, 6)]
    assert positions == sorted(positions)
    assert all(bridge.count(f"backlog message {n}") == 1 for n in range(1, 6))


async def test_an_unknown_command_is_answered_with_help(bridge: BridgeProcess) -> None:
    mark = len(bridge.out)
    await bridge.type("/frobnicate now")
    await bridge.expect(r"Unknown command frobnicate", after=mark)
    await bridge.expect(r"/to NAME", after=mark)  # the help, written the console way


async def test_unlink_deletes_token(bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    await bridge.link("mentee1")
    token = lms.issue_token(seed.mentee1_id)
    db = sqlite3.connect(tmp_path / "bridge.sqlite3")
    raw = b"".join(str(row).encode() for row in db.execute("SELECT * FROM links"))
    assert token.encode() not in raw and b"mentee1" in raw  # encrypted at rest
    mark = len(bridge.out)
    await bridge.type("/unlink")
    await bridge.expect(r"Unlinked from Pluto", after=mark)
    assert db.execute("SELECT count(*) FROM links").fetchone() == (0,)
    db.close()
    lms.post_message(seed.mentor_id, seed.mentee1_id, "after unlink")
    await asyncio.sleep(1.0)
    assert "after unlink" not in bridge.text


async def test_health_and_metrics_endpoints(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    import aiohttp

    config, port = bridge_config(tmp_path, lms.url)
    process = await BridgeProcess(config).start()
    try:
        await process.expect(r"send /link")
        await process.link("mentee1")
        lms.post_message(seed.mentor_id, seed.mentee1_id, "metrics please")
        await process.expect(r"metrics please")
        sent = 'pluto_bridge_deliveries_total{outcome="sent",platform="console"} 2.0'  # link notice + message
        metrics = ""
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                health = await resp.json()
            for _ in range(50):  # the counter moves once the store has recorded the send
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    metrics = await resp.text()
                if sent in metrics:
                    break
                await asyncio.sleep(0.05)
        assert health["ok"] is True and health["lms"] == "up" and health["adapters"] == {"console": "connected"}
        assert sent in metrics, metrics
        assert "pluto_bridge_poll_cycles_total" in metrics
        lms.set_down(True)
        states = []
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the outage shows once the LMS client's retries are spent
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    states.append((await resp.json())["lms"])
                if states[-1] == "unreachable":
                    break
                await asyncio.sleep(0.1)
        assert states[-1] == "unreachable"
    finally:
        await process.stop()


async def test_message_arriving_as_the_person_writes_still_reaches_the_chat(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    # Writing from chat marks the conversation read in the LMS; a message that arrived just
    # before must not hide behind the unread-count gate until the next full sweep (60 s).
    config, _ = bridge_config(tmp_path, lms.url, lms={"poll_interval": 1.5})
    process = await BridgeProcess(config).start()
    try:
        await process.expect(r"send /link")
        await process.link("mentee1")
        lms.post_message(seed.mentor_id, seed.mentee1_id, "first from Maya")
        await process.expect(r"first from Maya")
        await asyncio.sleep(1.6)  # a poll with nothing new
        lms.post_message(seed.mentor_id, seed.mentee1_id, "second from Maya")
        await process.type("my answer to the first")  # before the next poll reads the second
        await process.expect(r"second from Maya", timeout=8)
    finally:
        await process.stop()


async def test_inactive_link_comes_back_when_the_person_writes_again(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    await bridge.link("mentee1")
    db = sqlite3.connect(tmp_path / "bridge.sqlite3")
    with db:
        db.execute("UPDATE links SET status = 'inactive', status_reason = 'Forbidden: bot was blocked by the user'")
    mark = len(bridge.out)
    await bridge.type("I unblocked you")
    await bridge.expect(r"Welcome back: your Pluto link is active again", after=mark)
    assert db.execute("SELECT status FROM links").fetchone() == ("active",)
    db.close()
