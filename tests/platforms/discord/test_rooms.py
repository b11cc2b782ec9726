"""Discord rooms beyond the contract scenarios (issue 16): the channel webhook, threads as
replies, Manage Channels, and a deleted channel, against the real bridge process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.contract.drivers.base import ALEX, SAM, Arrived
from tests.contract.drivers.discord import ACCOUNTS, ROOMS, DiscordDriver
from tests.contract.rooms_people import with_people
from tests.contract.test_rooms import ROOM, _link_room
from tests.support import lms_texts, until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def chat(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[DiscordDriver]:
    """The bridge with Discord; Sam, Alex and Rory linked (as in the contract scenarios)."""
    async with with_people(DiscordDriver(lms, tmp_path), lms, seed) as driver:
        yield driver


async def test_posts_go_through_one_webhook_under_the_author_with_mentions_off(
    chat: DiscordDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(chat)
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "Hello @everyone")
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "Second")
    await chat.see_in_room(ROOM, "Second")
    channel = ROOMS[ROOM]
    hooks = [w for w in chat.dc.webhooks.values() if w.channel_id == channel]
    assert len(hooks) == 1  # made once, used for every post
    posts = chat.dc.webhook_posts(channel)
    assert [p["author"]["username"] for p in posts] == ["Maya Mentor", "Maya Mentor"]
    assert all(p["allowed_mentions"] == {"parse": []} for p in posts)  # nobody is pinged
    assert chat.dc.sent_by_bot(channel) == []  # nothing as the bot itself


async def test_a_thread_started_from_a_relayed_post_keeps_its_context(
    chat: DiscordDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(chat)
    conv = seed.group_conversation_id
    lms.post_to_conversation(seed.mentor_id, conv, "Who has read chapter 4?")
    post = await chat.see_in_room(ROOM, "chapter 4")
    thread = await chat.dc.user_starts_thread(ACCOUNTS[SAM], post.raw, "chapter 4")
    await chat.dc.user_posts(ACCOUNTS[SAM], thread, "I have")
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id), what="Sam's thread message in Pluto")
    assert lms_texts(lms, conv, seed.mentee1_id) == ["> Maya Mentor: Who has read chapter 4?\nI have"]


async def test_only_members_who_may_manage_the_channel_link_it(chat: DiscordDriver) -> None:
    await chat.join(ROOM, ALEX)  # a Pluto member of the group, without Manage Channels
    await chat.room_command(ROOM, ALEX, "room")
    choice = await chat.see_privately(ALEX, "Which Pluto group conversation")
    await chat.press_privately(ALEX, choice, "Cohort A")
    await chat.see_privately(ALEX, "only people who may manage this room can link it")
    assert chat.room_posts(ROOM) == []


async def test_the_channel_deleted_pauses_the_link(chat: DiscordDriver) -> None:
    await _link_room(chat)
    await chat.dc.delete_channel(ROOMS[ROOM])
    await chat.see_privately(SAM, "is paused")


async def test_an_edit_in_the_room_is_not_carried_and_its_author_is_told_once(
    chat: DiscordDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(chat)
    conv = seed.group_conversation_id
    written = await chat.dc.user_posts(ACCOUNTS[SAM], ROOMS[ROOM], "Helo all")
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["Helo all"], what="Sam's message in Pluto")
    mine = Arrived(written["content"], written["id"], (), written)
    await chat.room_edit(ROOM, SAM, mine, "Hello all")
    await chat.see_privately(SAM, "Edits and deletions in a linked room are not carried")
    await chat.room_edit(ROOM, SAM, mine, "Hello, all")
    await chat.dc.user_posts(ACCOUNTS[SAM], ROOMS[ROOM], "Next")  # handled after the second edit
    await until(lambda: len(lms_texts(lms, conv, seed.mentee1_id)) == 2, what="Sam's next message")
    told = [a for a in chat.private(SAM) if "are not carried" in a.text]
    assert len(told) == 1 and lms_texts(lms, conv, seed.mentee1_id) == ["Helo all", "Next"]
