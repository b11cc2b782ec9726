"""What the store promises on every database (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from bridge.router import notice
from bridge.store.store import Store
from tests.core.test_outbox import make_link
from tests.e2e.harness import SECRET_KEY


async def test_store_url_opens_a_migrated_empty_store(store_url: str) -> None:
    store = await Store.open(store_url, SECRET_KEY)
    try:
        assert await store.active_links() == []
    finally:
        await store.close()


async def test_queueing_counts_only_the_new_deliveries(store: Store) -> None:
    # The count wakes the dispatcher at once; on PostgreSQL an executemany reports no row
    # count, so every intake looked like "nothing new" and sends waited for the next timer.
    ann = await make_link(store, "ann", 1)
    assert await store.enqueue([notice(ann, f"<p>{n}</p>", f"k{n}") for n in range(3)]) == 3
    assert await store.enqueue([notice(ann, f"<p>{n}</p>", f"k{n}") for n in range(4)]) == 1
    assert len(await store.deliveries(link_id=ann.id)) == 4
