"""Benchmark: poll cycles over 100, 1,000 and 10,000 idle linked people (issue 19).

The real pipeline (``bridge.app.build_pipeline``, default settings, ``lms.poll_interval``
10 s) against the sandbox LMS, which counts every web-service call. The bridge runs in a
child process of its own and the sandbox LMS in this one, so the CPU and RSS printed are the
bridge's alone: the sandbox LMS (its users, tokens and conversations) is no longer included.
Twice: with the LMS answering at once, and with every answer 50 ms late (``set_latency``).

This process sets up each size (LMS users and tokens, links and intake baselines in a
SQLite store, the message map), then starts the bridge child once per latency. The child
opens the store, builds the pipeline, runs the warm-up cycles, prints "warm" and waits for a
line on stdin; the LMS calls are counted from then until it prints its figures (JSON: cycle
durations, its CPU over the measured cycles, its RSS and peak RSS at the end).

Cycles run back to back; where the pipeline reads people by cadence (idle people less
often), its clocks move on 10 s per cycle, so a few real minutes stand for the steady state
of an idle site: figures are over ``MEASURED`` cycles after ``WARM_UP`` cycles. A pipeline
without cadences reads everyone every cycle: one cycle after one warm-up.

Printed per run: the first cycle, the mean and longest measured cycle against the interval,
LMS calls per person per cycle, bridge CPU per person per cycle, and the bridge process's
RSS at the end and its peak RSS. For a baseline, run this same script with another
checkout's code first on the path (the bridge child inherits PYTHONPATH):
    git worktree add --detach /tmp/base main
    PYTHONPATH=/tmp/base .venv/bin/python bench/bench_scale.py
Run: .venv/bin/python bench/bench_scale.py [SIZES, e.g. 100,1000] [LATENCIES, e.g. 0,0.05]
     [MAP_ROWS, e.g. 1000000]
MAP_ROWS fills the message map with that many rows (spread over the people) before the
cycles, as a site keeps for its retention period. With PLUTO_BENCH_TRACEMALLOC=1 the bridge
child is traced from its interpreter's start (imports included) and also reports its RSS after
the imports, its RSS split into anonymous and file-backed pages, the traced heap beside
tracemalloc's own cost, and the ten places that hold the most Python memory at its end
(tracing inflates the RSS and CPU of that run).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # the bridge child does not load the sandbox: only this process runs it
    from sandbox.lms import SandboxLMS

INTERVAL = 10.0
WARM_UP = 24  # simulated cycles: past every idle person's first read (spread over their gap)
MEASURED = 12  # two minutes of an idle site
KEY_ENV = "PLUTO_BENCH_TOKEN_KEY"  # the store's token key, for the bridge child (not on its argv)
WARM = "warm"
SELF = Path(__file__).resolve()


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
    rss_mib: float  # the bridge process at the end
    peak_mib: float  # the bridge process's peak
    top: list[str]  # with PLUTO_BENCH_TRACEMALLOC=1: the lines holding the most memory


def rss_mib() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    """This process's largest resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


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


async def bridge_side(store_url: str, lms_url: str) -> dict[str, Any]:
    """The bridge child: warm-up cycles, "warm", a line on stdin, then the measured cycles;
    returns the cycle durations, the CPU of the measured cycles and the memory at the end."""
    at_start = rss_mib()  # the interpreter and the imported code, before any work
    key = os.environ[KEY_ENV]
    store = await Store.open(store_url, key)
    settings = load_settings(None, lms={"url": lms_url, "poll_interval": INTERVAL}, store={"token_key": key})
    rate = "max_requests_per_second"
    budget = {rate: getattr(settings.lms, rate)} if rate in LmsSettings.model_fields else {}
    try:
        async with LmsClient(lms_url, timeout=300, **budget) as client:
            pipeline = build_pipeline(settings, store, client)
            clock = SimClock()
            warm_up, measured = on_sim_clock(pipeline, clock, (1, 1))
            durations: list[float] = []
            for _ in range(warm_up):
                durations.append(await cycle(pipeline, client, clock, durations))
            print(WARM, flush=True)
            await asyncio.to_thread(sys.stdin.readline)  # the parent has counted the LMS's calls
            cpu = time.process_time()
            steady: list[float] = []
            for _ in range(measured):
                steady.append(await cycle(pipeline, client, clock, steady))
            cpu = time.process_time() - cpu
            return {
                "first": durations[0],
                "steady": steady,
                "cpu": cpu,
                "rss_mib": rss_mib(),
                "peak_mib": peak_rss_mib(),
                "top": top_memory(at_start) if tracemalloc.is_tracing() else [],
            }
    finally:
        await store.close()


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


