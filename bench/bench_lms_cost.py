"""Benchmark: LMS calls per idle person per minute, and how long one cycle takes, with push
(read on push plus a sweep every ``push.sweep_interval``) and without (poll everyone every
``lms.poll_interval``), for 100, 1,000 and 10,000 linked people nobody writes to.

The real pipeline against the sandbox LMS, which counts every web-service call.
With push: one sweep interval of cycles (30 cycles of 10 s) on the push monitor's clock, each
person's sweep a full read with fresh site info (the steady state: both caches are shorter
than the sweep); figures are calls over that interval and the longest cycle. Without push:
two real cycles, the first with the pipeline's periodic full read, the second steady; per
minute that is one full read and steady cycles for the rest, never more cycles than fit when
a cycle outlasts its interval.
Run: .venv/bin/python bench/bench_lms_cost.py [SIZES, e.g. 100,1000]
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bridge import pipeline as bridge_pipeline
from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.client import LmsClient
from bridge.lms.devices import DeviceRegistry
from bridge.lms.intake import BASELINE
from bridge.lms.notifications import NOTIFICATIONS
from bridge.lms.push import PushMonitor
from bridge.model import ChatIdentity, Cursor, Platform
from bridge.pipeline import Pipeline
from bridge.store.crypto import new_key
from bridge.store.push_devices import PushDevice, PushDevices
from bridge.store.store import Store
from sandbox.lms import SandboxLMS

POLL_INTERVAL = 10.0
SWEEP_INTERVAL = 300.0
FULL_READ_EVERY = 60.0  # the pipeline's sweep_every: a full read of each polled person


@dataclass(frozen=True)
class Cost:
    full_calls: int  # push: calls over one sweep interval; poll: a cycle that reads everyone in full
    steady_calls: int  # poll: calls of the next cycle
    full_seconds: float  # push: the longest cycle; poll: the full cycle
    steady_seconds: float  # push: the shortest cycle

    def per_person_minute(self, people: int, push: bool) -> float:
        if push:
            return self.full_calls / people * 60 / SWEEP_INTERVAL
        cycles = 60 / max(POLL_INTERVAL, self.steady_seconds)
        fulls = 60 / max(FULL_READ_EVERY, self.full_seconds)
        return (self.full_calls * fulls + self.steady_calls * max(0.0, cycles - fulls)) / people


class SweepClock:
    """The push monitor's clock, moved on by hand: a sweep interval in a few real seconds."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


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
    async with LmsClient(lms.url, timeout=120) as client:
        monitor = None
        clock = SweepClock()
        devices = DeviceRegistry(store, client, settings.push.mobile_app_name)
        if push:
            monitor = PushMonitor(settings.push, devices, clock)
        pipeline = build_pipeline(settings, store, client, schedule=monitor)
        rows = PushDevices(store)
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
            # Linked earlier: the baseline is taken and (with push) the device registered.
            await store.commit_intake(
                uid, {BASELINE: Cursor(0, frozenset()), NOTIFICATIONS: Cursor(0, frozenset())}, []
            )
            if push:
                push_id = secrets.token_hex(16)
                await rows.create(PushDevice(link.id, uid, push_id, push_id, "com.moodle.moodlemobile", 1, None))
        await devices.load()
        if monitor is not None:
            return await sweep_interval(lms, pipeline, monitor, clock)
        before = len(lms.calls)
        started = time.perf_counter()
        await pipeline.poll_once()
        full_seconds = time.perf_counter() - started
        full_calls = len(lms.calls) - before
        before = len(lms.calls)
        started = time.perf_counter()
        await pipeline.poll_once()
        steady_seconds = time.perf_counter() - started
        steady_calls = len(lms.calls) - before
    await store.close()
    await lms.stop()
    return Cost(full_calls, steady_calls, full_seconds, steady_seconds)


async def sweep_interval(lms: SandboxLMS, pipeline: Pipeline, monitor: PushMonitor, clock: SweepClock) -> Cost:
    """Cycles over one sweep interval once the site has pushed (people linked before)."""
    for uid in monitor.devices.covered_users():
        monitor.polled(uid, 0)  # everyone was polled while the site had not pushed yet
    monitor.heard()
    site_ttl, bridge_pipeline.SITE_TTL = bridge_pipeline.SITE_TTL, 0.0  # 300 s of real time: stale at each sweep
    pipeline.sweep_every = 0.0  # likewise the 60 s full read
    before = len(lms.calls)
    durations = []
    try:
        for _ in range(int(SWEEP_INTERVAL / POLL_INTERVAL)):
            clock.now += POLL_INTERVAL
            started = time.perf_counter()
            await pipeline.poll_once()
            durations.append(time.perf_counter() - started)
    finally:
        bridge_pipeline.SITE_TTL = site_ttl
    calls = len(lms.calls) - before
    await pipeline.store.close()
    await lms.stop()
    return Cost(calls, 0, max(durations), min(durations))


async def main(sizes: list[int]) -> None:
    print(
        f"LMS cost bench: idle linked people; poll every {POLL_INTERVAL:.0f} s, push sweep every {SWEEP_INTERVAL:.0f} s"
    )
    print(f"{'people':>8}{'calls/person/min':>20}{'longest cycle (s)':>26}{'shortest cycle (s)':>26}")
    print(f"{'':>8}{'push':>10}{'poll':>10}{'push':>13}{'poll':>13}{'push':>13}{'poll':>13}   goal: push <= 0.2 calls")
    for people in sizes:
        on = await measure(people, push=True)
        off = await measure(people, push=False)
        print(
            f"{people:>8}{on.per_person_minute(people, True):>10.2f}{off.per_person_minute(people, False):>10.2f}"
            f"{on.full_seconds:>13.2f}{off.full_seconds:>13.2f}{on.steady_seconds:>13.2f}{off.steady_seconds:>13.2f}",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main([int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "100,1000,10000").split(",")]))
