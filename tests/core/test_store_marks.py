"""The dispatcher's marks on SQLite (``bridge.store.marks``): written on the event loop,
and handed to a waiting thread when another process holds the database's write lock, so
the loop never stalls on a lock and no mark is lost."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bridge.router import notice
from bridge.store.crypto import new_key
from bridge.store.records import DeliveryStatus, MapEntry
from bridge.store.store import Store
from tests.core.test_outbox import make_link


async def test_marks_wait_out_another_process_holding_the_write_lock(tmp_path: Path) -> None:
    database = tmp_path / "bridge.db"
    store = await Store.open(f"sqlite+aiosqlite:///{database}", new_key())
    try:
        ann = await make_link(store, "ann", 1)
        await store.enqueue([notice(ann, "<p>hello</p>", "k1")])
        [queued] = await store.deliveries(link_id=ann.id)
        other = sqlite3.connect(database, isolation_level=None)  # `pluto-bridge deliveries retry`, say
        other.execute("BEGIN IMMEDIATE")
        try:
            loop = asyncio.get_running_loop()
            sending = asyncio.create_task(store.mark_sending(queued.id))
            began = loop.time()
            for _ in range(20):  # the loop keeps running while the mark waits for the lock...
                await asyncio.sleep(0.01)
            # ...not stalled for a lock timeout (the waiting connection's is 5 s)
            assert loop.time() - began < 4 and not sending.done()
        finally:
            other.execute("COMMIT")
            other.close()
        assert await asyncio.wait_for(sending, 10)
        copy = MapEntry(queued.item_key, ann.id, 1, None, queued.platform, "", "ann", "m1", None)
        await store.mark_sent(queued, [{"room": "ann", "message_id": "m1", "thread": None}], [copy])
        [sent] = await store.deliveries(link_id=ann.id)
        assert sent.status == DeliveryStatus.SENT
        assert await store.find_remote(ann.identity, "ann", "m1") == copy
    finally:
        await store.close()
