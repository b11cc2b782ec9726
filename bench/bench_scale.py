"""Benchmark: poll cycles over 100, 1,000 and 10,000 idle linked people (issue 19).

The real pipeline (``bridge.app.build_pipeline``, default settings, ``lms.poll_interval``
10 s) against the sandbox LMS, which counts every web-service call and runs on its own
thread and event loop, so that the bridge's CPU is the process's minus the LMS thread's.
Twice: with the LMS answering at once, and with every answer 50 ms late (``set_latency``).

Cycles run back to back; where the pipeline reads people by cadence (idle people less
often), its clocks move on 10 s per cycle, so a few real minutes stand for the steady state
of an idle site: figures are over ``MEASURED`` cycles after ``WARM_UP`` cycles. A pipeline
without cadences (today's main) reads everyone every cycle: one cycle after one warm-up.

Printed per run: the first cycle, the mean and longest measured cycle against the interval,
LMS calls per person per cycle, bridge CPU per person per cycle, and the process's RSS
(sandbox LMS included). Run it on a checkout of main for the baseline:
    git worktree add --detach /tmp/base main
    (cd /tmp/base && PYTHONPATH=/tmp/base .../.venv/bin/python bench/bench_scale.py)
Run: .venv/bin/python bench/bench_scale.py [SIZES, e.g. 100,1000] [LATENCIES, e.g. 0,0.05]
     [MAP_ROWS, e.g. 1000000]
MAP_ROWS fills the message map with that many rows (spread over the people) before the
cycles, as a site keeps for its retention period. With PLUTO_BENCH_TRACEMALLOC=1 it also
prints the ten places that hold the most Python memory at the end of each size.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import resource
import sqlite3
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter

from bridge.app import build_pipeline
from bridge.config import LmsSettings, load_settings
from bridge.lms.client import LmsClient
from bridge.lms.intake import BASELINE
from bridge.lms.notifications import NOTIFICATIONS
from bridge.model import ChatIdentity, Cursor, Platform
from bridge.store.crypto import new_key
from bridge.store.records import Link
from bridge.store.store import Store
from sandbox.lms import SandboxLMS

INTERVAL = 10.0
WARM_UP = 24  # simulated cycles: past every idle person's first read (spread over their gap)
MEASURED = 12  # two minutes of an idle site
T = TypeVar("T")


class LmsThread:
    """The sandbox LMS on a thread of its own, with its own event loop."""

    def __init__(self) -> None:
        self.lms = SandboxLMS()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self.lms.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def cpu(self) -> float:
        """CPU seconds the LMS thread has used."""
        future: concurrent.futures.Future[float] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(lambda: future.set_result(time.thread_time()))
        return future.result()

    def stop(self) -> None:
        self.run(self.lms.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


class SimClock:
    """The cadences' clock: one interval per cycle."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Figures:
    first: float
    mean: float
    longest: float
    calls: float  # per person per cycle
    cpu_ms: float  # bridge CPU per person per cycle
    rss_mib: float


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def link_everyone(store: Store, lms: SandboxLMS, people: int) -> list[Link]:
    """People linked earlier: baseline taken, nobody writes to them."""
    links = []
    for n in range(people):
        uid = lms.create_user(f"idle{n}", firstname="Idle", lastname=str(n))
        link = await store.save_link(
            ChatIdentity(Platform.TELEGRAM, "", str(n)),
            lms_user_id=uid,
            lms_username=f"idle{n}",
            lms_fullname=f"Idle {n}",
            token=lms.issue_token(uid),
            room=str(n),
            address=None,
        )
        await store.commit_intake(uid, {BASELINE: Cursor(0, frozenset()), NOTIFICATIONS: Cursor(0, frozenset())}, [])
        links.append(link)
    return links


def fill_message_map(db: Path, links: list[Link], rows: int) -> None:
    """``rows`` message-map rows spread over ``links``, written in one transaction with
    executemany straight to the SQLite file (the store's own path is one row at a time)."""
    mapped = (
        "INSERT INTO message_map (item_key, link_id, lms_user_id, conversation_id, platform, workspace, room,"
        " remote_id, thread, part, created_at) VALUES (?, ?, ?, ?, 'telegram', '', ?, ?, NULL, 0, ?)"
    )
    now = time.time()
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            mapped,
            (
                (f"msg:{n}", link.id, link.lms_user_id, n // 10, link.room, str(n), now)
                for n in range(rows)
                for link in (links[n % len(links)],)
            ),
        )
    conn.close()


