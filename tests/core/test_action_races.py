"""A decision from chat and a poll that sees its effect in the LMS, at the same moment: the
item is closed once, with the person's decision, never as "Handled in Pluto" (the cause of
tests/platforms/teams/test_tasks_totara.py failing on a loaded machine)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bridge.actions import ACCEPT
from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.client import LmsClient
from bridge.store.crypto import new_key
from bridge.store.store import Store
from sandbox.lms import SandboxLMS
from tests.support import link_sam


@pytest.fixture
async def totara() -> AsyncIterator[SandboxLMS]:
    site = SandboxLMS(mode="totara")
    await site.start()
    try:
        yield site
    finally:
        await site.stop()


async def test_a_poll_between_the_lms_action_and_its_record_keeps_the_persons_decision(
    totara: SandboxLMS, store_url: str
) -> None:
    seed = totara.seed_demo()
    key = new_key()
    settings = load_settings(None, lms={"url": totara.url}, store={"token_key": key})
    store = await Store.open(store_url, key)
    try:
        link = await link_sam(store, totara, seed)
        async with LmsClient(settings.lms.url) as client:
            pipeline = build_pipeline(settings, store, client)
            await pipeline.poll_once()  # baseline
            totara.task(seed.mentee1_id, "Extension request: Kim", "Kim asks for two more weeks")
            await pipeline.poll_once()
            [item] = await store.open_items(seed.mentee1_id)

            # Pluto runs the decision at once but its answer is slow (a loaded site)...
            totara.set_answer_delay(1.0)
            pressed = asyncio.create_task(pipeline.actions.perform(link, ACCEPT, item))
            deadline = time.monotonic() + 10
            while not totara.task_actions:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            # ...and meanwhile a poll reads the LMS: the task is no longer open there.
            reconciled = asyncio.create_task(pipeline.actions.reconcile(seed.mentee1_id, set(), 0))
            outcome = await pressed
            assert await reconciled == 0  # nothing left for it to close
    finally:
        await store.close()
        store = await Store.open(store_url, key)
        closed = await store.item(seed.mentee1_id, item.item_key)
        await store.close()
    assert outcome.ok and outcome.retired_html is not None and "Accepted by Sam Mentee in Telegram" in outcome.html
    assert closed is not None and closed.status == "handled"
    assert closed.outcome == "Accepted by Sam Mentee in Telegram"
