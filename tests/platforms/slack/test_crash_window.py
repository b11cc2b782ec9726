"""A bridge killed after Slack stored a message but before the bridge recorded the send:
after the restart the bridge finds the message in the DM's history and records it, so the
person sees it once (issue 12: "on Slack, none" doubled). Real process, SIGKILL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack
from tests.support import until

from .e2e_support import SAM, T1, SlackChat, shown, slack_config

pytestmark = pytest.mark.e2e


def outbox(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT item_key, status FROM outbox WHERE item_key LIKE 'msg:%' ORDER BY id"))


def mapped(db: Path, ts: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT item_key FROM message_map WHERE remote_id = ?", (ts,))]


@pytest.mark.parametrize("threaded", [False, True], ids=["top-level", "in-thread"])
async def test_killed_between_slacks_answer_and_the_record_sends_no_copy(
    threaded: bool, lms: SandboxLMS, seed: DemoSeed, slack: SandboxSlack, tmp_path: Path
) -> None:
    config, port = slack_config(tmp_path, lms.url, slack, "http")
    db = tmp_path / "bridge.sqlite3"
    chat = await SlackChat.start(slack, config, port, "http")
    try:
        await chat.link(T1, SAM, "mentee1")
        if threaded:  # the conversation's thread exists: the next message goes into it
            lms.post_message(seed.mentor_id, seed.mentee1_id, "the thread starts here")
            await chat.wait_message(T1, SAM, "the thread starts here")
        # Slack posts the message at once but answers late: the bridge dies waiting.
        slack.delay_answers("chat.postMessage", 30)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "posted before the crash")
        posted = await chat.wait_message(T1, SAM, "posted before the crash")
        assert ("thread_ts" in posted) is threaded
        await chat.process.kill()
        slack.delay_answers("chat.postMessage", 0)
    finally:
        await chat.stop()
    assert outbox(db)[-1][1] != "sent"  # the send was never recorded

    chat = await SlackChat.start(slack, config, port, "http")
    try:
        await until(lambda: all(status == "sent" for _, status in outbox(db)), what="the delivery settled")
        copies = [m for m in chat.dm(T1, SAM) if "posted before the crash" in shown(m)]
        assert len(copies) == 1  # found in Slack's history: not sent again
        # The copy is mapped to its item: a reply to it routes to its conversation.
        assert mapped(db, copies[0]["ts"]) == [outbox(db)[-1][0]]
        lms.post_message(seed.mentor_id, seed.mentee1_id, "after the restart")
        await chat.wait_message(T1, SAM, "after the restart")
        assert sum("posted before the crash" in shown(m) for m in chat.dm(T1, SAM)) == 1
    finally:
        await chat.stop()
