"""Totara tasks (with the task-action extension) on every platform."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.lms_side import ws

from .drivers.base import SAM, ChatDriver

pytestmark = pytest.mark.e2e


@pytest.fixture
async def lms() -> AsyncIterator[SandboxLMS]:
    """A Totara-mode sandbox site with the task-action extension (the drivers' LMS here)."""
    server = SandboxLMS(mode="totara")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_task_handled_in_pluto_retires_the_chat_copy(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    plan = lms.task(seed.mentee1_id, "Plan approval: Lee", "Lee's learning plan")
    copy = await driver.see(SAM, "Plan approval: Lee")
    assert "Accept" in copy.buttons

    # Sam decides in Pluto itself, not in chat: the bridge notices and retires the copy.
    await ws(lms, lms.issue_token(seed.mentee1_id), "local_pluto_task_action", messageid=plan, action="accept")
    await driver.retired(SAM, "Plan approval: Lee", "Handled in Pluto")
    assert [(a.messageid, a.action) for a in lms.task_actions] == [(plan, "accept")]  # Pluto's own, only
    listing = " ".join(await driver.command(SAM, "tasks"))
    assert "Plan approval" not in listing


async def test_a_task_accepted_by_button_with_a_reason(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await driver.link(SAM, "mentee1")
    task = lms.task(
        seed.mentee1_id,
        "Approve booking: Alex",
        "Alex asks for a seat",
        acceptbutton="Approve",
        rejectbutton="Decline",
        needsreason=True,
    )
    copy = await driver.see(SAM, "Approve booking: Alex")
    assert ("Approve", "Decline") == copy.buttons[:2]

    # The platform's way to give a reason: a reply to the bot's question, a modal, a box.
    await driver.press(SAM, copy, "Approve", reason="Budget is fine")
    await driver.retired(SAM, "Approve booking: Alex", "Accepted by Sam Mentee")
    await driver.wait_for(lambda: lms.task_actions, "the decision in Pluto")
    assert [(a.messageid, a.userid, a.action, a.reasonfordecision) for a in lms.task_actions] == [
        (task, seed.mentee1_id, "accept", "Budget is fine")
    ]
