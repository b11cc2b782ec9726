"""Notification intake against the sandbox LMS: a baseline past what the person already
has, and every notification that arrived between two polls, however many."""

from __future__ import annotations

import pytest

from bridge.lms.api import LmsApi, NotificationApi
from bridge.lms.client import LmsClient
from bridge.lms.notifications import WINDOW, NotificationIntake
from sandbox.lms import DemoSeed, SandboxLMS

T0 = 1_800_000_000


@pytest.mark.parametrize("mode", ["modern", "totara"])
async def test_more_notifications_than_a_page_between_two_polls_all_arrive(mode: str) -> None:
    lms = SandboxLMS(mode=mode, task_extension=False)
    await lms.start()
    try:
        seed: DemoSeed = lms.seed_demo()
        lms.clock.freeze(T0)
        token = lms.issue_token(seed.mentee1_id)
        for n in range(3):
            lms.notify(seed.mentee1_id, subject=f"Before linking {n}", text="old")
        async with LmsClient(lms.url) as client:
            site = await LmsApi(client).site_info(token)
            intake = NotificationIntake(NotificationApi(client))
            cursor = await intake.baseline(token, seed.mentee1_id, site)
            count = WINDOW + 25
            for n in range(count):
                lms.clock.advance(1)
                lms.notify(seed.mentee1_id, subject=f"Reminder {n}", text=f"Reminder number {n}")
            batch = await intake.poll(token, seed.mentee1_id, site, cursor)
            again = await intake.poll(token, seed.mentee1_id, site, batch.cursor)
    finally:
        await lms.stop()
    subjects = [item.subject for item in batch.items]
    assert subjects == [f"Reminder {n}" for n in range(count)]  # all, oldest first, none from before
    assert again.items == []
