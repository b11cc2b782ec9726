"""Named leases on the store: one holder at a time, taken over after expiry with a larger
fencing token, and writes under a lost lease refused (issue 20)."""

from __future__ import annotations

import pytest

from bridge.leases import Leases, SoleLeases, replica_id
from bridge.store.leases import Fence, LeaseLost, check_fence
from bridge.store.store import Store


class Clock:
    """Wall time the test moves by hand (lease expiry is in the database's rows)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def two_replicas(store: Store) -> tuple[Clock, Leases, Leases]:
    """Replicas a and b on one store, on one hand-moved clock, leases of 15 s."""
    clock = Clock()
    return clock, Leases(store, "replica-a", 15, clock), Leases(store, "replica-b", 15, clock)


async def fenced_write(store: Store, fence: Fence) -> None:
    """A write made under ``fence`` (what the dispatcher's marks do)."""
    async with store._write() as conn:
        await check_fence(conn, fence)


async def test_one_holder_until_expiry_then_a_larger_token(store: Store) -> None:
    clock, a, b = two_replicas(store)
    first = await a.acquire("lane:x")
    assert first is not None
    assert await b.acquire("lane:x") is None  # held: refused
    assert await a.acquire("lane:x") == first  # its holder again: the same token

    clock.now += 16  # a stopped renewing (dead): the lease expired
    taken = await b.acquire("lane:x")
    assert taken is not None and taken.token > first.token
    assert await store.lease_holder("lane:x", clock.now) == ("replica-b", taken.token)
    assert await a.renew() == [first]  # a learns it lost the lease
    assert not a.holds(first)


async def test_a_write_under_a_lost_lease_is_refused(store: Store) -> None:
    clock, a, b = two_replicas(store)
    old = await a.acquire("lane:x")
    assert old is not None
    await fenced_write(store, old)  # held: the write goes through
    clock.now += 20
    new = await b.acquire("lane:x")
    assert new is not None
    with pytest.raises(LeaseLost):
        await fenced_write(store, old)
    await fenced_write(store, new)


async def test_renewed_leases_stay_and_released_ones_pass_at_once(store: Store) -> None:
    clock, a, b = two_replicas(store)
    fence = await a.acquire("singleton:telegram")
    assert fence is not None
    for _ in range(5):  # renewed every few seconds, the lease outlives its first term
        clock.now += 10
        assert await a.renew() == []
        assert await b.acquire("singleton:telegram") is None
    await a.release(fence)
    taken = await b.acquire("singleton:telegram")
    assert taken is not None and taken.token == fence.token + 1
    tokens = [taken.token]
    for holder in (a, b, a):  # the token only grows, whoever holds it
        clock.now += 20
        got = await holder.acquire("singleton:telegram")
        assert got is not None
        tokens.append(got.token)
    assert tokens == sorted(set(tokens))


async def test_live_replicas_follow_heartbeats(store: Store) -> None:
    clock, a, b = two_replicas(store)
    await store.beat_replica(a.holder, clock.now)
    await store.beat_replica(b.holder, clock.now)
    assert await a.live() == ["replica-a", "replica-b"]
    clock.now += 10
    await store.beat_replica(a.holder, clock.now)
    clock.now += 10  # b has not beaten for 20 s: gone
    assert await a.live() == ["replica-a"]
    await a.close()
    assert await b.live() == []


async def test_sole_leases_write_nothing(store: Store) -> None:
    sole = SoleLeases(store, replica_id(), 15)
    fence = await sole.acquire("lane:x")
    assert fence is not None and fence.sole and sole.holds(fence)
    await fenced_write(store, fence)  # not checked: the only process on the store
    assert await store.lease_holder("lane:x", 0.0) is None


async def test_a_replica_that_did_not_renew_in_time_stops_before_others_may_take_over(store: Store) -> None:
    clock = Clock()
    ticks = Clock()  # this process's monotonic time, stalled by hand
    a = Leases(store, "replica-a", 15, clock, ticker=ticks)
    fence = await a.acquire("lane:x")
    assert fence is not None and a.holds(fence)
    ticks.now += 9  # a renewal is due every 5 s: none came
    assert a.holds(fence)
    ticks.now += 2  # 11 s without renewing: in doubt, though the lease runs until 15 s
    assert not a.holds(fence)
    assert await Leases(store, "replica-b", 15, clock).acquire("lane:x") is None  # still a's
    assert await a.renew() == []  # renewed: sending again
    assert a.holds(fence)
