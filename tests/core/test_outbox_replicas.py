"""Two dispatchers (two replicas) on one store: each lane sent by one of them at a time,
order kept, nothing sent twice; a dead replica's lane taken over after its lease expires,
and the stalled replica refused when it tries to record its late send (issue 20)."""

from __future__ import annotations

import asyncio

from bridge.leases import Leases
from bridge.model import Destination, Platform, Post, SentRef
from bridge.outbox import Dispatcher
from bridge.router import notice
from bridge.store.records import DeliveryStatus
from bridge.store.store import Store
from tests.core.test_leases import Clock
from tests.core.test_outbox import SETTINGS, StandInPlatform, _count, make_link
from tests.support import until


async def sent_count(store: Store, n: int, within: float = 30.0) -> None:
    """Wait until ``n`` deliveries are recorded sent."""
    async with asyncio.timeout(within):
        while True:
            if await _count(store, DeliveryStatus.SENT, n):
                return
            await asyncio.sleep(0.02)


async def test_two_replicas_send_each_delivery_once_in_order(store: Store) -> None:
    people = [await make_link(store, f"p{n}", n + 1) for n in range(6)]
    for link in people:
        await store.enqueue([notice(link, f"<p>{link.room} {k}</p>", f"{link.room}-{k}") for k in range(15)])
    platforms = [StandInPlatform(), StandInPlatform()]
    dispatchers = [
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS, leases=Leases(store, f"replica-{n}", 15))
        for n, platform in enumerate(platforms)
    ]
    tasks = [asyncio.create_task(d.run(tick=0.02)) for d in dispatchers]
    try:
        await sent_count(store, 90)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    sent = sorted((at, room, text) for p in platforms for room, text, at in p.sent)
    assert len(sent) == 90, "a delivery sent twice"  # both replicas ran every lane otherwise
    for link in people:
        assert [text for _, room, text in sent if room == link.room] == [f"{link.room} {k}" for k in range(15)]


class Watched(Leases):
    """Leases that count the dispatcher's looks for lanes held elsewhere (its ticks)."""

    looks = 0

    async def others(self, prefix: str) -> set[str]:
        self.looks += 1
        return await super().others(prefix)


class Stalling(StandInPlatform):
    """A replica's platform that hangs in its first send (the replica stalls mid-send)."""

    def __init__(self) -> None:
        super().__init__()
        self.began = asyncio.Event()
        self.go_on = asyncio.Event()

    async def send(self, dest: Destination, post: Post) -> SentRef:
        self.began.set()
        await self.go_on.wait()
        return await super().send(dest, post)


async def test_a_stalled_replicas_lane_is_taken_over_and_its_late_record_refused(store: Store) -> None:
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, f"<p>ann {k}</p>", f"a{k}") for k in range(3)])
    clock = Clock()
    stalled, taker = Stalling(), StandInPlatform()
    a = Dispatcher(store, {Platform.TELEGRAM: stalled}, SETTINGS, leases=Leases(store, "replica-a", 15, clock))
    b_leases = Watched(store, "replica-b", 15, clock)
    b = Dispatcher(store, {Platform.TELEGRAM: taker}, SETTINGS, leases=b_leases)
    task_a = asyncio.create_task(a.run(tick=0.02))
    task_b: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(10):
            await stalled.began.wait()  # a marked "ann 0" sending and hangs in the send
        task_b = asyncio.create_task(b.run(tick=0.02))
        await until(lambda: b_leases.looks >= 5, what="b to look for work a few times")
        assert taker.sent == []  # a's lease still runs: b leaves the lane alone
        clock.now += 16  # a did not renew: its lease expired
        await sent_count(store, 3)
        stalled.go_on.set()  # a wakes up and has its send answered...
        await until(lambda: stalled.sent, what="the stalled send to return")
        # ...and tries to record it and go on with the lane: refused, its worker ends.
        await until(lambda: not a._lanes, what="the stalled replica's lane worker to end")
    finally:
        tasks = [t for t in (task_a, task_b) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert [text for _, text, _ in taker.sent] == ["ann 0", "ann 1", "ann 2"]  # b resent the unrecorded one
    assert [text for _, text, _ in stalled.sent] == ["ann 0"]  # a sent nothing after losing the lane
    first = (await store.deliveries(status=DeliveryStatus.SENT))[0]
    assert first.refs[0]["message_id"] == "1" and first.refs[0]["room"] == "ann"  # b's record stands
