"""Two replicas (two dispatchers under leases) on one store with a group room's burst:
the room's lane is held by one replica at a time, so every post reaches the room once,
in order (issue 20 with issue 16's rooms). Runs on PostgreSQL too (PLUTO_TEST_STORE)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.leases import Leases
from bridge.model import Capabilities, ChatIdentity, Markup, Platform, Post, RoomAddress, SentRef
from bridge.outbox import LANE_LEASE, Dispatcher
from bridge.rooms.intake import room_notice
from bridge.rooms.lanes import RoomLanes
from bridge.store.leases import LeaseLost
from bridge.store.records import DeliveryStatus, RoomLink, RoomStatus
from bridge.store.store import Store
from tests.core.test_leases import two_replicas
from tests.core.test_outbox import SETTINGS, StandInPlatform
from tests.core.test_outbox_replicas import sent_count

POSTS = 40


class RoomPlatform(StandInPlatform):
    """The stand-in platform with rooms: records every room post as the room shows it."""

    capabilities = Capabilities(markup=Markup.PLAIN, max_text=4000)  # room for the author's name

    def __init__(self) -> None:
        super().__init__()
        self.room_posts: list[tuple[float, str]] = []

    async def send_to_room(self, room: RoomAddress, post: Post, author: str) -> SentRef:
        await asyncio.sleep(0)  # let the other replica run between two posts
        self.room_posts.append((time.monotonic(), post.text))
        return SentRef(room.room_id, f"r{len(self.room_posts)}")


async def never_paused(rl: RoomLink, reason: str) -> None:
    raise AssertionError(f"room {rl.room} paused: {reason}")


async def test_a_room_burst_is_posted_once_in_order_by_two_replicas(store: Store) -> None:
    room = RoomAddress(Platform.TELEGRAM, "", "-100777", name="Study group")
    rl = await store.start_room_link(room, 1, ChatIdentity(Platform.TELEGRAM, "", "ann"))
    await store.update_room_link(rl.id, status=RoomStatus.ACTIVE, conversation_id=9)
    active = await store.room_link_by_id(rl.id)
    assert active is not None
    rl = active
    await store.enqueue([room_notice(rl, f"post-{k}", f"<p>post {k}</p>") for k in range(POSTS)])
    platforms = [RoomPlatform(), RoomPlatform()]
    dispatchers = [
        Dispatcher(
            store,
            {Platform.TELEGRAM: platform},
            SETTINGS,
            leases=Leases(store, f"replica-{n}", 15),
            rooms=RoomLanes(store, {Platform.TELEGRAM: platform}, SETTINGS, never_paused),
        )
        for n, platform in enumerate(platforms)
    ]
    tasks = [asyncio.create_task(d.run(tick=0.02)) for d in dispatchers]
    try:
        await sent_count(store, POSTS)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    shown = [text for _, text in sorted(p for platform in platforms for p in platform.room_posts)]
    assert len(shown) == POSTS, "a room post sent twice"  # both replicas drained the room's lane otherwise
    assert [text.strip() for text in shown] == [f"post {k}" for k in range(POSTS)]


async def test_a_paused_room_s_post_is_not_put_back_under_a_lost_lease(store: Store) -> None:
    """A replica that lost the room lane's lease finds the room paused: it leaves the post
    alone, which the new holder has sent meanwhile (put back pending, it went out twice)."""
    room = RoomAddress(Platform.TELEGRAM, "", "-100778", name="Study group")
    rl = await store.start_room_link(room, 1, ChatIdentity(Platform.TELEGRAM, "", "ann"))
    await store.update_room_link(rl.id, status=RoomStatus.ACTIVE, conversation_id=9)
    active = await store.room_link_by_id(rl.id)
    assert active is not None
    await store.enqueue([room_notice(active, "post-1", "<p>post 1</p>")])
    [delivery] = await store.deliveries()
    clock, a, b = two_replicas(store)
    old = await a.acquire(f"{LANE_LEASE}{delivery.lane}")
    clock.now += 20  # replica a stalled past its lease: b holds the lane and sends the post
    new = await b.acquire(f"{LANE_LEASE}{delivery.lane}")
    assert old is not None and new is not None
    assert await store.mark_sending(delivery.id, new)
    await store.mark_sent(delivery, [{"room": room.room_id, "message_id": "r1", "thread": None}], [], new)
    await store.update_room_link(rl.id, status=RoomStatus.PAUSED, reason="bot removed")
    platform = RoomPlatform()
    lanes = RoomLanes(store, {Platform.TELEGRAM: platform}, SETTINGS, never_paused)
    dispatcher = Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS, rooms=lanes)
    with pytest.raises(LeaseLost):
        await lanes.attempt(delivery, dispatcher._paced, old)  # a wakes, still holding the stale batch
    after = await store.delivery_by_id(delivery.id)
    assert after is not None and after.status == DeliveryStatus.SENT
    assert platform.room_posts == []
