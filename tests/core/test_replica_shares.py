"""How replicas share intake, singletons and a dead replica's chat events (issue 20), on
the shared store fixture (SQLite and PostgreSQL)."""

from __future__ import annotations

from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.intake_share import IntakeShare
from bridge.leases import Leases
from bridge.lms.client import LmsClient
from bridge.model import Platform
from bridge.singletons import Singletons
from bridge.store.crypto import new_key
from bridge.store.store import Store
from tests.core.test_leases import Clock

PEOPLE = range(1, 301)
KEY = new_key()


async def beat(store: Store, clock: Clock, *replicas: Leases) -> None:
    for leases in replicas:
        await store.beat_replica(leases.holder, clock.now)


async def test_each_person_is_read_by_one_live_replica_and_few_move(store: Store) -> None:
    clock = Clock()
    replicas = [Leases(store, f"replica-{n}", 15, clock) for n in range(3)]
    await beat(store, clock, *replicas)
    shares = [set(await IntakeShare(r).mine(PEOPLE)) for r in replicas]
    assert sorted(uid for share in shares for uid in share) == list(PEOPLE)  # everyone, once
    assert all(len(share) > 50 for share in shares)  # spread, not all on one

    clock.now += 10
    await beat(store, clock, *replicas[:2])
    clock.now += 10  # replica-2 stopped beating 20 s ago: gone
    after = [set(await IntakeShare(r).mine(PEOPLE)) for r in replicas[:2]]
    assert sorted(uid for share in after for uid in share) == list(PEOPLE)  # its people taken over
    for before, now in zip(shares[:2], after, strict=True):
        assert before <= now  # the others keep their own: only the dead one's people move


async def test_a_singleton_runs_on_one_replica_and_moves_when_it_dies(store: Store) -> None:
    clock = Clock()
    running: list[str] = []
    lost: list[str] = []

    def singletons(name: str) -> Singletons:
        elected = Singletons(Leases(store, name, 15, clock), on_lost=lost.append)

        async def start() -> None:
            running.append(name)

        async def stop() -> None:
            running.remove(name)

        elected.add(Platform.TELEGRAM.value, start, stop)
        return elected

    a, b = singletons("replica-a"), singletons("replica-b")
    await a.elect()
    await b.elect()
    assert running == ["replica-a"]
    clock.now += 16  # a stopped renewing (it died or stalled)
    await b.elect()
    assert running == ["replica-a", "replica-b"]  # a cannot tell yet; b took over
    await a.leases.renew()  # a comes back: its renewal finds the lease gone...
    await a.elect()
    assert running == ["replica-b"] and lost == ["telegram"]  # ...it stops and says so


async def test_a_dead_replicas_unfinished_events_go_to_one_other(store: Store) -> None:
    store.replica_id = "replica-a"
    assert await store.journal_event(Platform.TELEGRAM, "ev1", {"type": "MessageEvent", "text": "hi"})
    store.replica_id = "replica-a"
    assert not await store.journal_event(Platform.TELEGRAM, "ev1", {"type": "MessageEvent"})  # a repeat
    store.replica_id = "replica-b"
    assert await store.claim_unfinished(["replica-a", "replica-b"]) == []  # a is alive: its own
    claimed = await store.claim_unfinished(["replica-b"])  # a died
    assert [event["text"] for event, _ in claimed] == ["hi"]
    store.replica_id = "replica-c"
    assert await store.claim_unfinished(["replica-b", "replica-c"]) == []  # b has it now


async def test_replicas_read_without_the_early_copy_of_a_held_back_message(store: Store) -> None:
    """The early copy trusts this process's memory of the person's last read, which another
    replica may have made since: off when intake is shared."""
    settings = load_settings(None, lms={"url": "http://127.0.0.1:9"}, store={"url": "sqlite://", "token_key": KEY})
    async with LmsClient(settings.lms.url) as client:
        alone = build_pipeline(settings, store, client)
        shared = build_pipeline(settings, store, client, share=IntakeShare(Leases(store, "replica-a", 15)))
    assert alone.intake.early and not shared.intake.early
