"""A restart of the bridge on every platform: what was written in the LMS while it was down
arrives once it is back, nothing arrives twice, and the person's answers still flow."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.support import lms_texts, until

from .drivers.base import SAM, ChatDriver

pytestmark = pytest.mark.e2e


def delivered(db: Path) -> bool:
    """Whether the bridge's store records every LMS message it queued as sent."""
    with sqlite3.connect(db) as conn:
        statuses = [s for (s,) in conn.execute("SELECT status FROM outbox WHERE item_key LIKE 'msg:%'")]
    return bool(statuses) and all(s == "sent" for s in statuses)


async def test_a_message_written_while_the_bridge_was_down_arrives_once_after_a_restart(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Before the restart")
    await driver.see(SAM, "Before the restart")
    # A clean stop once the delivery is recorded. (Stopped between the platform's answer and
    # the record, Telegram in webhook mode once got the message twice: a crash window, not
    # this scenario.)
    await until(lambda: delivered(driver.tmp / "bridge.sqlite3"), what="the delivery recorded as sent")

    await driver.restart(lambda: lms.post_message(seed.mentor_id, seed.mentee1_id, "While the bridge was down"))
    await driver.see(SAM, "While the bridge was down")
    await driver.write(SAM, "Got both, thanks")
    conversation = sent["conversationid"]
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["Got both, thanks"], what="the answer")
    seen = driver.texts(SAM)
    assert sum("Before the restart" in t for t in seen) == 1  # not sent again by the new process
    assert sum("While the bridge was down" in t for t in seen) == 1