def on_sim_clock(pipeline: Any, clock: SimClock, baseline_cycles: tuple[int, int]) -> tuple[int, int]:
    """Put the pipeline's cadences on ``clock``; returns the cycles to warm up and to measure
    (``baseline_cycles`` for a pipeline without cadences, which reads everyone every cycle)."""
    cadences = [getattr(pipeline, name) for name in ("message_cadence", "notice_cadence") if hasattr(pipeline, name)]
    for cadence in cadences:
        cadence.clock, cadence.started = clock, clock()
    return (WARM_UP, MEASURED) if cadences else baseline_cycles


async def measure(side: LmsThread, store: Store, people: int, latency: float) -> Figures:
    lms = side.lms
    side.run(_set_latency(lms, latency))
    settings = load_settings(None, lms={"url": lms.url, "poll_interval": INTERVAL}, store={"token_key": new_key()})
    rate = "max_requests_per_second"
    budget = {rate: getattr(settings.lms, rate)} if rate in LmsSettings.model_fields else {}
    async with LmsClient(lms.url, timeout=300, **budget) as client:
        pipeline = build_pipeline(settings, store, client)
        clock = SimClock()
        warm_up, measured = on_sim_clock(pipeline, clock, (1, 1))
        durations: list[float] = []
        for _ in range(warm_up):
            durations.append(await cycle(pipeline, client, clock, durations))
        calls, cpu, lms_cpu = len(lms.calls), time.process_time(), side.cpu()
        steady: list[float] = []
        for _ in range(measured):
            steady.append(await cycle(pipeline, client, clock, steady))
        bridge_cpu = (time.process_time() - cpu) - (side.cpu() - lms_cpu)
        per_cycle = people * measured
        return Figures(
            first=durations[0],
            mean=sum(steady) / len(steady),
            longest=max(steady),
            calls=(len(lms.calls) - calls) / per_cycle,
            cpu_ms=bridge_cpu / per_cycle * 1000,
            rss_mib=rss_mib(),
        )


async def cycle(pipeline: Any, client: LmsClient, clock: SimClock, before: list[float]) -> float:
    """One cycle, ``INTERVAL`` on the cadences' clock; returns its real duration."""
    clock.now += INTERVAL
    limiter = getattr(client, "_limiter", None)
    if limiter is not None and (not before or before[-1] < INTERVAL - 1):
        # The real loop sleeps out the rest of the interval, and the request budget's bucket
        # fills up meanwhile (one second's worth): cycles here run back to back.
        client._limiter = AsyncLimiter(limiter.max_rate, limiter.time_period)
    started = time.perf_counter()
    await pipeline.poll_once()
    return time.perf_counter() - started


async def _set_latency(lms: SandboxLMS, seconds: float) -> None:
    lms.set_latency(seconds)


def print_top_memory() -> None:
    """The ten source lines holding the most traced memory."""
    for stat in tracemalloc.take_snapshot().statistics("lineno")[:10]:
        print(f"    {stat.size / 2**20:7.1f} MiB {stat.count:>9} blocks  {stat.traceback[0]}")


async def main(sizes: list[int], latencies: list[float], map_rows: int = 0) -> None:
    print(f"scale bench: idle linked people, lms.poll_interval {INTERVAL:.0f} s, default settings")
    head = f"{'people':>7}{'LMS ms':>8}{'first s':>9}{'mean s':>8}{'max s':>8}"
    print(head + f"{'calls/person/cycle':>20}{'CPU ms/person/cycle':>21}{'RSS MiB':>9}")
    if map_rows:
        print(f"message map: {map_rows:,} rows")
    traced = os.environ.get("PLUTO_BENCH_TRACEMALLOC") == "1"
    if traced:
        tracemalloc.start()
    for people in sizes:
        side = LmsThread()
        tmp = Path(tempfile.mkdtemp())
        store = await Store.open(f"sqlite+aiosqlite:///{tmp / 'b.db'}", new_key())
        links = await link_everyone(store, side.lms, people)
        if map_rows:
            fill_message_map(tmp / "b.db", links, map_rows)
        for latency in latencies:
            f = await measure(side, store, people, latency)
            print(
                f"{people:>7}{latency * 1000:>8.0f}{f.first:>9.2f}{f.mean:>8.2f}{f.longest:>8.2f}"
                f"{f.calls:>20.2f}{f.cpu_ms:>21.3f}{f.rss_mib:>9.0f}",
                flush=True,
            )
        if traced:
            print_top_memory()
        await store.close()
        side.stop()
    print(f"goal: 10,000 within {INTERVAL:.0f} s locally; <= 1 LMS call per idle person per cycle")


if __name__ == "__main__":
    args = sys.argv[1:]
    sizes = [int(s) for s in (args[0] if args else "100,1000,10000").split(",")]
    latencies = [float(s) for s in (args[1] if len(args) > 1 else "0,0.05").split(",")]
    map_rows = int(args[2]) if len(args) > 2 else 0
    asyncio.run(main(sizes, latencies, map_rows))
