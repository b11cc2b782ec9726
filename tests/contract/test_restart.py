"""A restart of the bridge on every platform: what was written in the LMS while it was down
arrives once it is back, nothing arrives twice, and the person's answers still flow."""

from __future__ import annotations

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.support import lms_texts, until

from .drivers.base import SAM, ChatDriver

pytestmark = pytest.mark.e2e


async def test_a_message_written_while_the_bridge_was_down_arrives_once_after_a_restart(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Before the restart")
    await driver.see(SAM, "Before the restart")

    await driver.restart(lambda: lms.post_message(seed.mentor_id, seed.mentee1_id, "While the bridge was down"))
    await driver.see(SAM, "While the bridge was down")
    await driver.write(SAM, "Got both, thanks")
    conversation = sent["conversationid"]
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["Got both, thanks"], what="the answer")
    seen = driver.texts(SAM)
    assert sum("Before the restart" in t for t in seen) == 1  # not sent again by the new process
    assert sum("While the bridge was down" in t for t in seen) == 1
