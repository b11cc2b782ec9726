"""First contact with many people at once through the real bridge process: 40 links
imported with no DM yet, so every first send opens a DM (two requests), all in the same
moment. Discord's global 50 requests per second per bot must still hold: no 429."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.discord.world import DiscordWorld

pytestmark = pytest.mark.e2e


async def test_first_contact_with_many_people_at_once_without_a_429(
    sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    world = DiscordWorld(sandbox, lms, tmp_path)
    try:
        await world.start_with_crowd(seed.course_id, 40, "wave", ("Wave", "Person"), 330000000000000000)
    finally:
        await world.stop()
    assert len(sandbox.requests_to("POST", "/users/@me/channels")) == 40  # each DM opened once
    too_many = [r for r in sandbox.requests if r.status == 429]
    assert too_many == [], f"{len(too_many)} answers were 429: {[(r.method, r.path) for r in too_many[:5]]}"
