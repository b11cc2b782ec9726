"""Message map retention: rows older than the configured age are forgotten, in chunks;
newer ones stay, so replies to recent copies keep routing by the map."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.router import notice
from bridge.store.crypto import new_key
from bridge.store.records import MapEntry
from bridge.store.store import Store
from tests.core.test_outbox import make_link

DAY = 86400.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", new_key())
    yield s
    await s.close()


async def test_rows_older_than_the_retention_are_pruned_and_newer_kept(store: Store, tmp_path: Path) -> None:
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, f"<p>{n}</p>", f"k{n}") for n in range(7)])
    for n, delivery in enumerate(await store.deliveries(status="pending")):
        entry = MapEntry(delivery.item_key, ann.id, 1, 5, ann.identity.platform, "", "ann", f"m{n}", None)
        await store.mark_sent(delivery, [{"room": "ann", "message_id": f"m{n}", "thread": None}], [entry])
    # Five copies were sent 100 days ago, two today.
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute("UPDATE message_map SET created_at = ? WHERE remote_id IN ('m0','m1','m2','m3','m4')",
                     (time.time() - 100 * DAY,))  # fmt: skip

    assert await store.prune_message_map(90 * DAY, chunk=2) == 5  # in chunks of two, to the end
    assert [await store.find_remote(ann.identity, "ann", f"m{n}") is None for n in range(7)] == [True] * 5 + [False] * 2
    assert await store.prune_message_map(90 * DAY) == 0
