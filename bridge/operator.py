"""Operator commands that work on the store without running the bridge."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from bridge.app import build_pipeline
from bridge.config import Settings
from bridge.linking import Linking
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.store.store import Store


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


async def list_links(settings: Settings, echo: Callable[[str], object]) -> int:
    """``pluto-bridge link list``."""
    store = await Store.open(settings.store.url, settings.store.token_key.get_secret_value())
    try:
        links = await store.all_links()
    finally:
        await store.close()
    for link in links:
        reason = f" ({link.status_reason})" if link.status_reason else ""
        made = dt.datetime.fromtimestamp(link.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        echo(
            f"{link.identity}\t{link.lms_username} (id {link.lms_user_id})\t{link.status}{reason}"
            f"\tlinked {made} by {link.origin or 'unknown (made before origins were kept)'}"
        )
    echo(f"{len(links)} link(s)")
    return 0
