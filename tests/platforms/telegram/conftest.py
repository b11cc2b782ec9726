"""Fixtures for the Telegram tests: the sandbox Bot API, a recording sink and adapters
(polling, and webhook served from an aiohttp server on 127.0.0.1) wired to both."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from adapters.telegram import TelegramAdapter
from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram, SandboxUser
from tests.platforms.telegram.world import TelegramWorld
from tests.sink import RecordingSink

WEBHOOK_SECRET = "s3cret-Token_for_tests"


@dataclass
class FrozenClock:
    """A clock for the sandbox's flood limits that moves only when a test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FrozenClock:
    """The frozen clock the ``sandbox`` fixture uses for its flood limits."""
    return FrozenClock()


@pytest.fixture
async def sandbox(clock: FrozenClock) -> AsyncIterator[SandboxTelegram]:
    """A sandbox Bot API with flood limits off (tests that need them switch them on) and a
    frozen clock, so limits are deterministic."""
    sb = SandboxTelegram(enforce_limits=False, redelivery_delay=0.05, clock=clock)
    await sb.start()
    yield sb
    await sb.stop()


@pytest.fixture
def ada(sandbox: SandboxTelegram) -> SandboxUser:
    """A user who has pressed Start."""
    return sandbox.add_user(4242, "Ada", last_name="Lovelace", username="ada", started=True)


@pytest.fixture
def sink() -> RecordingSink:
    """A recording sink that answers nothing (tests set ``reply_for``)."""
    return RecordingSink()


@pytest.fixture
async def polling_adapter(sandbox: SandboxTelegram, sink: RecordingSink) -> AsyncIterator[TelegramAdapter]:
    """A started adapter in polling mode against the sandbox."""
    adapter = TelegramAdapter(
        token=sandbox.token, base_url=sandbox.api_url, base_file_url=sandbox.file_url, poll_timeout=1
    )
    await adapter.start(sink)
    yield adapter
    await adapter.stop()


def free_socket() -> socket.socket:
    """A listening-ready socket on 127.0.0.1 with an OS-chosen port (the URL is known up front)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def webhook_server() -> AsyncIterator[tuple[socket.socket, str]]:
    """A pre-bound socket and the webhook URL that will be served on it."""
    sock = free_socket()
    port = sock.getsockname()[1]
    yield sock, f"http://127.0.0.1:{port}/telegram/webhook"
    sock.close()


@pytest.fixture
async def webhook_adapter(
    sandbox: SandboxTelegram, sink: RecordingSink, webhook_server: tuple[socket.socket, str]
) -> AsyncIterator[TelegramAdapter]:
    """A started adapter in webhook mode; its route is served by an aiohttp app on 127.0.0.1."""
    sock, url = webhook_server
    adapter = TelegramAdapter(
        token=sandbox.token,
        mode="webhook",
        base_url=sandbox.api_url,
        base_file_url=sandbox.file_url,
        webhook_url=url,
        webhook_secret=WEBHOOK_SECRET,
    )
    app = web.Application()
    app.add_routes(adapter.web_routes())
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    await adapter.start(sink)
    yield adapter
    await adapter.stop()
    await runner.cleanup()


# --- end to end: the real bridge process ------------------------------------------------

SAM = 111  # Sam Mentee's Telegram account (mentee1 in the LMS seed)
ALEX = 222  # Alex Mentee's (mentee2)


@pytest.fixture
async def live_sandbox() -> AsyncIterator[SandboxTelegram]:
    """A sandbox Bot API at Telegram's real flood limits on the real clock, with Sam and Alex
    as Telegram users who have not talked to the bot yet."""
    sb = SandboxTelegram(enforce_limits=True, redelivery_delay=0.1)
    await sb.start()
    sb.add_user(SAM, "Sam", last_name="Mentee", username="sam_mentee")
    sb.add_user(ALEX, "Alex", last_name="Mentee", username="alex_mentee")
    yield sb
    await sb.stop()


GROUP = -1001  # a Telegram group Sam and Alex are in, with the bot


@pytest.fixture
async def polling_world(
    live_sandbox: SandboxTelegram, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[TelegramWorld]:
    """The real bridge process, Telegram only, polling, started; with the group ``GROUP``."""
    live_sandbox.add_group(GROUP, "Study group")
    w = TelegramWorld(live_sandbox, lms, tmp_path, "polling")
    await w.start()
    yield w
    await w.stop()


@pytest.fixture(params=["polling", "webhook"])
async def world(
    request: pytest.FixtureRequest, live_sandbox: SandboxTelegram, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[TelegramWorld]:
    """The real bridge process, Telegram only, in polling or webhook mode, started."""
    w = TelegramWorld(live_sandbox, lms, tmp_path, request.param)
    await w.start()
    yield w
    await w.stop()
