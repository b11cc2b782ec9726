"""Operator commands that work on the store without running the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from bridge.app import build_pipeline
from bridge.config import Settings
from bridge.linking import Linking
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.store import operations
from bridge.store.store import Store

Echo = Callable[[str], object]


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The store for one operator command (SQLite in WAL mode: fine while the bridge runs)."""
    store = await Store.open(settings.store.url, settings.store.token_key.get_secret_value())
    try:
        yield store
    finally:
        await store.close()


async def migrate_store(settings: Settings, echo: Echo) -> int:
    """``pluto-bridge migrate``: open the store (which migrates it) and print its revision."""
    from bridge.store.migrate import current_revision
    from bridge.store.reach import describe

    async with open_store(settings) as store:
        revision = await current_revision(store.engine)
    echo(f"store {describe(settings.store.url)}: schema at {revision}")
    return 0


async def import_links(
    settings: Settings, path: Path, echo: Callable[[str], object], *, allow_admin: bool = False
) -> int:
    """``pluto-bridge link import FILE``: returns 0 when every row was linked."""
    if not await asyncio.to_thread(path.is_file):
        echo(f"no such file: {path}")
        return 2
    store = await Store.open(settings.store.url, settings.store.token_key.get_secret_value())
    try:
        async with LmsClient(settings.lms.url, timeout=settings.lms.timeout, retries=settings.lms.retries) as client:
            pipeline = build_pipeline(settings, store, client)
            linking = Linking(
                store,
                client,
                LmsApi(client),
                pipeline.baseline,
                settings.web.public_url,
                settings.link.code_ttl,
            )
            try:
                results = await linking.import_file(path, allow_admin=allow_admin)
            except ValueError as exc:
                echo(f"{path}: not valid JSON: {exc}")
                return 2
    finally:
        await store.close()
    for result in results:
        echo(f"{'linked ' if result.ok else 'FAILED '} {result.identity}: {result.detail}")
    failed = sum(not r.ok for r in results)
    echo(f"{len(results) - failed} linked, {failed} failed")
    return 1 if failed else 0


async def list_links(settings: Settings, echo: Echo) -> int:
    """``pluto-bridge link list``."""
    async with open_store(settings) as store:
        links = await store.all_links()
    for link in links:
        reason = f" ({link.status_reason})" if link.status_reason else ""
        made = dt.datetime.fromtimestamp(link.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        echo(
            f"{link.identity}\t{link.lms_username} (id {link.lms_user_id})\t{link.status}{reason}"
            f"\tlinked {made} by {link.origin or 'unknown (made before origins were kept)'}"
        )
    echo(f"{len(links)} link(s)")
    return 0


def ago(when: float | None, now: float | None = None) -> str:
    """How long ago ``when`` (epoch seconds) was, in a few characters."""
    if not when:
        return "never"
    seconds = max(0, int((time.time() if now is None else now) - when))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


async def list_deliveries(
    settings: Settings, echo: Echo, *, dead_only: bool, link_id: int | None, as_json: bool
) -> int:
    """``pluto-bridge deliveries list``: what waits and what was given up, with the reason."""
    async with open_store(settings) as store:
        rows = await operations.list_deliveries(store, dead_only=dead_only, link_id=link_id)
    if as_json:
        echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return 0
    for row in rows:
        to = f"link {row.link_id} " + (row.link or "(removed)")
        queued = f"queued {ago(row.created_at)}, {row.attempts} attempt(s)"
        echo(f"{row.id}\t{row.status}\t{to}\t{row.item_key}\t{queued}")
        if row.reason:
            echo(f"\treason: {row.reason}")
    echo(f"{len(rows)} {'dead ' if dead_only else ''}deliver{'y' if len(rows) == 1 else 'ies'}")
    return 0


async def retry_deliveries(settings: Settings, echo: Echo, delivery_id: int | None) -> int:
    """``pluto-bridge deliveries retry ID|--all-dead``: back in the queue; a running bridge
    sends them within a second or so, a stopped one when it starts."""
    async with open_store(settings) as store:
        try:
            ids = await operations.retry(store, None if delivery_id is None else [delivery_id])
        except operations.DeliveryNotFound as exc:
            echo(str(exc))
            return 1
        unreachable = set()
        for row in await operations.list_deliveries(store):
            link = await store.link_by_id(row.link_id) if row.id in ids else None
            if row.id in ids and (link is None or not link.active):
                unreachable.add(row.link_id)
    listed = f": {', '.join(map(str, ids))}" if ids else ""
    echo(f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} queued again{listed}")
    for link_id in sorted(unreachable):
        echo(f"warning: link {link_id} is removed or not active: these deliveries die again until it is")
    return 0


async def drop_delivery(settings: Settings, echo: Echo, delivery_id: int) -> int:
    """``pluto-bridge deliveries drop ID``: never send it."""
    async with open_store(settings) as store:
        try:
            row = await operations.drop(store, delivery_id)
        except operations.DeliveryNotFound as exc:
            echo(str(exc))
            return 1
    echo(f"delivery {row.id} dropped ({row.item_key}); it will not be sent")
    return 0
