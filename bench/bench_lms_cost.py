"""Benchmark: LMS calls per idle person per minute, and how long one cycle takes, with push
(read on push plus a sweep every ``push.sweep_interval``) and without (poll everyone every
``lms.poll_interval``), for 100, 1,000 and 10,000 linked people nobody writes to.

The real pipeline against the sandbox LMS, which counts every web-service call. Per mode two
cycles are measured: the first reads everyone (with push: everyone's sweep is due; without:
the pipeline's own periodic full read is due), the second is a steady cycle (with push:
nobody is due). Per minute: one full read per person per sweep interval with push; without,
a full read per minute and steady cycles for the rest, at most one cycle per interval and
never more cycles than fit when a cycle outlasts its interval.
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

from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.client import LmsClient
from bridge.lms.devices import DeviceRegistry
from bridge.lms.intake import BASELINE
from bridge.lms.notifications import NOTIFICATIONS
from bridge.lms.push import PushMonitor
from bridge.model import ChatIdentity, Cursor, Platform
from bridge.store.crypto import new_key
from bridge.store.push_devices import PushDevice, PushDevices
from bridge.store.store import Store
from sandbox.lms import SandboxLMS

POLL_INTERVAL = 10.0
SWEEP_INTERVAL = 300.0
FULL_READ_EVERY = 60.0  # the pipeline's sweep_every: a full read of each polled person


@dataclass(frozen=True)
class Cost:
    full_calls: int  # calls of a cycle that reads everyone in full
    steady_calls: int  # calls of the next cycle
    full_seconds: float
    steady_seconds: float

    def per_person_minute(self, people: int, push: bool) -> float:
        if push:  # nobody is polled between sweeps
            return self.full_calls / people * 60 / SWEEP_INTERVAL
        cycles = 60 / max(POLL_INTERVAL, self.steady_seconds)
        fulls = 60 / max(FULL_READ_EVERY, self.full_seconds)
        return (self.full_calls * fulls + self.steady_calls * max(0.0, cycles - fulls)) / people


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
        devices = DeviceRegistry(store, client, settings.push.mobile_app_name)
        if push:
            monitor = PushMonitor(settings.push, devices)
            monitor.heard()  # the site has pushed: pushed people are read on push plus the sweep
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


async def main(sizes: list[int]) -> None:
    print(
        f"LMS cost bench: idle linked people; poll every {POLL_INTERVAL:.0f} s, push sweep every {SWEEP_INTERVAL:.0f} s"
    )
    head = f"{'people':>8}{'calls/person/min':>20}{'':>8}{'full cycle (s)':>18}{'':>8}{'steady cycle (s)':>18}{'':>8}"
    print(head)
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
