"""Issue 17 end to end, both people in Telegram: Sam finds Maya Adams, whom he has never
written to, presses Message and writes; Pluto creates the conversation and Maya reads Sam's
message in her own chat."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.contract.drivers.base import SAM
from tests.contract.drivers.telegram import TelegramDriver
from tests.contract.test_people import course_mate
from tests.contract.test_people_buttons import answer

pytestmark = pytest.mark.e2e

MAYA = 222  # Maya Adams's Telegram account


async def test_the_first_message_reaches_the_other_persons_chat(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    chat = TelegramDriver(lms, tmp_path, mode="polling")
    await chat.start()
    try:
        assert chat.world is not None
        adams = course_mate(lms, seed, "mayaadams", "Maya", "Adams")
        chat.tg.add_user(MAYA, "Maya", last_name="Adams", username="maya_adams")
        await chat.link(SAM, "mentee1")
        await chat.world.link_by_command(MAYA, "mayaadams")
        card = await answer(chat, "find Adams", "Maya Adams")
        await chat.press(SAM, card, "Message")
        await chat.write(SAM, "Hello Maya, Sam here: may I ask you about module 2?")
        shown = await chat.wait_for(
            lambda: next(
                (m["text"] for m in chat.tg.sent_to(MAYA) if "may I ask you about module 2" in m["text"]), None
            ),
            "Sam's first message in Maya's Telegram chat",
        )
        assert shown.index("Sam Mentee") < shown.index("Hello Maya")  # who wrote it, on top
        assert lms.conversation_between(seed.mentee1_id, adams) is not None
    finally:
        await chat.stop()
