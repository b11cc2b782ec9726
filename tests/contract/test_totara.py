"""A Totara site without the task-action extension (local_pluto_task_action), on every
platform: its web services cannot tell a task from an alert, so chat can only mark it read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.lms_side import unread_notification_ids

from .drivers.base import SAM, ChatDriver

pytestmark = pytest.mark.e2e


@pytest.fixture
async def lms() -> AsyncIterator[SandboxLMS]:
    """A Totara-mode sandbox site without the task-action extension (the drivers' LMS here)."""
    server = SandboxLMS(mode="totara", task_extension=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_task_can_only_be_marked_read_without_the_extension(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    task = lms.task(
        seed.mentee1_id, "Approve booking: Zoe", "Zoe asks for a seat", contexturl=f"{lms.url}/totara/message/tasks.php"
    )
    shown = await driver.see(SAM, "Approve booking: Zoe")
    assert shown.buttons == ("Mark read",)  # no Accept or Reject it could not carry out

    number = await driver.listed_number(SAM, "alert", "Approve booking: Zoe")
    answers = await driver.command(SAM, f"accept {number}")
    assert any("cannot accept from chat" in a and "decide in Pluto" in a for a in answers), answers
    # Nothing was decided, nothing read: the task still waits in Pluto, the copy keeps its button.
    assert lms.task_actions == []
    assert task in await unread_notification_ids(lms, seed.mentee1_id)
    assert (await driver.see(SAM, "Approve booking: Zoe")).buttons == ("Mark read",)

    await driver.press(SAM, shown, "Mark read")
    await driver.retired(SAM, "Approve booking: Zoe", "Marked read by Sam Mentee")
    assert task not in await unread_notification_ids(lms, seed.mentee1_id)


async def test_to_and_conversations_without_pluto_conversations(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    """Totara has no conversation functions: ``to`` and ``conversations`` use the ones the
    bridge relayed, and a line after ``to`` goes there as before."""
    await driver.link(SAM, "mentee1")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Totara hello")
    await driver.see(SAM, "Totara hello")
    listing = "\n".join(await driver.command(SAM, "conversations"))
    assert "Maya Mentor" in listing, listing
    chosen = "\n".join(await driver.command(SAM, "to Maya"))
    assert "What you write now goes to" in chosen and "Maya Mentor" in chosen, chosen
