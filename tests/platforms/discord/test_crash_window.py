"""A bridge killed while two sends to Discord are in flight: one had reached the person's DM,
one had not. After the restart the bridge reads each DM's recent messages: the one that
arrived is recorded, not sent again; the other is sent once, counted as a resend (issue 12).
Real process, SIGKILL, discord.py against the Discord sandbox."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.discord.conftest import ALEX, SAM
from tests.platforms.discord.test_e2e_resilience import message_statuses
from tests.platforms.discord.world import DiscordWorld

pytestmark = pytest.mark.e2e


async def test_killed_mid_send_resends_only_what_did_not_reach_discord(
    world: DiscordWorld, sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link(SAM, "mentee1")
    await world.link(ALEX, "mentee2")
    # Discord stores Sam's message at once but answers late; Alex's request hangs and is
    # never stored (it did not reach Discord). The bridge dies waiting on both.
    sandbox.answer_delay = 60
    sandbox.inject(500, method="POST", channel_id=sandbox.dm_channels[ALEX], count=1, delay=60)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "reached Discord before the crash")
    lms.post_message(seed.mentor_id, seed.mentee2_id, "lost on the way to Discord")
    await world.wait(lambda: any("reached Discord" in t for t in world.texts(SAM)), "Sam's message in the DM")
    await world.wait(lambda: any("lost on the way" in str(r.body) for r in world.posts_to(ALEX)), "Alex's send")
    assert message_statuses(world) == ["sending", "sending"]
    assert world.bridge is not None
    await world.bridge.kill()
    sandbox.answer_delay = 0

    await world.start()
    await world.wait(lambda: message_statuses(world) == ["sent", "sent"], "both deliveries settled", within=30)
    assert sum("reached Discord before the crash" in t for t in world.texts(SAM)) == 1  # found: not resent
    assert sum("lost on the way to Discord" in t for t in world.texts(ALEX)) == 1  # not found: sent once
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{world.port}/metrics") as resp:
            metrics = await resp.text()
    assert 'pluto_bridge_resends_after_crash_total{platform="discord"} 1.0' in metrics
