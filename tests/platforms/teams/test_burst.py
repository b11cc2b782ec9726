"""Burst on Teams: 300 LMS messages to 10 linked people at once, through the real bridge
process, with the sandbox Bot Connector enforcing Teams' real throttles. Every message
arrives, in order per person, and Teams never has to answer 429."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.teams import SandboxTeams, TeamsUser
from tests.conftest import BurstReport
from tests.platforms.teams.conftest import TeamsChat, start_bridge, teams_bridge_config
from tests.support import link_import

PEOPLE = 10
PER_PERSON = 30


def least_seconds(limits: tuple[tuple[int, float], ...], sends: int) -> float:
    """The shortest time in which ``sends`` calls fit sliding windows of ``limits``: the
    last call can go no earlier than ``(sends - 1) // count`` full windows after the first."""
    return max(((sends - 1) // count) * window for count, window in limits)


def test_least_seconds() -> None:
    assert least_seconds(((7, 1.0),), 7) == 0
    assert least_seconds(((7, 1.0),), 8) == 1.0
    assert least_seconds(((7, 1.0), (8, 2.0)), 30) == 6.0


@pytest.mark.e2e
async def test_burst_of_300_messages_to_10_people_within_teams_limits(
    lms: SandboxLMS,
    seed: DemoSeed,
    live_sandbox: SandboxTeams,
    tmp_path: Path,
    burst_report: BurstReport,
) -> None:
    sandbox = live_sandbox
    lms_ids = []
    for n in range(PEOPLE):
        uid = lms.create_user(f"burst{n}", firstname="Burst", lastname=f"Person {n}")
        lms.enrol(seed.course_id, uid)
        lms_ids.append(uid)
    config, port = teams_bridge_config(tmp_path, lms.url, sandbox)
    process = await start_bridge(config, port, sandbox)
    try:
        chat = TeamsChat(sandbox, process, port)
        people: list[TeamsUser] = [sandbox.add_user(f"Burst Person {n}") for n in range(PEOPLE)]
        # Each person installs the app (the bridge stores their conversation reference);
        # the operator then imports administrator-issued tokens for them.
        for person in people:
            await chat.install(person)
        rows = [
            {"platform": "teams", "workspace": sandbox.tenant_id, "user_id": p.aad_object_id,
             "token": lms.issue_token(uid), "lms_user_id": uid}
            for p, uid in zip(people, lms_ids, strict=True)
        ]
        report = await link_import(config, rows, tmp_path, jsonl=True)
        assert f"{PEOPLE} linked, 0 failed" in report
        for person in people:
            await chat.wait_for_text(person, "Linked to Pluto as", limit=20)

        # Start from idle conversations (each "Linked" notice took a turn), so the floor holds.
        idle_at = max(r.at for r in sandbox.requests) + 2.0  # one notice: only 8 in 2 s could bind
        while time.monotonic() < idle_at:  # noqa: ASYNC110 (a time, no event to wait for)
            await asyncio.sleep(0.05)
        for i in range(PER_PERSON):
            for uid in lms_ids:
                lms.post_message(seed.mentor_id, uid, f"burst {uid} #{i:02d}")

        def burst_of(person: TeamsUser) -> list[int]:
            return [int(m.group(1)) for t in chat.texts(person) if (m := re.search(r"#(\d\d)", t))]

        await sandbox.wait_until(lambda: all(len(burst_of(p)) >= PER_PERSON for p in people), limit=45)

        for person, uid in zip(people, lms_ids, strict=True):
            assert burst_of(person) == list(range(PER_PERSON)), person.name
            assert all(f"burst {uid} #" in t for t in chat.texts(person) if "burst " in t)
        assert [r for r in sandbox.requests if r.status == 429] == []
        assert sandbox.throttled == 0
        assert sandbox.validation_errors == []
    finally:
        await process.stop()

    posts = [r for r in sandbox.requests if r.method == "POST" and r.conversation and "burst " in str(r.body)]
    sends = {c: [r.at for r in posts if r.conversation == c] for c in {r.conversation for r in posts}}
    assert len(sends) == PEOPLE
    chat_floor = least_seconds(sandbox.limits, PER_PERSON)
    burst_report("teams", sends, chat_floor, least_seconds(sandbox.app_limits, PEOPLE * PER_PERSON))
