"""End to end on Discord, the rest of issue 7's list, through the real ``pluto-bridge run``
process with only Discord enabled: a task already handled in Pluto, pressed (or accepted by
command) before the bridge's poll noticed; quiet hours set with ``/pluto prefs`` holding
alerts and releasing one digest; a Totara site without the task-action extension answering
with the link to decide in Pluto; ``/pluto dismiss N`` and ``/pluto ack all``; and a reason
modal submitted empty (the reason for decision is optional).

Assertions are on what Sam sees (his DM with the bot, the answers to his interactions, as
the Discord sandbox stores them) and on what Pluto stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed
from tests.lms_side import notification_ids, ws
from tests.platforms.discord.conftest import SAM
from tests.platforms.discord.items import (
    DEFERRED_UPDATE,
    MODAL,
    answer_to,
    arrival,
    buttons,
    edits_of,
    open_totara,
    retired,
    short_id,
    totara_site_world,
    unescaped,
)
from tests.platforms.discord.world import DiscordWorld

pytestmark = pytest.mark.e2e

WITHIN = 30.0  # waiting bound, reached only when something is wrong
ALREADY = "That task was already handled in Pluto."  # bridge/actions.py's answer


async def listing(world: DiscordWorld, sandbox: SandboxDiscord, needle: str) -> str:
    """What ``/pluto tasks`` answers Sam, once it lists ``needle``."""
    asked = await sandbox.user_slash(SAM, "tasks")
    return (await answer_to(world, asked, needle))["content"]


# --- a task already handled in Pluto, acted on before the poll noticed -------------------

POLL = 8.0  # long enough that Sam acts between two polls (waited out only on failure)


@pytest.fixture
async def slow_totara(sandbox: SandboxDiscord, tmp_path: Path) -> AsyncIterator[tuple[DiscordWorld, DemoSeed]]:
    """A Totara site with the task-action extension, polled every ``POLL`` seconds."""
    async with totara_site_world(sandbox, tmp_path, poll_interval=POLL) as world_and_seed:
        yield world_and_seed


async def test_action_on_a_task_already_handled_in_pluto_is_answered_already_handled(
    slow_totara: tuple[DiscordWorld, DemoSeed], sandbox: SandboxDiscord
) -> None:
    world, seed = slow_totara
    site = world.lms
    max_id = site.task(seed.mentee1_id, "Approve booking: Max", "Max asks for a seat")
    ana_id = site.task(seed.mentee1_id, "Approve booking: Ana", "Ana asks for a seat")
    max_dm = await arrival(world, "Approve booking: Max")
    ana_dm = await arrival(world, "Approve booking: Ana")
    number = short_id(await listing(world, sandbox, "Approve booking: Ana"), "task", "Approve booking: Ana")

    # Sam decides both in Pluto itself, just after the poll that delivered them.
    token = site.issue_token(seed.mentee1_id)
    await ws(site, token, "local_pluto_task_action", messageid=max_id, action="accept")
    await ws(site, token, "local_pluto_task_action", messageid=ana_id, action="dismiss")
    decided = [(a.messageid, a.action) for a in site.task_actions]
    assert decided == [(max_id, "accept")]  # dismissing runs no workflow

    # Before the next poll: Sam presses Max's Accept in Discord, and accepts Ana's by command.
    press = await sandbox.user_clicks(SAM, max_dm, buttons(max_dm)["Accept"]["custom_id"])
    await answer_to(world, press, ALREADY)
    assert sandbox.interactions[press["id"]].callbacks == [{"type": DEFERRED_UPDATE}]
    accept = await sandbox.user_slash(SAM, "accept", number)
    await answer_to(world, accept, ALREADY)

    # Both copies lose their buttons and say so: "Already handled" (learnt from Sam's
    # actions; the poll would have written "Handled in Pluto").
    await retired(world, "Approve booking: Max", "Already handled in Pluto")
    await retired(world, "Approve booking: Ana", "Already handled in Pluto")
    for message in (max_dm, ana_dm):
        assert [e["components"] for e in edits_of(sandbox, message)] == [[]]  # each edited once
    # The stale actions ran no workflow in Pluto: only Sam's own decision there is recorded.
    assert [(a.messageid, a.action) for a in site.task_actions] == decided
    assert await open_totara(site, seed.mentee1_id, "task") == []


# --- quiet hours, set with /pluto prefs ---------------------------------------------------


# --- a Totara site without the task-action extension -----------------------------------------


@pytest.fixture
async def plain_totara(sandbox: SandboxDiscord, tmp_path: Path) -> AsyncIterator[tuple[DiscordWorld, DemoSeed]]:
    """A stock Totara site: no ``local_pluto_*`` extension."""
    async with totara_site_world(sandbox, tmp_path, task_extension=False) as world_and_seed:
        yield world_and_seed


async def test_totara_without_the_task_action_extension_answers_with_the_pluto_link(
    plain_totara: tuple[DiscordWorld, DemoSeed], sandbox: SandboxDiscord
) -> None:
    world, seed = plain_totara
    site = world.lms
    url = f"{site.url}/totara/message/tasks.php?id=42"
    zoe = site.task(seed.mentee1_id, "Approve booking: Zoe", "Zoe asks for a seat", contexturl=url)
    message = await arrival(world, "Approve booking: Zoe")
    # Without the extension the web services cannot tell a task from an alert: read it, or open Pluto.
    assert list(buttons(message)) == ["Mark read", "Open in Pluto"]
    assert buttons(message)["Open in Pluto"]["url"] == url

    number = short_id(await listing(world, sandbox, "Approve booking: Zoe"), "alert", "Approve booking: Zoe")
    accept = await sandbox.user_slash(SAM, "accept", f"{number} Budget is fine")
    answer = (await answer_to(world, accept, "please decide in Pluto"))["content"]
    assert "cannot accept from chat (it lacks local_pluto_task_action)" in unescaped(answer), answer
    assert f"[Open it in Pluto]({url})" in answer, answer  # the link to decide there
    # Nothing was decided, nothing read: the task still waits in Pluto, the DM keeps its buttons.
    assert site.task_actions == []
    assert zoe in await notification_ids(site, seed.mentee1_id, read=0)
    assert edits_of(sandbox, message) == []
    assert buttons(world.dm_containing(SAM, "Approve booking: Zoe")) == buttons(message)

    # Marking it read still works from chat.
    press = await sandbox.user_clicks(SAM, message, buttons(message)["Mark read"]["custom_id"])
    await answer_to(world, press, "Done: Marked read by Sam Mentee in Discord")
    await retired(world, "Approve booking: Zoe", "Marked read by Sam Mentee in Discord")
    assert zoe not in await notification_ids(site, seed.mentee1_id, read=0)
    assert site.task_actions == []


# --- Totara site with the extension: dismiss, ack all, and an empty reason -------------------


@pytest.fixture
async def totara_world(sandbox: SandboxDiscord, tmp_path: Path) -> AsyncIterator[tuple[DiscordWorld, DemoSeed]]:
    async with totara_site_world(sandbox, tmp_path) as world_and_seed:
        yield world_and_seed


async def test_dismiss_by_command_and_ack_all(
    totara_world: tuple[DiscordWorld, DemoSeed], sandbox: SandboxDiscord
) -> None:
    world, seed = totara_world
    site = world.lms
    site.task(seed.mentee1_id, "Timesheet: week 12", "Approve Lee's timesheet")
    site.task(seed.mentee1_id, "Approve booking: Kim", "Kim asks for a seat")
    site.alert(seed.mentee1_id, "Program due: Safety", "Due in 7 days")
    site.alert(seed.mentee1_id, "Course completed: Onboarding", "Well done")
    for subject in ("Timesheet: week 12", "Approve booking: Kim", "Program due: Safety",
                    "Course completed: Onboarding"):
        await arrival(world, subject)
    listed = await listing(world, sandbox, "Course completed: Onboarding")

    # /pluto dismiss N: the task goes away in Pluto without a decision.
    dismiss = await sandbox.user_slash(SAM, "dismiss", short_id(listed, "task", "Timesheet: week 12"))
    await answer_to(world, dismiss, "Done: Dismissed by Sam Mentee in Discord")
    await retired(world, "Timesheet: week 12", "Dismissed by Sam Mentee in Discord")
    assert await open_totara(site, seed.mentee1_id, "task") == ["Approve booking: Kim"]
    assert site.task_actions == []  # no workflow ran

    # /pluto ack all: every unread alert marked read; the open task is not an alert, it stays.
    ack = await sandbox.user_slash(SAM, "ack", "all")
    answer = (await answer_to(world, ack, "Marked read"))["content"]
    assert answer.count("Done: Marked read by Sam Mentee in Discord") == 2, answer
    for subject in ("Program due: Safety", "Course completed: Onboarding"):
        await retired(world, subject, "Marked read by Sam Mentee in Discord")
    assert await open_totara(site, seed.mentee1_id, "alert") == []
    assert await open_totara(site, seed.mentee1_id, "task") == ["Approve booking: Kim"]
    kim = world.dm_containing(SAM, "Approve booking: Kim")
    assert [label for label, b in buttons(kim).items() if "url" not in b] == ["Accept", "Reject", "Dismiss"]
    assert edits_of(sandbox, kim) == []
    remaining = await listing(world, sandbox, "Approve booking: Kim")
    assert "Program due" not in remaining and "Course completed" not in remaining and "Timesheet" not in remaining


async def test_reason_modal_submitted_empty_decides_without_a_reason(
    totara_world: tuple[DiscordWorld, DemoSeed], sandbox: SandboxDiscord
) -> None:
    world, seed = totara_world
    site = world.lms
    task_id = site.task(seed.mentee1_id, "Approve booking: Eli", "Eli asks for a seat", acceptbutton="Approve",
                        needsreason=True)
    message = await arrival(world, "Approve booking: Eli")
    press = await sandbox.user_clicks(SAM, message, buttons(message)["Approve"]["custom_id"])
    await world.wait(lambda: bool(sandbox.interactions[press["id"]].callbacks), "the modal", within=WITHIN)
    [modal] = sandbox.interactions[press["id"]].callbacks
    assert modal["type"] == MODAL and modal["data"]["title"] == "Approve: reason"

    # Sam submits without typing a reason (Discord's client refuses that for a required field).
    submit = await sandbox.user_submits_modal(SAM, press, {})
    answer = (await answer_to(world, submit, "Done: Accepted by Sam Mentee in Discord"))["content"]
    assert "\u201c" not in answer, answer  # no quoted reason
    assert sandbox.interactions[submit["id"]].callbacks == [{"type": DEFERRED_UPDATE}]
    [decision] = site.task_actions
    assert (decision.messageid, decision.userid, decision.action, decision.reasonfordecision) == (
        task_id, seed.mentee1_id, "accept", ""
    )
    updated = await retired(world, "Approve booking: Eli", "Accepted by Sam Mentee in Discord")
    assert "\u201c" not in updated["content"]
    assert await open_totara(site, seed.mentee1_id, "task") == []
