"""End to end on Teams (issue 13, items 1 and 2): a command typed in a team channel is
answered in the person's personal chat, and an activity claiming another conversation
for a linked person does not redirect where their Pluto messages go."""

from __future__ import annotations

import re

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.teams.conftest import TeamsChat

pytestmark = pytest.mark.e2e

SIGN_IN_URL = re.compile(r"http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+")


async def test_link_in_a_channel_is_answered_in_the_personal_chat(chat: TeamsChat) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    activity = chat.sandbox.channel_message(sam, "link")
    assert (await chat.sandbox.push(activity))[0] in (200, 202)
    await chat.wait_for_text(sam, "/link/")
    # A channel is a room (issue 16): nothing of a command shows there, not even a pointer.
    assert chat.sandbox.messages_in(activity["conversation"]["id"]) == []


async def test_another_conversation_does_not_take_over_a_link(chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    forged = chat.sandbox.message(sam, "hello from elsewhere")
    forged["conversation"]["id"] = "a:somebody-elses-chat"
    assert (await chat.sandbox.push(forged))[0] in (200, 202)
    await chat.until(lambda: any("not their linked chat" in line for line in chat.bridge.err))
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Only for Sam")
    await chat.wait_for_text(sam, "Only for Sam")
