"""How many people a cycle reads at once follows the LMS's latency (issue 19)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bridge.lms.in_flight import InFlightLimit


@dataclass
class Client:
    """What the limit reads of the LMS client: its request budget and measured latency."""

    max_requests_per_second: float | None
    latency: float


async def inside_at_once(limit: InFlightLimit, holders: int) -> int:
    inside = 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal inside
        async with limit:
            inside += 1
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(holders)]
    for _ in range(20):  # let every task reach the limit
        await asyncio.sleep(0)
    seen = inside
    release.set()
    await asyncio.gather(*tasks)
    return seen


async def test_a_slow_lms_gets_more_people_at_once_within_the_ceiling() -> None:
    client = Client(max_requests_per_second=200, latency=0.001)
    limit = InFlightLimit(client, floor=8, ceiling=64)
    assert await inside_at_once(limit, 100) == 8  # a fast LMS: the floor is plenty for the budget
    client.latency = 0.05  # 200 a second at 50 ms: 10 in flight, plus headroom
    assert await inside_at_once(limit, 100) == 15
    client.latency = 2.0
    assert await inside_at_once(limit, 100) == 64  # never beyond the ceiling
