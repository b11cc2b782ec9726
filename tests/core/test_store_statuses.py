"""Link and delivery statuses are enums in the code and the same plain strings as before in
the database (issue 15): a database written by an earlier version reads back with the
same meaning, and what the bridge writes is what operators' SQL and older tooling expect."""

from __future__ import annotations

import dataclasses

from sqlalchemy import text

from bridge.router import notice
from bridge.store import operations
from bridge.store.records import DeliveryStatus, LinkStatus
from bridge.store.store import Store
from tests.core.test_outbox import make_link


async def column(store: Store, sql: str) -> list[str]:
    """One column as the database holds it, read with plain SQL (no enum in between)."""
    async with store.engine.connect() as conn:
        return [row[0] for row in (await conn.execute(text(sql))).all()]


async def test_the_bridge_writes_the_plain_status_strings(store: Store) -> None:
    ann = await make_link(store, "ann", 1)
    assert await store.set_link_status(ann.id, LinkStatus.NEEDS_SIGNIN, "the LMS rejected the token")
    assert await column(store, "SELECT status FROM links") == ["needs_signin"]

    await store.enqueue([notice(ann, f"<p>{n}</p>", f"n{n}") for n in range(5)])
    held = dataclasses.replace(notice(ann, "<p>quiet</p>", "q"), held_until=0.0)
    await store.enqueue([held])
    n0, n1, n2, n3, _ = await store.deliveries(status=DeliveryStatus.PENDING)
    await store.mark_sending(n0.id)
    await store.mark_sent(n1, [], [])
    await store.mark_dead(n2.id, "gave up")
    await operations.drop(store, n3.id)
    [q] = await store.due_held(1.0)
    await store.mark_digested([q.id], "d1", [])
    assert await column(store, "SELECT status FROM outbox ORDER BY id") == [
        "sending",
        "sent",
        "dead",
        "dropped",
        "pending",
        "digested",
    ]


async def test_statuses_written_as_plain_strings_read_back_as_enums(store: Store) -> None:
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, "<p>hello</p>", "h")])
    async with store.engine.begin() as conn:  # as an earlier version left them
        await conn.execute(text("UPDATE links SET status = 'inactive', status_reason = 'blocked'"))
        await conn.execute(text("UPDATE outbox SET status = 'dead'"))
    link = await store.link_by_id(ann.id)
    assert link is not None and link.status is LinkStatus.INACTIVE and not link.active
    [dead] = await store.deliveries(status=DeliveryStatus.DEAD)
    assert dead.status is DeliveryStatus.DEAD and dead.item_key == "h"
