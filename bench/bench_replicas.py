"""Benchmark: outbox throughput with 1, 2 and 3 replicas on PostgreSQL, against one process
on SQLite (the embedded default) as the baseline (issue 20).

LANES people each have MESSAGES deliveries queued; each replica is a process of its own
running the real dispatcher under leases (``bridge.leases``) against a platform that
takes LATENCY seconds to answer each post (a network round trip). The clock runs from
the moment every replica is ready to the last delivery recorded sent. PostgreSQL is the
throwaway server of ``sandbox.postgres``. The machine's cores bound the figures: on two
busy cores, a third replica has no core of its own.

Run: .venv/bin/python bench/bench_replicas.py [LANES] [MESSAGES] [LATENCY]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

from bench_pipeline import InstantPlatform

from bridge.config import OutboxSettings
from bridge.leases import Leases, SoleLeases, replica_id
from bridge.model import ChatIdentity, Destination, Platform, Post, SentRef
from bridge.outbox import Dispatcher
from bridge.router import notice
from bridge.store.crypto import new_key
from bridge.store.records import DeliveryStatus
from bridge.store.store import Store
from sandbox import postgres


class SlowPlatform(InstantPlatform):
    """A platform that answers each post after ``latency`` seconds."""

    def __init__(self, latency: float) -> None:
        super().__init__(expected=1 << 62)
        self.latency = latency

    async def send(self, dest: Destination, post: Post) -> SentRef:
        await asyncio.sleep(self.latency)
        return await super().send(dest, post)


async def fill(url: str, key: str, lanes: int, messages: int) -> None:
    """Link ``lanes`` people and queue ``messages`` deliveries for each."""
    store = await Store.open(url, key)
    try:
        for n in range(lanes):
            link = await store.save_link(
                ChatIdentity(Platform.TELEGRAM, "", str(1000 + n)),
                lms_user_id=n + 1,
                lms_username=f"p{n}",
                lms_fullname=f"P {n}",
                token=f"tok{n}",
                room=str(1000 + n),
                address=None,
            )
            await store.enqueue([notice(link, f"<p>message {m}</p>", f"m{n}-{m}") for m in range(messages)])
    finally:
        await store.close()


async def replica(url: str, key: str, latency: float, sole: bool, ready: Event, go: Event) -> None:
    """One replica's dispatcher, from ``go`` until nothing is left to send."""
    store = await Store.open(url, key)
    leases = (SoleLeases if sole else Leases)(store, replica_id(), 15.0)
    dispatcher = Dispatcher(store, {Platform.TELEGRAM: SlowPlatform(latency)}, OutboxSettings(), leases=leases)
    ready.set()
    await asyncio.to_thread(go.wait)
    tasks = [asyncio.create_task(dispatcher.run(tick=0.2)), asyncio.create_task(leases.run())]
    try:
        while True:
            if not await store.pending_lanes(sending=True):
                break
            await asyncio.sleep(0.5)  # the check is a query: not so often that it weighs
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await leases.close()
        await store.close()


def run_replica(url: str, key: str, latency: float, sole: bool, ready: Event, go: Event) -> None:
    asyncio.run(replica(url, key, latency, sole, ready, go))


def measure(url: str, replicas: int, lanes: int, messages: int, latency: float) -> float:
    """Seconds for ``replicas`` processes to send everything queued in ``url``."""
    key = new_key()
    asyncio.run(fill(url, key, lanes, messages))
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    readies = [context.Event() for _ in range(replicas)]
    sole = url.startswith("sqlite")
    processes = [
        context.Process(target=run_replica, args=(url, key, latency, sole, readies[n], go)) for n in range(replicas)
    ]
    for process in processes:
        process.start()
    for ready in readies:
        if not ready.wait(120):
            raise SystemExit("a replica did not get ready in 120 s")
    started = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    sent = asyncio.run(count_sent(url, key))
    assert sent == lanes * messages, (sent, lanes * messages)
    return seconds


async def count_sent(url: str, key: str) -> int:
    store = await Store.open(url, key)
    try:
        return len(await store.deliveries(status=DeliveryStatus.SENT))
    finally:
        await store.close()


def main(lanes: int, messages: int, latency: float) -> None:
    total = lanes * messages
    tmp = Path(tempfile.mkdtemp())
    rows = [("SQLite (baseline)", 1, measure(f"sqlite+aiosqlite:///{tmp / 'b.db'}", 1, lanes, messages, latency))]
    server, stop = postgres.start(tmp)
    try:
        for replicas in (1, 2, 3):
            url = postgres.create_database(server, f"bench{replicas}")
            rows.append(("PostgreSQL", replicas, measure(url, replicas, lanes, messages, latency)))
    finally:
        stop()
    print(f"replicas bench: {lanes} lanes x {messages} deliveries = {total}, platform latency {latency * 1000:.0f} ms")
    print(f"{'store':<20}{'replicas':>10}{'seconds':>10}{'deliveries/s':>14}")
    for store, replicas, seconds in rows:
        print(f"{store:<20}{replicas:>10}{seconds:>10.2f}{total / seconds:>14.0f}")


if __name__ == "__main__":
    given = sys.argv[1:4]
    main(
        int(given[0]) if len(given) > 0 else 50,
        int(given[1]) if len(given) > 1 else 40,
        float(given[2]) if len(given) > 2 else 0.02,
    )
