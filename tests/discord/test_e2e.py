"""End to end on Discord: the real ``pluto-bridge run`` process (only Discord enabled), the
real discord.py inside it pointed at the Discord sandbox (real limits), the sandbox LMS.

Assertions are on what the person sees in their DM (the sandbox's stored messages and
recorded request bodies) and on what the LMS stores."""

from __future__ import annotations

import re

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.discord.conftest import ALEX, SAM
from tests.discord.world import EPHEMERAL, DiscordWorld

pytestmark = pytest.mark.e2e


def lms_texts(lms: SandboxLMS, conversation_id: int | None, author: int) -> list[str]:
    if conversation_id is None:
        return []
    return [m["text"] for m in lms.messages_in(conversation_id) if m["useridfrom"] == author]


async def test_link_through_slash_command_and_sign_in(world: DiscordWorld, sandbox: SandboxDiscord) -> None:
    interaction = await world.link(SAM, "mentee1")
    # The URL came as an ephemeral follow-up to the deferred, ephemeral /pluto link...
    callback = sandbox.interactions[interaction["id"]].callbacks[0]
    assert callback["type"] == 5 and int(callback["data"]["flags"]) & EPHEMERAL
    # ...and the confirmation as a DM, bold name and all, with mentions switched off.
    confirmation = world.dm_containing(SAM, "Linked to Pluto as")
    assert "Linked to Pluto as **Sam Mentee** \\(mentee1\\)" in confirmation["content"]
    assert confirmation["allowed_mentions"] == {"parse": []}
    # /pluto status now answers (ephemerally) with the link.
    status = await sandbox.user_slash(SAM, "status")
    await world.wait(lambda: bool(world.followups(status)), "the /pluto status answer")
    answer = world.followups(status)[0]
    assert "Linked to Pluto as **Sam Mentee**" in answer["content"] and int(answer["flags"]) & EPHEMERAL


async def test_both_directions(world: DiscordWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    await world.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello Sam, how is module 1 going?")
    await world.wait(lambda: any("how is module 1 going" in t for t in world.texts(SAM)), "the mentor's message")
    shown = world.dm_containing(SAM, "how is module 1 going")["content"]
    assert shown.startswith("**Maya Mentor**")  # who wrote it, on top

    await world.dc.user_dm(SAM, "Going well, thanks Maya!")
    await world.wait(
        lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id) == ["Going well, thanks Maya!"],
        "the reply in the LMS conversation, as Sam",
    )