def top_memory(at_start: float) -> list[str]:
    """Where the memory is: RSS after the imports, RSS split into anonymous (heaps) and
    file-backed (mapped files) pages, the traced Python heap beside tracemalloc's own cost,
    and the ten source lines holding the most traced memory."""
    with open("/proc/self/status") as f:
        kib = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in f) if k in ("RssAnon", "RssFile")}
    traced, peak = tracemalloc.get_traced_memory()
    summary = (
        f"RSS after imports {at_start:.0f} MiB; at the end anonymous {kib['RssAnon'] / 2**10:.0f} MiB,"
        f" file-backed {kib['RssFile'] / 2**10:.0f} MiB;"
        f" traced Python heap {traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f}),"
        f" tracemalloc's own {tracemalloc.get_tracemalloc_memory() / 2**20:.1f} MiB"
    )
    return [summary] + [
        f"{stat.size / 2**20:7.1f} MiB {stat.count:>9} blocks  {stat.traceback[0]}"
        for stat in tracemalloc.take_snapshot().statistics("lineno")[:10]
    ]


async def measure(lms: SandboxLMS, store_url: str, key: str, people: int, latency: float) -> Figures:
    """Run the bridge child against ``lms`` answering after ``latency`` seconds, counting the
    LMS's calls over its measured cycles only."""
    lms.set_latency(latency)
    # Traced from the interpreter's start, so the imported code's memory shows too.
    trace = {"PYTHONTRACEMALLOC": "1"} if os.environ.get("PLUTO_BENCH_TRACEMALLOC") == "1" else {}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SELF), "--bridge", store_url, lms.url,
        env={**os.environ, KEY_ENV: key, **trace}, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    while (line := await proc.stdout.readline()) and line.strip() != WARM.encode():
        pass  # anything the bridge wrote to stdout before it was warm
    if not line:
        raise RuntimeError(f"the bridge child failed during the warm-up (exit {await proc.wait()})")
    calls = len(lms.calls)
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    out = await proc.stdout.read()
    calls = len(lms.calls) - calls
    if await proc.wait() != 0:
        raise RuntimeError(f"the bridge child failed (exit {proc.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    steady = result["steady"]
    per_cycle = people * len(steady)
    return Figures(
        first=result["first"],
        mean=sum(steady) / len(steady),
        longest=max(steady),
        calls=calls / per_cycle,
        cpu_ms=result["cpu"] / per_cycle * 1000,
        rss_mib=result["rss_mib"],
        peak_mib=result["peak_mib"],
        top=result["top"],
    )


async def main(sizes: list[int], latencies: list[float], map_rows: int = 0) -> None:
    from sandbox.lms import SandboxLMS

    print(f"scale bench: idle linked people, lms.poll_interval {INTERVAL:.0f} s, default settings")
    print("bridge in a process of its own: CPU and RSS without the sandbox LMS")
    head = f"{'people':>7}{'LMS ms':>8}{'first s':>9}{'mean s':>8}{'max s':>8}"
    print(head + f"{'calls/person/cycle':>20}{'CPU ms/person/cycle':>21}{'RSS MiB':>9}{'peak MiB':>10}")
    if map_rows:
        print(f"message map: {map_rows:,} rows")
    for people in sizes:
        lms = SandboxLMS()
        await lms.start()
        key = new_key()
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "b.db"
            store_url = f"sqlite+aiosqlite:///{db}"
            store = await Store.open(store_url, key)
            links = await link_everyone(store, lms, people)
            await store.close()
            if map_rows:
                fill_message_map(db, links, map_rows)
            for latency in latencies:
                f = await measure(lms, store_url, key, people, latency)
                print(
                    f"{people:>7}{latency * 1000:>8.0f}{f.first:>9.2f}{f.mean:>8.2f}{f.longest:>8.2f}"
                    f"{f.calls:>20.2f}{f.cpu_ms:>21.3f}{f.rss_mib:>9.0f}{f.peak_mib:>10.0f}",
                    flush=True,
                )
                for top in f.top:
                    print(f"    {top}")
        await lms.stop()
    print(f"goal: 10,000 within {INTERVAL:.0f} s locally; <= 1 LMS call per idle person per cycle")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--bridge"]:
        print(json.dumps(asyncio.run(bridge_side(args[1], args[2]))), flush=True)
        sys.exit(0)
    sizes = [int(s) for s in (args[0] if args else "100,1000,10000").split(",")]
    latencies = [float(s) for s in (args[1] if len(args) > 1 else "0,0.05").split(",")]
    map_rows = int(args[2]) if len(args) > 2 else 0
    asyncio.run(main(sizes, latencies, map_rows))
