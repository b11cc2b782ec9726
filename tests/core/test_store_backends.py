"""What the store promises on every database (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bridge.model import ChatIdentity, Platform
from bridge.router import lane_of, notice
from bridge.store import operations
from bridge.store.migrate import HEAD, MIGRATIONS
from bridge.store.records import DeliveryStatus, MapEntry
from bridge.store.schema import message_map
from bridge.store.store import Store
from tests.core.test_outbox import make_link
from tests.e2e.harness import SECRET_KEY


async def test_store_url_opens_a_migrated_empty_store(store_url: str) -> None:
    store = await Store.open(store_url, SECRET_KEY)
    try:
        assert await store.active_links() == []
    finally:
        await store.close()


def test_head_names_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD


# Opens the store named by argv[1] in a fresh process; prints whether Alembic was imported.
_OPEN_AND_TELL = """
import asyncio, sys
from bridge.store.store import Store
async def main():
    store = await Store.open(sys.argv[1], sys.argv[2])
    await store.close()
asyncio.run(main())
print("alembic" in sys.modules)
"""


async def _opening_imports_alembic(url: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OPEN_AND_TELL, url, SECRET_KEY, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode().strip() == "True"


async def test_a_current_store_opens_without_running_alembic(store_url: str, tmp_path: Path) -> None:
    # A restart finds the schema current from its version row alone (a tenth of a start's
    # CPU went to importing Alembic); a new store still gets every migration.
    store = await Store.open(store_url, SECRET_KEY)
    await store.close()
    assert await _opening_imports_alembic(store_url) is False
    assert await _opening_imports_alembic(f"sqlite+aiosqlite:///{tmp_path / 'new.sqlite3'}") is True


async def test_queueing_counts_only_the_new_deliveries(store: Store) -> None:
    # The count wakes the dispatcher at once; on PostgreSQL an executemany reports no row
    # count, so every intake looked like "nothing new" and sends waited for the next timer.
    ann = await make_link(store, "ann", 1)
    assert await store.enqueue([notice(ann, f"<p>{n}</p>", f"k{n}") for n in range(3)]) == 3
    assert await store.enqueue([notice(ann, f"<p>{n}</p>", f"k{n}") for n in range(4)]) == 1
    assert len(await store.deliveries(link_id=ann.id)) == 4


async def test_the_dispatcher_marks_record_each_copy_once(store: Store) -> None:
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, f"<p>{n}</p>", f"k{n}") for n in range(2)])
    first, dropped = await store.deliveries(link_id=ann.id)
    refs = [{"room": "ann", "message_id": f"m{p}", "thread": None} for p in range(2)]
    copies = [
        MapEntry(first.item_key, ann.id, 1, 5, Platform.TELEGRAM, "", "ann", "m0", "t0"),
        MapEntry(first.item_key, ann.id, 1, None, Platform.TELEGRAM, "", "ann", "m1", None),
    ]
    assert await store.mark_sending(first.id)
    await store.mark_sent(first, refs, copies)
    await store.mark_sent(first, refs, copies)  # its copies are mapped already: no error, no second row
    [sent] = await store.deliveries(status=DeliveryStatus.SENT)
    assert (sent.id, sent.refs, sent.attempts) == (first.id, refs, 1)
    assert [await store.find_remote(ann.identity, "ann", f"m{p}") for p in range(2)] == copies
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(message_map))).scalar() == 2

    await operations.drop(store, dropped.id)  # its person unlinked, say, after it was read
    assert not await store.mark_sending(dropped.id)


# Each replica process: imports done, waits for the common start time, then opens the store.
REPLICA = """
import asyncio, sys, time
from bridge.store.store import Store

async def main() -> None:
    store = await Store.open(sys.argv[1], sys.argv[2])
    await store.close()

time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
asyncio.run(main())
"""


async def test_replicas_starting_together_on_an_empty_database_all_open_it(store_url: str) -> None:
    """Every replica migrates the store at start; on one empty database they take turns."""
    if store_url.startswith("sqlite"):
        pytest.skip("one process per SQLite file (bridge.store.lock)")
    engine = create_async_engine(store_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))  # the template's tables: empty again
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    at = str(time.time() + 8)  # after every process has imported the bridge, on a loaded machine
    replicas = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", REPLICA, store_url, SECRET_KEY, at, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    errors = [(await r.communicate())[1].decode() for r in replicas]
    assert [r.returncode for r in replicas] == [0, 0, 0], errors
    store = await Store.open(store_url, SECRET_KEY)
    try:
        assert await store.active_links() == []
    finally:
        await store.close()


async def test_long_platform_ids_and_names_fit_on_every_store(store: Store) -> None:
    # SQLite never checked the declared lengths; PostgreSQL refused these.
    identity = ChatIdentity(Platform.TEAMS, "tenant-" + "t" * 100, "29:" + "u" * 200)
    room = "a:" + "r" * 400  # a Teams conversation id: its lane is longer still
    link = await store.save_link(
        identity, lms_user_id=1, lms_username="ann", lms_fullname="A" * 300, token="t", room=room, address=None
    )
    await store.enqueue([notice(link, "<p>hi</p>", "k")])
    [queued] = await store.deliveries(link_id=link.id)
    assert queued.lane == lane_of(identity)
    found = await store.link_for(identity)
    assert found is not None and (found.room, found.lms_fullname) == (room, "A" * 300)
