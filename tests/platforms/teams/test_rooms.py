"""Teams rooms beyond the contract scenarios (issue 16): without resource-specific consent
only @mentions reach the bot, only a team's owners (as Microsoft Graph lists them) link its
channel, and a team channel's thread replies keep their context, against the real bridge
process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.contract.drivers.base import ALEX, SAM, Arrived
from tests.contract.drivers.teams import ROOMS, TeamsDriver
from tests.contract.rooms_people import with_people
from tests.contract.test_rooms import ROOM, _link_room
from tests.support import lms_texts, until

pytestmark = pytest.mark.e2e

CHANNEL = "19:cohort-channel@thread.tacv2"
TEAM = "19:team@thread.tacv2"


@pytest.fixture
async def chat(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[TeamsDriver]:
    """The bridge with Teams; Sam, Alex and Rory linked (as in the contract scenarios)."""
    async with with_people(TeamsDriver(lms, tmp_path), lms, seed) as driver:
        yield driver


async def test_without_consent_only_mentions_reach_pluto_and_status_says_so(
    chat: TeamsDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    chat.sandbox.conversations[ROOMS[ROOM]].consent = False
    await _link_room(chat)
    conv = seed.group_conversation_id
    await chat.room_write(ROOM, SAM, "Not for the bot")  # Teams keeps it from the bot
    await chat.room_command(ROOM, SAM, "room status")
    status = await chat.see_privately(SAM, "link active")
    assert "only messages that @mention it" in status.text, status.text
    sam = chat.users[SAM]
    mention = chat.sandbox.room_message(sam, ROOMS[ROOM], "Hello via mention", mention_bot=True)
    assert mention is not None
    status_code, body = await chat.sandbox.push(mention)
    assert status_code in (200, 202), body
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id), what="Sam's mention in Pluto")
    assert lms_texts(lms, conv, seed.mentee1_id) == ["Hello via mention"]


async def test_a_reply_in_a_channel_thread_keeps_its_context(
    chat: TeamsDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    """A team channel linked by its owner; a reply arrives as ``<channel>;messageid=<root>``."""
    chat.sandbox.add_team_channel(CHANNEL, TEAM, "Cohort", team_name="Mentoring", owners=[chat.users[SAM]])
    ROOMS["channel"] = CHANNEL
    try:
        await chat.join("channel", SAM)
        await chat.room_command("channel", SAM, "room")
        choice = await chat.see_privately(SAM, "Which Pluto group conversation")
        await chat.press_privately(SAM, choice, "Cohort A")
        await chat.see_privately(SAM, "now linked to")
        conv = seed.group_conversation_id
        lms.post_to_conversation(seed.mentor_id, conv, "Questions on week 2?")
        post = await chat.see_in_room("channel", "week 2")
        assert post.text.split("\n")[0] == "Maya Mentor"  # the author's header line
        await chat.room_reply("channel", SAM, post, "One, yes")
        await until(lambda: lms_texts(lms, conv, seed.mentee1_id), what="Sam's reply in Pluto")
        assert lms_texts(lms, conv, seed.mentee1_id) == ["> Maya Mentor: Questions on week 2?\nOne, yes"]
    finally:
        del ROOMS["channel"]


async def _pick_cohort(chat: TeamsDriver, person: str) -> None:
    await chat.join("channel", person)
    await chat.room_command("channel", person, "room")
    choice = await chat.see_privately(person, "Which Pluto group conversation")
    await chat.press_privately(person, choice, "Cohort A")


async def test_only_a_team_owner_links_a_team_channel(chat: TeamsDriver) -> None:
    chat.sandbox.add_team_channel(CHANNEL, TEAM, "Cohort", team_name="Mentoring", owners=[chat.users[SAM]])
    ROOMS["channel"] = CHANNEL
    try:
        await _pick_cohort(chat, ALEX)  # in the Pluto group and the team, not an owner
        refusal = await chat.see_privately(ALEX, "Not linked")
        assert "only people who may manage this room" in refusal.text and "team owner" in refusal.text, refusal.text
        await _pick_cohort(chat, SAM)  # the owner
        await chat.see_privately(SAM, "now linked to")
        graph = [r for r in chat.sandbox.requests if r.path.endswith("/members") and r.path.startswith("/graph/")]
        assert graph and all(r.status == 200 for r in graph)
    finally:
        del ROOMS["channel"]


async def test_without_team_member_consent_room_status_names_the_permission(chat: TeamsDriver) -> None:
    chat.sandbox.add_team_channel(CHANNEL, TEAM, "Cohort", members_consent=False)
    ROOMS["channel"] = CHANNEL
    try:
        await _pick_cohort(chat, ALEX)  # owners unknown: the Pluto membership check decides
        await chat.see_privately(ALEX, "now linked to")
        await chat.room_command("channel", ALEX, "room status")
        status = await chat.see_privately(ALEX, "link active")
        assert "TeamMember.Read.Group" in status.text, status.text
    finally:
        del ROOMS["channel"]


async def test_an_edit_in_the_room_is_not_carried_and_its_author_is_told(
    chat: TeamsDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(chat)
    conv = seed.group_conversation_id
    written = chat.sandbox.room_message(chat.users[SAM], ROOMS[ROOM], "Helo all")
    assert written is not None
    status, body = await chat.sandbox.push(written)
    assert status in (200, 202), body
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["Helo all"], what="Sam's message in Pluto")
    await chat.room_edit(ROOM, SAM, Arrived(written["text"], written["id"]), "Hello all")
    await chat.see_privately(SAM, "Edits and deletions in a linked room are not carried")
    assert lms_texts(lms, conv, seed.mentee1_id) == ["Helo all"]
