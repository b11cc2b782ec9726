"""Who the regular poll reads while pushes work: the schedule the push monitor gives the pipeline."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from bridge.config import load_settings
from bridge.lms.client import LmsClient
from bridge.lms.devices import DeviceRegistry
from bridge.lms.push import PushMonitor
from bridge.store.crypto import new_key
from bridge.store.push_devices import PushDevice, PushDevices
from bridge.store.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def monitor_of(tmp_path: Path, covered: Iterable[int], **push: Any) -> AsyncIterator[tuple[PushMonitor, Clock]]:
    """A push monitor on a hand-moved clock, with a device for each of ``covered``."""
    settings = load_settings(
        None,
        lms={"url": "http://127.0.0.1:9"},
        store={"token_key": new_key()},
        push={"enabled": True, "access_key": "k", **push},
    )
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", new_key())
    try:
        rows = PushDevices(store)
        for uid in covered:
            await rows.create(PushDevice(uid, uid, f"p{uid}", f"u{uid}", "com.moodle.moodlemobile", 1, None))
        async with LmsClient("http://127.0.0.1:9") as client:  # never called: the rows are already there
            devices = DeviceRegistry(store, client, "com.moodle.moodlemobile")
            await devices.load()
            clock = Clock()
            yield PushMonitor(settings.push, devices, clock), clock
    finally:
        await store.close()


async def test_pushed_people_are_swept_spread_over_the_interval_and_others_polled(tmp_path: Path) -> None:
    covered = range(1, 201)
    push = {"sweep_interval": 300, "idle_sweep_interval": 300, "stale_after": 60}
    async with monitor_of(tmp_path, covered, **push) as (monitor, clock):
        # Until the site has pushed, everyone is polled.
        assert monitor.state == "waiting" and all(monitor.due(uid) for uid in [*covered, 999])
        for uid in [*covered, 999]:
            monitor.polled(uid, 0)
        monitor.heard()
        due_per_cycle = []
        for _ in range(30):  # 30 cycles of 10 s: one sweep interval
            clock.now += 10
            due = [uid for uid in covered if monitor.due(uid)]
            for uid in due:
                monitor.polled(uid, 0)
            due_per_cycle.append(len(due))
            assert monitor.due(999)  # no device: polled every cycle
        # Each pushed person swept once per interval, never all in one cycle.
        assert sum(due_per_cycle) == len(covered)
        assert max(due_per_cycle) <= 20
        # A sweep that finds something after a long silence: pushes stopped, everyone polled.
        clock.now += 61
        monitor.polled(1, 2)
        assert monitor.state == "stopped" and all(monitor.due(uid) for uid in covered)
        monitor.heard()
        assert monitor.state == "ok" and monitor.health()["devices"] == len(covered)


async def test_idle_pushed_people_are_swept_rarely_active_ones_at_the_sweep_interval(tmp_path: Path) -> None:
    async with monitor_of(tmp_path, (1, 2), sweep_interval=300, idle_sweep_interval=900) as (monitor, clock):
        monitor.heard()
        sweeps = {1: 0, 2: 0}
        for _ in range(180):  # 30 minutes of 10 s cycles
            clock.now += 10
            monitor.active(2)  # something keeps arriving for person 2
            for uid in sweeps:
                if monitor.due(uid):
                    sweeps[uid] += 1
                    monitor.polled(uid, 0)
    assert sweeps == {1: 2, 2: 6}  # idle: every 15 minutes (was every 5), active: every 5
