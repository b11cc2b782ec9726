"""Message map retention: rows older than the configured age are forgotten, in chunks;
newer ones stay, so replies to recent copies keep routing by the map."""

from __future__ import annotations

import time

from sqlalchemy import update

from bridge.router import notice
from bridge.store.records import DeliveryStatus, MapEntry
from bridge.store.schema import message_map
from bridge.store.store import Store
from tests.core.test_outbox import make_link

DAY = 86400.0


async def test_rows_older_than_the_retention_are_pruned_and_newer_kept(store: Store) -> None:
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, f"<p>{n}</p>", f"k{n}") for n in range(7)])
    for n, delivery in enumerate(await store.deliveries(status=DeliveryStatus.PENDING)):
        entry = MapEntry(delivery.item_key, ann.id, 1, 5, ann.identity.platform, "", "ann", f"m{n}", None)
        await store.mark_sent(delivery, [{"room": "ann", "message_id": f"m{n}", "thread": None}], [entry])
    # Five copies were sent 100 days ago, two today.
    async with store.engine.begin() as conn:
        old = [f"m{n}" for n in range(5)]
        await conn.execute(
            update(message_map).where(message_map.c.remote_id.in_(old)).values(created_at=time.time() - 100 * DAY)
        )

    assert await store.prune_message_map(90 * DAY, chunk=2) == 5  # in chunks of two, to the end
    assert [await store.find_remote(ann.identity, "ann", f"m{n}") is None for n in range(7)] == [True] * 5 + [False] * 2
    assert await store.prune_message_map(90 * DAY) == 0
