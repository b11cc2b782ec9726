"""A burst through the real bridge process: 300 LMS messages to 10 linked Discord users at
once, with the Discord sandbox at Discord's real limits (5 messages per 5 s per channel, 50
requests per second per bot). Everything must arrive, in order per person, without a single
429; the elapsed time is printed next to the least the limits allow (and, under
pytest-xdist, shown in the terminal summary: see conftest)."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.conftest import BurstReport
from tests.platforms.discord.world import DiscordWorld

pytestmark = pytest.mark.e2e

PEOPLE = 10
PER_PERSON = 30


@pytest.fixture
async def burst_world(
    sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[tuple[DiscordWorld, dict[str, int]]]:
    """Ten LMS users in the seed course, each linked (``pluto-bridge link import``) to a
    Discord user, and the bridge running with every link confirmed in chat."""
    world = DiscordWorld(sandbox, lms, tmp_path)
    try:
        people = await world.start_with_crowd(seed.course_id, PEOPLE, "burst", ("Person", "Burst"), 320000000000000000)
        yield world, people
    finally:
        await world.stop()


def least_times(sandbox: SandboxDiscord, per_channel: int, total: int) -> tuple[float, float]:
    """The fewest seconds Discord's limits allow, per channel and for the bot: a channel takes
    ``count`` messages per ``window`` (the first ``count`` at once), the bot ``global_limit``
    requests per second."""
    count, window = sandbox.channel_limit
    per_channel_floor = (math.ceil(per_channel / count) - 1) * window
    global_floor = (math.ceil(total / sandbox.global_limit) - 1) * 1.0
    return per_channel_floor, global_floor


@pytest.mark.long(35)
async def test_300_messages_to_10_people_without_a_429(
    burst_world: tuple[DiscordWorld, dict[str, int]],
    sandbox: SandboxDiscord,
    lms: SandboxLMS,
    seed: DemoSeed,
    burst_report: BurstReport,
) -> None:
    world, people = burst_world
    # Start from idle buckets (the link confirmations used a slot each), so the floor below holds.
    full = sandbox.channel_limit[0]
    await world.wait(
        lambda: all(sandbox.channel_remaining(sandbox.dm_channels[uid]) == full for uid in people),
        "idle channel buckets",
        within=10,
    )
    for i in range(PER_PERSON):
        for lms_id in people.values():
            lms.post_message(seed.mentor_id, lms_id, f"burst message {i:02d}")

    def arrived(uid: str) -> list[int]:
        return [int(m.group(1)) for t in world.texts(uid) if (m := re.search(r"burst message (\d\d)", t))]

    await world.wait(lambda: all(len(arrived(uid)) >= PER_PERSON for uid in people), "all 300 messages", within=60)

    for uid in people:
        assert arrived(uid) == list(range(PER_PERSON)), uid  # all, once each, in order
    too_many = [r for r in sandbox.requests if r.status == 429]
    assert too_many == [], f"{len(too_many)} answers were 429: {[(r.method, r.path) for r in too_many[:5]]}"
    posts = [r for r in sandbox.requests if r.method == "POST" and r.path.endswith("/messages") and r.status == 200]
    paths = {uid: f"/channels/{sandbox.dm_channels[uid]}/messages" for uid in people}
    sends = {uid: [r.at for r in posts if r.path == paths[uid] and "burst " in str(r.body)] for uid in people}
    burst_report("discord", sends, *least_times(sandbox, PER_PERSON, PEOPLE * PER_PERSON))
