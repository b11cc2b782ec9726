"""Fixtures for the Discord tests: the sandbox, a recording sink and a started adapter."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.discord import DiscordAdapter
from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.discord.world import DiscordWorld
from tests.sink import RecordingSink


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxDiscord]:
    sb = SandboxDiscord()
    await sb.start()
    yield sb
    await sb.stop()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def adapter(sandbox: SandboxDiscord, sink: RecordingSink) -> AsyncIterator[DiscordAdapter]:
    ad = DiscordAdapter(token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url)
    await ad.start(sink)
    yield ad
    await ad.stop()


# --- end to end: the real bridge process ------------------------------------------------

SAM = "310000000000000001"  # Sam Mentee's Discord account (mentee1 in the LMS seed)
ALEX = "310000000000000002"  # Alex Mentee's (mentee2)


@pytest.fixture
async def world(
    sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[DiscordWorld]:
    """The real bridge process with only Discord enabled, started; Sam and Alex exist on
    Discord but have not talked to the bot yet. The sandbox enforces Discord's limits."""
    sandbox.add_user(SAM, "Sam")
    sandbox.add_user(ALEX, "Alex")
    w = DiscordWorld(sandbox, lms, tmp_path)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()
