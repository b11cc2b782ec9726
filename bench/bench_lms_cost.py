"""Benchmark: LMS calls per idle person per minute, and how long one cycle takes, with push
(read on push plus the safety sweep) and without (polling), for 100, 1,000 and 10,000
linked people nobody writes to.

The real pipeline against the sandbox LMS, which counts every web-service call, its clocks
moved on 10 s per cycle (``bench_scale``'s), so minutes of an idle site take a few real ones.
With push: the cycles of one idle sweep interval (``push.idle_sweep_interval``; 90 cycles of
10 s), each person's sweep a full read with fresh site info (the steady state: both caches
are shorter than the sweep). Without push: ``bench_scale``'s steady state of the polling
cadences (12 cycles after 24 of warm-up). A pipeline without cadences (today's main) reads
everyone every cycle; its per-minute figure counts the cycles that fit a minute.
Run: .venv/bin/python bench/bench_lms_cost.py [SIZES, e.g. 100,1000]
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_scale import SimClock, cycle, link_everyone, on_sim_clock

from bridge import pipeline as bridge_pipeline
from bridge.app import build_pipeline
from bridge.config import LmsSettings, load_settings
from bridge.lms.client import LmsClient
from bridge.lms.devices import DeviceRegistry
from bridge.lms.push import PushMonitor
from bridge.pipeline import Pipeline
from bridge.store.crypto import new_key
from bridge.store.push_devices import PushDevice, PushDevices
from bridge.store.store import Store
from sandbox.lms import SandboxLMS

POLL_INTERVAL = 10.0
SWEEP_INTERVAL = 300.0


@dataclass(frozen=True)
class Cost:
    calls: int  # over the measured cycles
    seconds: float  # simulated time they stand for
    longest: float  # real seconds of the longest measured cycle
    shortest: float

    def per_person_minute(self, people: int) -> float:
        # A cycle that outlasts its interval stretches the minute: fewer cycles fit.
        stretch = max(1.0, self.longest / POLL_INTERVAL)
        return self.calls / people * 60 / self.seconds / stretch


async def measure(people: int, *, push: bool) -> Cost:
    lms = SandboxLMS()
    await lms.start()
    tmp = Path(tempfile.mkdtemp())
    settings = load_settings(
        None,
        lms={"url": lms.url, "poll_interval": POLL_INTERVAL, "poll_concurrency": 8},
        store={"url": f"sqlite+aiosqlite:///{tmp / 'b.db'}", "token_key": new_key()},
        push={"enabled": push, "access_key": "k", "sweep_interval": SWEEP_INTERVAL},
    )
    store = await Store.open(settings.store.url, settings.store.token_key.get_secret_value())
    rate = "max_requests_per_second"
    budget = {rate: getattr(settings.lms, rate)} if rate in LmsSettings.model_fields else {}
    async with LmsClient(lms.url, timeout=120, **budget) as client:
        monitor = None
        clock = SimClock()
        devices = DeviceRegistry(store, client, settings.push.mobile_app_name)
        if push:
            monitor = PushMonitor(settings.push, devices, clock)
        pipeline = build_pipeline(settings, store, client, schedule=monitor)
        rows = PushDevices(store)
        for link in await link_everyone(store, lms, people):
            if push:  # linked earlier: the device is registered too
                push_id = secrets.token_hex(16)
                await rows.create(
                    PushDevice(link.id, link.lms_user_id, push_id, push_id, "com.moodle.moodlemobile", 1, None)
                )
        await devices.load()
        if monitor is not None:
            return await sweep_interval(lms, pipeline, client, monitor, clock, settings.push)
        warm_up, measured = on_sim_clock(pipeline, clock, (1, 2))
        done: list[float] = []
        for _ in range(warm_up):
            done.append(await cycle(pipeline, client, clock, done))
        before = len(lms.calls)
        durations: list[float] = []
        for _ in range(measured):
            durations.append(await cycle(pipeline, client, clock, durations))
        calls = len(lms.calls) - before
    await store.close()
    await lms.stop()
    return Cost(calls, measured * POLL_INTERVAL, max(durations), min(durations))


async def sweep_interval(
    lms: SandboxLMS, pipeline: Pipeline, client: LmsClient, monitor: PushMonitor, clock: SimClock, push: Any
) -> Cost:
    """Cycles over one idle sweep interval once the site has pushed (people linked before)."""
    for uid in monitor.devices.covered_users():
        monitor.polled(uid, 0)  # everyone was polled while the site had not pushed yet
    monitor.heard()
    site_ttl = bridge_pipeline.SITE_TTL
    if not hasattr(pipeline, "_site_fetch"):
        # Site info cached per token (today's main) for 300 s of real time: stale at each
        # sweep. Cached per site, it is asked once per 300 s for everyone: nothing per person.
        bridge_pipeline.SITE_TTL = 0.0
    pipeline.sweep_every = 0.0  # likewise the 60 s full read
    # The idle sweep where there is one (today's main: the sweep interval).
    window = getattr(push, "idle_sweep", push.sweep_interval)
    before = len(lms.calls)
    durations: list[float] = []
    try:
        for _ in range(int(window / POLL_INTERVAL)):
            durations.append(await cycle(pipeline, client, clock, durations))
    finally:
        bridge_pipeline.SITE_TTL = site_ttl
    calls = len(lms.calls) - before
    await pipeline.store.close()
    await lms.stop()
    return Cost(calls, window, max(durations), min(durations))


async def main(sizes: list[int]) -> None:
    print(f"LMS cost bench: idle linked people; poll every {POLL_INTERVAL:.0f} s, push sweep {SWEEP_INTERVAL:.0f} s")
    print(f"{'people':>8}{'calls/person/min':>20}{'longest cycle (s)':>26}{'shortest cycle (s)':>26}")
    print(f"{'':>8}{'push':>10}{'poll':>10}{'push':>13}{'poll':>13}{'push':>13}{'poll':>13}   goal: push <= 0.2 calls")
    for people in sizes:
        on = await measure(people, push=True)
        off = await measure(people, push=False)
        print(
            f"{people:>8}{on.per_person_minute(people):>10.2f}{off.per_person_minute(people):>10.2f}"
            f"{on.longest:>13.2f}{off.longest:>13.2f}{on.shortest:>13.2f}{off.shortest:>13.2f}",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main([int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "100,1000,10000").split(",")]))
