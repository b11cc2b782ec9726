"""Room links in the store (bridge.store.rooms): the link's life, echoes, members, once a day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.model import ChatIdentity, Cursor, Platform, RoomAddress
from bridge.store.crypto import new_key
from bridge.store.records import DeliveryStatus, NewDelivery, RoomStatus, room_target
from bridge.store.store import Store

ROOM = RoomAddress(Platform.TELEGRAM, "", "-100", name="Cohort A")
ADA = ChatIdentity(Platform.TELEGRAM, "", "1")
BOB = ChatIdentity(Platform.TELEGRAM, "", "2")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", new_key())
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_room_link_is_chosen_then_kept_by_whoever_linked_it(store: Store) -> None:
    first = await store.start_room_link(ROOM, 5, ADA)
    assert first.status is RoomStatus.CHOOSING and first.linker == ADA
    again = await store.start_room_link(ROOM, 6, BOB)  # still choosing: the last to ask chooses
    assert again.id == first.id and again.linker == BOB and again.linker_lms_user_id == 6
    await store.update_room_link(
        first.id, status=RoomStatus.ACTIVE, conversation_id=40, cursor=Cursor(7, frozenset({3}))
    )
    linked = await store.start_room_link(ROOM, 5, ADA)  # a linked room is not taken over
    assert linked.linker == BOB and linked.status is RoomStatus.ACTIVE and linked.cursor == Cursor(7, frozenset({3}))
    assert [r.id for r in await store.room_links()] == [first.id]


async def test_pause_resume_and_move_keep_the_rooms_queued_posts(store: Store) -> None:
    link = await store.start_room_link(ROOM, 5, ADA)
    await store.update_room_link(link.id, status=RoomStatus.ACTIVE, conversation_id=40)
    post = NewDelivery("msg:9", room_target(link.id), Platform.TELEGRAM, link.lane, {"kind": "message", "html": "x"})
    await store.commit_room_intake({link.id: Cursor(9, frozenset({9}))}, [post])
    assert await store.pause_room(link.id, "the bot was removed")
    assert not await store.pause_room(link.id, "again")  # paused once: the first reason and time stay
    paused = await store.room_link(ROOM)
    assert paused is not None and paused.status is RoomStatus.PAUSED and paused.reason == "the bot was removed"
    assert paused.cursor == Cursor(9, frozenset({9}))
    assert await store.resume_room(link.id)
    supergroup = RoomAddress(Platform.TELEGRAM, "", "-1009")
    await store.move_room(link.id, supergroup)
    moved = await store.room_link(supergroup)
    assert moved is not None and moved.id == link.id and await store.room_link(ROOM) is None
    (queued,) = await store.deliveries(status=DeliveryStatus.PENDING)
    assert queued.lane == moved.lane and queued.room_link_id == link.id
    await store.delete_room_link(link.id)
    assert await store.deliveries(status=DeliveryStatus.PENDING) == []


async def test_echoes_members_and_once_a_day(store: Store) -> None:
    await store.record_echo(3, 1001)
    await store.record_echo(3, 1001)
    assert await store.echoes([1000, 1001]) == {1001: 3}
    await store.set_room_members(3, ["1", "2"])
    await store.set_room_member(3, "2", False)
    await store.set_room_member(3, "4", True)
    assert await store.room_member_ids(3) == {"1", "4"}
    assert await store.tell_once("telegram:1", "unlinked", 86400)
    assert not await store.tell_once("telegram:1", "unlinked", 86400)
    assert await store.tell_once("telegram:1", "refused", 86400)
    assert await store.tell_once("telegram:1", "unlinked", 0)
