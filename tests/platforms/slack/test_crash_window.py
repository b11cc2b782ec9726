"""The crash windows on Slack (issue 12), real process, SIGKILL. A bridge killed after Slack
stored a message but before the bridge recorded the send: after the restart the bridge finds
the message in the DM's history and records it, so the person sees it once ("on Slack,
none" doubled). A bridge killed after it answered Slack's event but before Pluto stored the
message: the journalled event is resumed, and the message reaches Pluto exactly once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack
from tests.e2e.test_crash_recovery import resumed_once_when_pluto_is_back, unfinished_events
from tests.support import until

from .e2e_support import SAM, T1, SlackChat, shown, slack_config

pytestmark = pytest.mark.e2e
JUST_BEFORE = "written just before the crash"


def outbox(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT item_key, status FROM outbox WHERE item_key LIKE 'msg:%' ORDER BY id"))


def mapped(db: Path, ts: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT item_key FROM message_map WHERE remote_id = ?", (ts,))]


async def sam_linked(slack: SandboxSlack, lms: SandboxLMS, tmp_path: Path) -> tuple[SlackChat, Path, int]:
    """The bridge (Events API over HTTP) started with Sam linked as mentee1; the running
    chat, and the config and web port to start it again with."""
    config, port = slack_config(tmp_path, lms.url, slack, "http")
    chat = await SlackChat.start(slack, config, port, "http")
    try:
        await chat.link(T1, SAM, "mentee1")
    except BaseException:
        await chat.stop()
        raise
    return chat, config, port


@pytest.mark.parametrize("threaded", [False, True], ids=["top-level", "in-thread"])
async def test_killed_between_slacks_answer_and_the_record_sends_no_copy(
    threaded: bool, lms: SandboxLMS, seed: DemoSeed, slack: SandboxSlack, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.sqlite3"
    chat, config, port = await sam_linked(slack, lms, tmp_path)
    try:
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


async def test_killed_between_answering_slack_and_sending_to_pluto_delivers_once(
    lms: SandboxLMS, seed: DemoSeed, slack: SandboxSlack, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.sqlite3"
    chat, config, port = await sam_linked(slack, lms, tmp_path)
    try:
        lms.post_message(seed.mentor_id, seed.mentee1_id, "please answer")
        await chat.wait_message(T1, SAM, "please answer")
        conversation = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
        assert conversation is not None
        lms.set_latency(2.0)  # Pluto is slow: the send to it is on its way when the bridge dies
        # Slack has its 200 (it will not push the event again) before the bridge dies.
        await chat.say(T1, SAM, JUST_BEFORE)
        assert unfinished_events(db) == 1
        await chat.process.kill()
        lms.set_down(True)  # the request in flight is turned away: Pluto never stored it
    finally:
        await chat.stop()

    chat = await SlackChat.start(slack, config, port, "http")
    try:
        await resumed_once_when_pluto_is_back(chat.process, lms, seed, conversation, db, JUST_BEFORE)
    finally:
        await chat.stop()
