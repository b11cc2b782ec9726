"""Discord secrets never reach the log at DEBUG (issue 13, item 4): the bot token and every
interaction token (each lets anyone answer as the bot for 15 minutes) are absent from the
whole log of a linking and messaging scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import leaked
from tests.platforms.discord.conftest import SAM
from tests.platforms.discord.world import DiscordWorld

pytestmark = pytest.mark.e2e

FROM_PLUTO = "Confidential feedback on essay 5512"


@pytest.fixture
async def debug_world(
    sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DiscordWorld]:
    monkeypatch.setenv("PLUTO_BRIDGE_LOG_LEVEL", "DEBUG")
    sandbox.add_user(SAM, "Sam")
    w = DiscordWorld(sandbox, lms, tmp_path)
    await w.start()
    yield w
    await w.stop()


async def test_a_debug_log_holds_no_discord_secret(debug_world: DiscordWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    w = debug_world
    await w.link(SAM, "mentee1")
    await w.dc.user_slash(SAM, "status")
    lms.post_message(seed.mentor_id, seed.mentee1_id, FROM_PLUTO)
    await w.wait(lambda: any(FROM_PLUTO in t for t in w.texts(SAM)), "the message in Sam's DM")
    await w.stop()
    assert w.bridge is not None
    tokens = {f"interaction {i.payload['id']}": str(i.payload["token"]) for i in w.dc.interactions.values()}
    assert len(tokens) >= 2
    assert leaked(w.bridge.err, {"the bot token": w.dc.token, "a message": FROM_PLUTO, **tokens}) == []
