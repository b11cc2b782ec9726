"""A burst through the real bridge process at the sandbox Slack's real limits: 300 LMS
messages to 10 linked people at once. Every message arrives, in order per person, and
Slack never has to answer 429: the dispatcher paces each DM from the adapter's declared
``Capabilities``. Prints the time taken beside the least the limits allow."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack
from tests.conftest import BurstReport
from tests.support import link_import, until

from .e2e_support import T1, SlackChat, slack_config

pytestmark = pytest.mark.e2e

PEOPLE = 10
PER_PERSON = 30
BURST = re.compile(r"burst (\d+) for (burst\d+)")


def least_seconds(slack: SandboxSlack, per_channel: int) -> float:
    """The least time the sandbox's limits allow for ``per_channel`` posts into each DM
    (channels are independent): the bucket's burst goes at once, the rest at its rate."""
    return max(0, per_channel - slack.post_burst) / slack.post_rate


@pytest.mark.long(35)
async def test_burst_of_300_messages_to_10_people_without_a_429(
    lms: SandboxLMS,
    seed: DemoSeed,
    slack: SandboxSlack,
    tmp_path: Path,
    burst_report: BurstReport,
) -> None:
    assert slack.enforce_limits  # the real per-channel limit, not a relaxed one
    people: dict[str, tuple[int, str]] = {}  # LMS username -> (LMS id, Slack user)
    for i in range(PEOPLE):
        username = f"burst{i:02d}"
        uid = lms.create_user(username, firstname="Burst", lastname=f"Person {i}")
        lms.enrol(seed.course_id, uid)  # shares the course with the mentor, who may message them
        slack.add_user(T1, f"U0B{i:02d}", username)
        people[username] = (uid, f"U0B{i:02d}")
    config, port = slack_config(tmp_path, lms.url, slack, "http")
    rows = [
        {"platform": "slack", "workspace": T1, "user_id": user, "token": lms.issue_token(uid), "lms_user_id": uid}
        for uid, user in people.values()
    ]
    assert f"{PEOPLE} linked, 0 failed" in await link_import(config, rows, tmp_path)

    chat = await SlackChat.start(slack, config, port, "http")
    try:
        for _, user in people.values():
            await chat.wait_message(T1, user, "Linked to Pluto as", within=60)
        # Start from idle DMs (each "Linked" notice took a turn), so the floor below holds.
        notices = [r.at for r in slack.requests if r.api_method == "chat.postMessage"]
        idle_at = max(notices) + slack.post_burst / slack.post_rate
        await until(lambda: time.monotonic() >= idle_at, within=10, what="idle DMs")
        for n in range(1, PER_PERSON + 1):
            for username, (uid, _) in people.items():
                lms.post_message(seed.mentor_id, uid, f"burst {n} for {username}")

        def delivered(user: str) -> list[tuple[int, str]]:
            found = (BURST.search(text) for text in chat.seen(T1, user))
            return [(int(m.group(1)), m.group(2)) for m in found if m]

        await until(
            lambda: all(len(delivered(user)) >= PER_PERSON for _, user in people.values()),
            within=150,
            what="every burst message",
        )
    finally:
        await chat.stop()

    for username, (_, user) in people.items():
        assert delivered(user) == [(n, username) for n in range(1, PER_PERSON + 1)], username
    assert slack.rate_limited() == []
    posts = [r for r in slack.requests if r.api_method == "chat.postMessage" and r.status == 200]
    sends = {
        user: [r.at for r in posts if r.params.get("channel") == slack.dm(T1, user).id and "burst " in str(r.params)]
        for _, user in people.values()
    }
    burst_report("slack", sends, least_seconds(slack, PER_PERSON), 0.0)
