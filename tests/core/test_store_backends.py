"""The test stores themselves: each store_url opens as a migrated, empty store."""

from __future__ import annotations

from bridge.store.store import Store
from tests.e2e.harness import SECRET_KEY


async def test_store_url_opens_a_migrated_empty_store(store_url: str) -> None:
    store = await Store.open(store_url, SECRET_KEY)
    try:
        assert await store.active_links() == []
    finally:
        await store.close()
