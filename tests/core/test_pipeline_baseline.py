"""The baseline a person's link starts from is taken once, however many ask for it at once."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.actions import ItemActions
from bridge.lms.api import LmsApi, NotificationApi
from bridge.lms.client import LmsClient
from bridge.lms.intake import MessageIntake
from bridge.lms.notifications import NOTIFICATIONS, NotificationIntake
from bridge.pipeline import Pipeline
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import SECRET_KEY


async def test_linking_and_the_first_poll_asking_at_once_take_one_baseline(
    lms: SandboxLMS, seed: DemoSeed, store_url: str
) -> None:
    store = await Store.open(store_url, SECRET_KEY)
    try:
        async with LmsClient(lms.url) as client:
            api, notes = LmsApi(client), NotificationApi(client)
            actions = ItemActions(store, api, notes, api.site_info, "local_pluto_task_action")
            pipeline = Pipeline(store, api, MessageIntake(api), NotificationIntake(notes), actions, interval=1.0)
            arrived: list[int] = []

            def right_after_the_first_read(params: dict[str, Any]) -> bool:
                # Cron sends something just after one baseline read the notifications.
                if params.get("type") != "notifications":
                    return False
                arrived.append(lms.notify(seed.mentee1_id, subject="Sent by cron", text="..."))
                return True

            lms.after_call("core_message_get_messages", right_after_the_first_read)
            token = lms.issue_token(seed.mentee1_id)
            # Linking takes a baseline while the first poll, meeting the new link, takes one too.
            await asyncio.gather(pipeline.baseline(token, seed.mentee1_id), pipeline.baseline(token, seed.mentee1_id))
            cursor = (await store.cursors_of(seed.mentee1_id))[NOTIFICATIONS]
            # What arrived after the baseline was read is still ahead of it: nothing is skipped.
            assert arrived and (arrived[0] not in cursor.seen_ids)
            assert sum(1 for c in lms.calls if c.params.get("type") == "notifications") == 1
    finally:
        await store.close()
