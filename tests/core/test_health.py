"""Liveness tells a stopped loop from a running one, and says which and why."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridge.health import Health
from bridge.lms.client import LmsClient
from bridge.metrics import Metrics
from bridge.store.crypto import new_key
from bridge.store.store import Store


async def test_liveness_names_a_loop_that_died(tmp_path: Path) -> None:
    async def crashes() -> None:
        raise RuntimeError("disk on fire")

    running = asyncio.create_task(asyncio.sleep(3600), name="dispatcher")
    died = asyncio.create_task(crashes(), name="intake")
    await asyncio.gather(died, return_exceptions=True)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", new_key())
    try:
        async with LmsClient("http://127.0.0.1:9") as client:
            tasks = [running]
            health = Health(store, client, {}, lambda: tasks, Metrics(), dict)
            alive = health.liveness()
            tasks.append(died)
            dead = health.liveness()
    finally:
        running.cancel()
        await store.close()
    assert alive["ok"] is True and alive["problems"] == []
    assert dead["ok"] is False
    assert dead["problems"] == ["intake loop stopped: RuntimeError('disk on fire')"]
