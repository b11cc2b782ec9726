"""Group rooms, once per platform that has them (issue 16): a Pluto group
conversation linked to a shared chat room, against the real bridge process.

People: Sam (mentee1) links the room and is in it; Alex (mentee2) is a linked group member
who is not in the room; Rory is linked but not in the Pluto group; Ivy is in the room
without a Pluto link. Maya (the mentor) writes in Pluto.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.conftest import BurstReport
from tests.support import lms_texts, until

from .conftest import DRIVERS, ONE_PER_PLATFORM
from .drivers.base import ALEX, SAM, Arrived, ChatDriver
from .rooms_people import RORY, with_people

pytestmark = pytest.mark.e2e

ROOM = "cohort"
IVY = "ivy"
BURST = 100  # issue 16: a burst of 100 LMS group messages into one room per platform


def _has_rooms(name: str) -> bool:
    factory = DRIVERS[name]
    return bool(getattr(factory, "rooms", False) or getattr(getattr(factory, "func", None), "rooms", False))


# One driver per platform for the burst: a platform's transports (polling or webhook, HTTP
# or Socket Mode) differ inbound only, and the burst paces the outbound path they share.
# With the seconds each takes at its platform's limits (started early: tests/conftest.py).
BURST_DRIVERS = [
    pytest.param(name, marks=pytest.mark.long(seconds), id=name)
    for name, seconds in (("telegram-polling", 260), ("slack-http", 100), ("discord", 40), ("teams", 45))
]


@pytest.fixture(params=ONE_PER_PLATFORM)
async def rooms(
    request: pytest.FixtureRequest, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ChatDriver]:
    """The real bridge with one platform, Sam, Alex and Rory linked; skipped (before
    anything starts) where the driver cannot drive rooms yet."""
    monkeypatch.setenv("PLUTO_BRIDGE_ROOMS__RETRY_INITIAL", "0.5")  # an unreadable group is tried again soon
    monkeypatch.setenv("PLUTO_BRIDGE_ROOMS__RETRY_MAX", "1")
    async for chat in _rooms_driver(request.param, lms, seed, tmp_path):
        yield chat


@pytest.fixture(params=BURST_DRIVERS)
async def burst_rooms(
    request: pytest.FixtureRequest, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[ChatDriver]:
    """As ``rooms``, on one driver per platform with rooms."""
    async for chat in _rooms_driver(request.param, lms, seed, tmp_path):
        yield chat


async def _rooms_driver(name: str, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[ChatDriver]:
    if not _has_rooms(name):
        pytest.skip(f"{name}: group rooms not implemented on this platform yet")
    async with with_people(DRIVERS[name](lms, tmp_path), lms, seed) as chat:
        yield chat


async def _link_room(chat: ChatDriver) -> None:
    """Sam links the room to Cohort A, confirming that Ivy and Rory will read it."""
    for person in (SAM, IVY, RORY):
        await chat.join(ROOM, person)
    await chat.room_command(ROOM, SAM, "room")
    choice = await chat.see_privately(SAM, "Which Pluto group conversation")
    await chat.press_privately(SAM, choice, "Cohort A")
    if not chat.lists_members:
        await chat.see_privately(SAM, "now linked to")  # nobody outside the group can be known
        return
    report = await chat.see_privately(SAM, "will read its messages")
    assert "ivy" in report.text.lower() and "Rory Outsider" in report.text, report.text  # unlinked, not in group
    assert "Alex Mentee" in report.text  # a Pluto member who is not in the room
    await chat.press_privately(SAM, report, "Link anyway")
    await chat.see_privately(SAM, "now linked to")


async def test_link_refused_for_a_non_member_then_accepted_with_the_report(rooms: ChatDriver) -> None:
    await rooms.join(ROOM, RORY)
    await rooms.room_command(ROOM, RORY, "room")
    await rooms.see_privately(RORY, "not a member of any Pluto group conversation")
    await _link_room(rooms)
    await rooms.room_command(ROOM, SAM, "room status")
    status = await rooms.see_privately(SAM, "link active")
    assert "Cohort A" in status.text
    assert rooms.room_posts(ROOM) == []  # every answer went to the person alone


async def test_group_messages_flow_both_ways_once_with_authors(
    rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(rooms)
    conv = seed.group_conversation_id
    lms.post_to_conversation(seed.mentor_id, conv, "Welcome to the cohort room!")
    post = await rooms.see_in_room(ROOM, "Welcome to the cohort room!")
    assert "Maya Mentor" in post.text
    # Alex is in no room: a private copy as before; Sam reads it in the room only.
    await rooms.see_privately(ALEX, "Welcome to the cohort room!")

    await rooms.room_write(ROOM, SAM, "Hello from the room")
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["Hello from the room"], what="Sam's room message")
    await rooms.room_reply(ROOM, SAM, post, "Thanks Maya")
    await until(lambda: len(lms_texts(lms, conv, seed.mentee1_id)) == 2, what="Sam's reply in Pluto")
    reply = lms_texts(lms, conv, seed.mentee1_id)[1]
    assert reply.startswith("> Maya Mentor: Welcome to the cohort room!") and reply.endswith("Thanks Maya"), reply

    lms.post_to_conversation(seed.mentor_id, conv, "Second message")
    await rooms.see_in_room(ROOM, "Second message")
    await rooms.see_privately(ALEX, "Hello from the room")  # Sam's words reach Alex privately
    texts = [a.text for a in rooms.room_posts(ROOM)]
    assert sum("Welcome to the cohort room!" in t for t in texts) == 1
    assert not any("Hello from the room" in t for t in texts)  # never echoed into its room
    assert not any("Welcome to the cohort room!" in a.text for a in rooms.private(SAM))  # no private copy


async def test_a_room_message_whose_send_is_still_answering_is_not_echoed_back(
    rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(rooms)
    conv = seed.group_conversation_id
    # Pluto stores Sam's message at once but answers the send late: meanwhile the bridge
    # reads the group and meets it before it knows the message is its own.
    lms.set_answer_delay(6.0, "core_message_send_messages_to_conversation")
    try:
        await rooms.room_write(ROOM, SAM, "Sam, answered late")
        await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["Sam, answered late"], what="Sam's message")
        lms.post_to_conversation(seed.mentor_id, conv, "Maya, right after Sam")
        await rooms.see_in_room(ROOM, "Maya, right after Sam")  # the group was read past Sam's message
        sending = [c for c in lms.calls if c.function == "core_message_send_messages_to_conversation"]
        assert time.time() - sending[-1].time < 6.0, "the group was read only after the send was answered"
    finally:
        lms.set_answer_delay(0)
    lms.post_to_conversation(seed.mentor_id, conv, "Maya, later")
    await rooms.see_in_room(ROOM, "Maya, later")
    assert not any("Sam, answered late" in a.text for a in rooms.room_posts(ROOM))
    assert lms_texts(lms, conv, seed.mentee1_id) == ["Sam, answered late"]


def _looked_for_after(lms: SandboxLMS, at: float) -> bool:
    """Whether the bridge read a conversation's newest messages without ``timefrom`` after
    ``at`` (how it looks for a send that may have reached Pluto: bridge.lms.sent)."""
    return any(
        c.function == "core_message_get_conversation_messages"
        and c.time > at
        and str(c.params.get("timefrom")) == "0"
        and str(c.params.get("limitnum")) == "50"
        for c in lms.calls
    )


def _told_maybe(rooms: ChatDriver) -> bool:
    return any("may or may not have arrived" in a.text for a in rooms.private(SAM))


async def test_a_room_message_stored_though_its_send_timed_out_is_not_echoed_back(
    rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(rooms)
    conv = seed.group_conversation_id
    lms.post_to_conversation(seed.mentor_id, conv, "Maya, before")
    await rooms.see_in_room(ROOM, "Maya, before")  # the group is read from this one's second on
    # Pluto stores Sam's message but answers after the bridge gave up waiting (3 s in the
    # tests). Its second stays Pluto's current one meanwhile, so the group's reads (with
    # timefrom, moodle-4.5-observed.md item 5) do not meet it while the send is in progress.
    lms.clock.freeze()
    lms.set_answer_delay(8.0, "core_message_send_messages_to_conversation")
    try:
        await rooms.room_write(ROOM, SAM, "Sam, never answered")
        await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["Sam, never answered"], what="Sam's message")
        (send,) = [c for c in lms.calls if c.function == "core_message_send_messages_to_conversation"]
        await until(
            lambda: _looked_for_after(lms, send.time + 2.0) or _told_maybe(rooms),
            what="the bridge looking for it after the time-out, or telling Sam it may not have arrived",
        )
    finally:
        lms.set_answer_delay(0)
        lms.clock.unfreeze()
    lms.post_to_conversation(seed.mentor_id, conv, "Maya, afterwards")
    await rooms.see_in_room(ROOM, "Maya, afterwards")
    assert not any("Sam, never answered" in a.text for a in rooms.room_posts(ROOM))
    assert not _told_maybe(rooms)  # it did arrive


async def test_unlinked_and_refused_people_are_told_privately_once(
    rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(rooms)
    conv = seed.group_conversation_id
    await rooms.room_write(ROOM, IVY, "Hi all, Ivy here")
    await rooms.see_privately(IVY, "only people with a linked Pluto account")
    await rooms.room_write(ROOM, RORY, "Rory here")
    await rooms.see_privately(RORY, "not delivered to")
    await rooms.room_write(ROOM, IVY, "Anyone?")
    await rooms.room_write(ROOM, SAM, "Sam is here")  # handled after Ivy's second message
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["Sam is here"], what="Sam's message")
    told = [a for a in rooms.private(IVY) if "linked Pluto account" in a.text]
    assert len(told) == 1, told  # once a day at most
    assert all(m["text"] not in ("Hi all, Ivy here", "Anyone?", "Rory here") for m in lms.messages_in(conv))
    assert rooms.room_posts(ROOM) == []  # nobody's refusal went into the room


async def test_a_command_in_the_room_never_shows_personal_data_there(rooms: ChatDriver) -> None:
    await _link_room(rooms)
    for command in ("status", "tasks", "prefs", "link"):
        await rooms.room_command(ROOM, SAM, command)
    await rooms.see_privately(SAM, "Linked to Pluto as")
    await rooms.see_privately(SAM, "sign in to Pluto")
    assert rooms.room_posts(ROOM) == []


async def test_bot_removed_pauses_the_link_and_the_backlog_follows(
    rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(rooms)
    conv = seed.group_conversation_id
    await rooms.remove_bot(ROOM)
    await rooms.see_privately(SAM, "is paused")  # the linker hears of it
    for n in range(1, 4):
        lms.post_to_conversation(seed.mentor_id, conv, f"While away {n}")
    await rooms.see_privately(ALEX, "While away 3")  # the group goes on meanwhile
    assert rooms.room_posts(ROOM) == []
    await rooms.add_bot(ROOM)
    await rooms.see_in_room(ROOM, "While away 3")
    posts: list[Arrived] = rooms.room_posts(ROOM)
    assert [p.text.split("\n")[-1] for p in posts] == ["While away 1", "While away 2", "While away 3"]


async def test_a_group_nobody_linked_can_read_pauses_then_resumes_with_the_backlog(
    rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await _link_room(rooms)
    conv = seed.group_conversation_id
    for uid in (seed.mentee1_id, seed.mentee2_id):  # no linked member is left in the group
        lms.remove_group_member(seed.group_id, uid)
    paused = await rooms.see_privately(SAM, "is paused")
    assert "cannot be read" in paused.text, paused.text
    for n in range(1, 4):
        lms.post_to_conversation(seed.mentor_id, conv, f"While unreadable {n}")
    lms.add_group_member(seed.group_id, seed.mentee1_id)  # Sam is back in the group
    await rooms.see_privately(SAM, "is active again")
    await rooms.see_in_room(ROOM, "While unreadable 3")
    lms.post_to_conversation(seed.mentor_id, conv, "After the pause")
    await rooms.see_in_room(ROOM, "After the pause")
    texts = [p.text.split("\n")[-1] for p in rooms.room_posts(ROOM)]
    assert texts == ["While unreadable 1", "While unreadable 2", "While unreadable 3", "After the pause"], texts


@pytest.mark.timeout(900)  # Telegram's 20 a minute per group: 100 posts take four minutes at least
async def test_a_burst_of_group_messages_arrives_whole_in_order_without_429(
    burst_rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed, burst_report: BurstReport
) -> None:
    await _link_room(burst_rooms)
    for n in range(1, BURST + 1):
        lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, f"Burst {n} of {BURST}")
    floor = burst_rooms.room_floor(BURST)
    await burst_rooms.wait_for(
        lambda: sum("Burst " in p.text for p in burst_rooms.room_posts(ROOM)) == BURST,
        "the whole burst",
        60 + 2 * floor,
    )
    order = [int(p.text.rsplit("Burst ", 1)[1].split()[0]) for p in burst_rooms.room_posts(ROOM) if "Burst " in p.text]
    assert order == list(range(1, BURST + 1))
    sends, throttled = burst_rooms.room_sends(ROOM)
    assert throttled == 0
    if sends:
        burst_report(f"{burst_rooms.name} room", {ROOM: sends[-BURST:]}, floor, 0.0)


async def test_the_linker_unlinking_pauses_the_room(rooms: ChatDriver) -> None:
    await _link_room(rooms)
    await rooms.command(SAM, "unlink")
    await rooms.room_command(ROOM, RORY, "room status")
    status = await rooms.see_privately(RORY, "paused")
    assert "unlinked their Pluto account" in status.text


async def test_prefs_groups_dm_brings_private_copies_back(rooms: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await _link_room(rooms)
    answers = await rooms.command(SAM, "prefs groups dm")
    assert any("also privately" in a for a in answers), answers
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "For the room and for Sam")
    await rooms.see_in_room(ROOM, "For the room and for Sam")
    await rooms.see_privately(SAM, "For the room and for Sam")
    answers = await rooms.command(SAM, "prefs groups everywhere")
    assert any("room, dm, both" in a for a in answers), answers  # a clear error naming the choices
