"""Starting while the Bot API cannot be reached: one clear log line, no crash, and the
adapter connects by itself once Telegram answers (adapter level, against the sandbox)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram import TelegramAdapter
from bridge.model import ChatIdentity, Destination, MessageEvent, Platform, Post
from bridge.ports import TransientError
from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.conftest import free_port
from tests.e2e.harness import BridgeProcess
from tests.telegram.world import TelegramWorld, until

from .conftest import SAM, RecordingSink


@pytest.fixture
async def offline() -> AsyncIterator[tuple[SandboxTelegram, int]]:
    """A sandbox Bot API that is not serving yet, and the port it will serve on."""
    sb = SandboxTelegram(enforce_limits=False)
    yield sb, free_port()
    await sb.stop()


def adapter_for(port: int, token: str, **extra: object) -> TelegramAdapter:
    base = f"http://127.0.0.1:{port}"
    return TelegramAdapter(
        token=token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot", poll_timeout=1, **extra  # type: ignore[arg-type]
    )


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("adapters")]


async def test_unreachable_at_start_logs_once_and_connects_later(
    offline: tuple[SandboxTelegram, int], sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, port = offline
    caplog.set_level(logging.DEBUG)
    adapter = adapter_for(port, sandbox.token, start_retry=0.05)
    try:
        await adapter.start(sink)  # returns instead of raising: the process keeps running
        [line] = errors(caplog)
        assert "cannot be reached at start" in line and sandbox.token not in line
        me = Destination(identity=ChatIdentity(Platform.TELEGRAM, "", "4242"), room="4242")
        with pytest.raises(TransientError):
            await adapter.send(me, Post(text="too early"))
        assert adapter.bot_link("code") is None
        await asyncio.sleep(0.3)  # several failed attempts in the background

        await sandbox.start(port)
        ada = sandbox.add_user(4242, "Ada", started=True)
        sandbox.user_sends_text(ada, "hello after the outage")
        [event] = await sink.wait_for(1, within=10)
        assert isinstance(event, MessageEvent) and event.text == "hello after the outage"
        await adapter.send(me, Post(text="<b>back</b> online"))
        assert [m["text"] for m in sandbox.sent_to(4242)] == ["back online"]
        assert adapter.bot_link("code") == f"https://t.me/{sandbox.bot_username}?start=code"
        assert len(errors(caplog)) == 1  # the retries themselves log at debug level only
        assert sandbox.commands  # the command menu was published on the late start too
    finally:
        await adapter.stop()
        await adapter.stop()


async def test_stop_while_still_connecting_ends_the_retries(
    offline: tuple[SandboxTelegram, int], sink: RecordingSink
) -> None:
    sandbox, port = offline
    adapter = adapter_for(port, sandbox.token, start_retry=0.05)
    await adapter.start(sink)
    assert any(t.get_name() == "telegram-start-retry" for t in asyncio.all_tasks())
    await adapter.stop()
    assert not any(t.get_name() == "telegram-start-retry" for t in asyncio.all_tasks())
    await sandbox.start(port)
    await asyncio.sleep(0.2)  # a retry that survived stop() would call getMe by now
    assert sandbox.requests == []


async def test_a_token_rejected_after_the_outage_ends_the_retries(
    offline: tuple[SandboxTelegram, int], sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, port = offline
    adapter = adapter_for(port, "999:not-the-sandbox-token", start_retry=0.05)
    try:
        await adapter.start(sink)
        await sandbox.start(port)
        await sandbox.wait_until(lambda: bool(sandbox.calls("getMe")), within=5)
        await asyncio.sleep(0.3)  # time for more attempts, had the adapter kept trying
        assert len(sandbox.calls("getMe")) == 1
        assert any("giving up connecting" in line and "rejected the bot token" in line for line in errors(caplog))
        assert all("not-the-sandbox-token" not in line for line in errors(caplog))
    finally:
        await adapter.stop()


@pytest.mark.e2e
async def test_bridge_process_survives_telegram_down_at_start(
    offline: tuple[SandboxTelegram, int], lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    sandbox, port = offline
    sandbox.base_url = f"http://127.0.0.1:{port}"  # where it will serve once it is up
    world = TelegramWorld(sandbox, lms, tmp_path, "polling")
    world.bridge = bridge = await BridgeProcess(world.config).start()
    try:
        await until(lambda: any("cannot be reached at start" in line for line in bridge.err), "the one clear line")
        assert bridge.proc is not None and bridge.proc.returncode is None  # still running
        assert all(sandbox.token not in line for line in bridge.err)

        await sandbox.start(port)
        sandbox.add_user(SAM, "Sam", last_name="Mentee")
        await world.link_by_command(SAM, "mentee1")  # the bridge connected by itself
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Telegram is back")
        await world.see(SAM, "Telegram is back")
        assert sum("cannot be reached at start" in line for line in bridge.err) == 1
    finally:
        await world.stop()
