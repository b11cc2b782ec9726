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
    people: dict[str, int] = {}
    for n in range(40):
        lms_id = lms.create_user(f"wave{n:02d}", "Passw0rd!", f"Wave{n:02d}", "Person")
        lms.enrol(seed.course_id, lms_id, "student")
        people[sandbox.add_user(f"33000000000000{n:04d}", f"Wave{n:02d}")] = lms_id
    world = DiscordWorld(sandbox, lms, tmp_path)
    await world.import_links(
        [
            {"platform": "discord", "user_id": uid, "token": lms.issue_token(lms_id), "lms_user_id": lms_id}
            for uid, lms_id in people.items()
        ]
    )
    await world.start()
    try:
        await world.wait(
            lambda: all(any("Linked to Pluto as" in t for t in world.texts(uid)) for uid in people),
            "every link confirmation", within=30,
        )
    finally:
        await world.stop()
    assert len(sandbox.requests_to("POST", "/users/@me/channels")) == 40  # each DM opened once
    too_many = [r for r in sandbox.requests if r.status == 429]
    assert too_many == [], f"{len(too_many)} answers were 429: {[(r.method, r.path) for r in too_many[:5]]}"
