"""A paused room link keeps its place: back, it gets the backlog in order, or one summary
above ``rooms.backlog_limit``; ``pluto-bridge rooms list`` shows why a room paused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.config import load_settings
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.model import ChatIdentity, Cursor, Platform, RoomAddress
from bridge.rooms.intake import RoomIntake
from bridge.rooms.lifecycle import Lifecycle
from bridge.rooms.operator import list_rooms
from bridge.store.crypto import new_key
from bridge.store.records import DeliveryStatus, RoomLink, RoomStatus
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS
from tests.rooms.test_group_read_cost import group_reads

ROOM = RoomAddress(Platform.SLACK, "T1", "C1", name="#cohort")
SAM = ChatIdentity(Platform.SLACK, "T1", "U1")
KEY = new_key()


async def link(store: Store, lms: SandboxLMS, identity: ChatIdentity, uid: int, name: str) -> None:
    """``identity`` linked to LMS user ``uid`` with a token the LMS issued."""
    await store.save_link(
        identity,
        lms_user_id=uid,
        lms_username=name.split()[0].lower(),
        lms_fullname=name,
        token=lms.issue_token(uid),
        room=f"D{identity.user_id}",
        address=None,
    )


@pytest.fixture
async def world(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[tuple[Store, LmsClient, RoomLink, str]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'life.db'}"
    store = await Store.open(url, KEY)
    client = LmsClient(lms.url, retries=0)
    await link(store, lms, SAM, seed.mentee1_id, "Sam Mentee")
    lms.clock.freeze()
    pending = await store.start_room_link(ROOM, seed.mentee1_id, SAM)
    await store.update_room_link(
        pending.id,
        status=RoomStatus.ACTIVE,
        conversation_id=seed.group_conversation_id,
        conversation_name="Cohort A",
        cursor=Cursor(lms.clock.now() - 1, frozenset()),
    )
    linked = await store.room_link(ROOM)
    assert linked is not None
    try:
        yield store, client, linked, url
    finally:
        await client.close()
        await store.close()


async def _room_texts(store: Store, rl: RoomLink) -> list[str]:
    return [d.payload["html"] for d in await store.lane_batch(rl.lane, 100)]


@pytest.mark.parametrize("limit", [10, 2])
async def test_back_from_a_pause_the_backlog_or_a_summary(
    world: tuple[Store, LmsClient, RoomLink, str], lms: SandboxLMS, seed: DemoSeed, limit: int
) -> None:
    store, client, rl, _ = world
    intake = RoomIntake(store, LmsApi(client), backlog_limit=limit)
    life = Lifecycle(store, intake)
    await life.pause(rl, "the bot was removed from the room")
    for n in range(1, 6):
        lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, f"Missed {n}")
    lms.clock.advance(2)
    await intake.poll_once()
    assert await _room_texts(store, rl) == []  # paused: nothing queued, the cursor stays
    paused = await store.room_link(ROOM)
    assert paused is not None and paused.status is RoomStatus.PAUSED
    await life.resume(paused)
    await intake.poll_once()
    texts = await _room_texts(store, rl)
    if limit == 10:
        assert [t.removeprefix("<p>").removesuffix("</p>") for t in texts] == [f"Missed {n}" for n in range(1, 6)]
    else:
        assert len(texts) == 1 and "5 messages were written" in texts[0], texts
    told = [d.payload["html"] for d in await store.deliveries(status=DeliveryStatus.PENDING) if d.room_link_id is None]
    assert any("is paused" in t for t in told)  # the linker heard of the pause


async def test_rooms_list_shows_each_room_and_why_it_paused(
    world: tuple[Store, LmsClient, RoomLink, str], lms: SandboxLMS
) -> None:
    store, client, rl, url = world
    await Lifecycle(store, RoomIntake(store, LmsApi(client))).pause(rl, "the channel was archived")
    lines: list[str] = []
    settings = load_settings(None, lms={"url": lms.url}, store={"url": url, "token_key": KEY})
    assert await list_rooms(settings, lines.append) == 0
    assert lines[-1] == "1 room(s)"
    assert "slack:T1/C1 (#cohort)\tCohort A" in lines[0] and "paused" in lines[0] and "archived" in lines[0]


async def test_another_members_token_reads_when_the_readers_cannot_then_the_room_pauses(
    world: tuple[Store, LmsClient, RoomLink, str], lms: SandboxLMS, seed: DemoSeed
) -> None:
    store, client, rl, _ = world
    await link(store, lms, ChatIdentity(Platform.SLACK, "T1", "U2"), seed.mentee2_id, "Alex Mentee")
    intake = RoomIntake(store, LmsApi(client))
    Lifecycle(store, intake)
    conv = seed.group_conversation_id
    lms.post_to_conversation(seed.mentor_id, conv, "First")
    lms.clock.advance(2)
    await intake.poll_once()  # read with Sam's token (the linker's)
    lms.remove_group_member(seed.group_id, seed.mentee1_id)
    lms.post_to_conversation(seed.mentor_id, conv, "Second")
    lms.clock.advance(2)
    await intake.poll_once()
    assert [t.removeprefix("<p>").removesuffix("</p>") for t in await _room_texts(store, rl)] == ["First", "Second"]
    moved = await store.room_link(ROOM)
    assert moved is not None and moved.reader_lms_user_id == seed.mentee2_id  # Alex's token now, never an admin's
    lms.remove_group_member(seed.group_id, seed.mentee2_id)
    await intake.poll_once()
    paused = await store.room_link(ROOM)
    assert paused is not None and paused.status is RoomStatus.PAUSED
    assert "cannot be read" in paused.reason


async def test_an_unreadable_group_is_tried_on_a_back_off_once_a_try_then_resumes(
    world: tuple[Store, LmsClient, RoomLink, str], lms: SandboxLMS, seed: DemoSeed
) -> None:
    store, client, rl, _ = world
    now = [0.0]
    intake = RoomIntake(store, LmsApi(client), retry_initial=10.0, retry_max=25.0, clock=lambda: now[0])
    Lifecycle(store, intake)
    conv = seed.group_conversation_id
    lms.remove_group_member(seed.group_id, seed.mentee1_id)  # nobody linked can read the group
    await intake.poll_once()
    paused = await store.room_link(ROOM)
    assert paused is not None and paused.status is RoomStatus.PAUSED and "cannot be read" in paused.reason
    lms.post_to_conversation(seed.mentor_id, conv, "While unreadable")
    lms.clock.advance(2)

    async def reads_in_cycle(at: float) -> int:
        now[0] = at
        mark = len(lms.calls)
        await intake.poll_once()
        return group_reads(lms, mark, conv)

    # Not every cycle: due 10 s after the pause, then 20 s later, then 25 s (40, bounded), one read a try.
    assert [await reads_in_cycle(t) for t in (1.0, 5.0, 10.0, 25.0, 30.0, 50.0, 54.0, 55.0)] == [0, 0, 1, 0, 1, 0, 0, 1]
    lms.add_group_member(seed.group_id, seed.mentee1_id)
    assert await reads_in_cycle(100.0) == 1  # the try that works resumes the room with its read
    back = await store.room_link(ROOM)
    assert back is not None and back.status is RoomStatus.ACTIVE
    await intake.poll_once()
    assert [t.removeprefix("<p>").removesuffix("</p>") for t in await _room_texts(store, rl)] == ["While unreadable"]
    told = [d.payload["html"] for d in await store.deliveries(status=DeliveryStatus.PENDING) if d.room_link_id is None]
    assert any("is active again" in t for t in told)  # the linker hears it is back
