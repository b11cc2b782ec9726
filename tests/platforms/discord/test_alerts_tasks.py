"""End to end on Discord: alerts, tasks and contact requests handled from chat.

The real ``pluto-bridge run`` process (only Discord enabled), its discord.py pointed at the
Discord sandbox, and the sandbox LMS in modern and Totara mode. Assertions are on what the
person sees in their DM and in the answers to their interactions (the sandbox's stored
messages and recorded requests), and on what the LMS stores.

Discord's way of answering a press: a deferred update of the pressed message (callback type
6), the message edited in place, the outcome shown to the person only (an ephemeral
follow-up); a decision that needs a reason opens a modal (type 9) and the modal's submission
decides. Commands are ``/pluto <subcommand> args``: a deferred ephemeral answer (type 5)
and follow-ups.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.lms_side import notification_ids, ws
from tests.platforms.discord.conftest import ALEX, SAM
from tests.platforms.discord.items import (
    DANGER,
    DEFERRED_ANSWER,
    DEFERRED_UPDATE,
    LINK_STYLE,
    MODAL,
    PRIMARY,
    answer_to,
    buttons,
    edits_of,
    retired,
    short_id,
    totara_site_world,
)
from tests.platforms.discord.world import EPHEMERAL, DiscordWorld

pytestmark = pytest.mark.e2e


# --- modern site: alerts and contact requests ----------------------------------------------


async def test_alert_marked_read_by_button_and_by_ack_command(
    world: DiscordWorld, sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link(SAM, "mentee1")
    essay = lms.notify(
        seed.mentee1_id, subject="Essay 1 is due tomorrow", text="Submit by 17:00", component="mod_assign",
        eventtype="assign_notification", contexturl=f"{lms.url}/mod/assign/view.php?id=5",
    )
    quiz = lms.notify(seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz",
                      eventtype="quiz_open_soon")
    await world.wait(lambda: any("Quiz 2 opens" in t for t in world.texts(SAM)), "both alerts")

    # Native buttons: "Mark read" comes back to the bot; "Open in Pluto" is a link button.
    message = world.dm_containing(SAM, "Essay 1 is due tomorrow")
    shown = buttons(message)
    assert list(shown) == ["Mark read", "Open in Pluto"]
    assert shown["Mark read"]["style"] == PRIMARY and shown["Mark read"]["custom_id"]
    assert shown["Open in Pluto"]["style"] == LINK_STYLE and "custom_id" not in shown["Open in Pluto"]
    assert shown["Open in Pluto"]["url"] == f"{lms.url}/mod/assign/view.php?id=5"
    assert {essay, quiz} <= await notification_ids(lms, seed.mentee1_id, read=0)

    # 1. Pressed: acknowledged as a deferred update, answered to Sam only, the message retired.
    press = await sandbox.user_clicks(SAM, message, shown["Mark read"]["custom_id"])
    await answer_to(world, press, "Done: Marked read by Sam Mentee in Discord")
    assert sandbox.interactions[press["id"]].callbacks == [{"type": DEFERRED_UPDATE}]
    pressed = await retired(world, "Essay 1 is due tomorrow", "Marked read by Sam Mentee in Discord")
    assert pressed["content"].startswith("**Essay 1 is due tomorrow**")
    await world.wait(lambda: bool(edits_of(sandbox, message)), "the edit of the pressed alert")
    assert all(e["components"] == [] and "Marked read by" in e["content"] for e in edits_of(sandbox, message))

    # 2. By command: /pluto tasks gives the number, /pluto ack takes it.
    listing = await sandbox.user_slash(SAM, "tasks")
    listed = (await answer_to(world, listing, "Quiz 2 opens"))["content"]
    assert "Essay 1" not in listed  # handled items are not listed
    ack = await sandbox.user_slash(SAM, "ack", short_id(listed, "alert", "Quiz 2 opens"))
    await answer_to(world, ack, "Done: Marked read by Sam Mentee in Discord")
    callback = sandbox.interactions[ack["id"]].callbacks[0]
    assert callback["type"] == DEFERRED_ANSWER and int(callback["data"]["flags"]) & EPHEMERAL
    await retired(world, "Quiz 2 opens", "Marked read by Sam Mentee in Discord")
    assert [e["components"] for e in edits_of(sandbox, world.dm_containing(SAM, "Quiz 2 opens"))] == [[]]

    # The LMS shows both read.
    assert {essay, quiz} <= await notification_ids(lms, seed.mentee1_id, read=1)
    assert not {essay, quiz} & await notification_ids(lms, seed.mentee1_id, read=0)


async def test_contact_request_accepted_by_button(
    world: DiscordWorld, sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link(SAM, "mentee1")
    await ws(lms, lms.issue_token(seed.mentee2_id), "core_message_create_contact_request",
             userid=seed.mentee2_id, requesteduserid=seed.mentee1_id)
    await world.wait(lambda: any("Accept" in buttons(m) for m in world.dms(SAM)), "the contact request")
    [request] = [m for m in world.dms(SAM) if "Accept" in buttons(m)]
    assert "Alex Mentee" in request["content"]
    shown = buttons(request)
    assert [(label, b["style"]) for label, b in shown.items() if "url" not in b] == [
        ("Accept", PRIMARY), ("Decline", DANGER)
    ]

    press = await sandbox.user_clicks(SAM, request, shown["Accept"]["custom_id"])
    await answer_to(world, press, "Done: Accepted by Sam Mentee in Discord")
    assert sandbox.interactions[press["id"]].callbacks == [{"type": DEFERRED_UPDATE}]
    contacts = await ws(lms, lms.issue_token(seed.mentee1_id), "core_message_get_user_contacts",
                        userid=seed.mentee1_id)
    assert [c["id"] for c in contacts] == [seed.mentee2_id]
    updated = await retired(world, "Alex Mentee", "Accepted by Sam Mentee in Discord")
    assert updated["id"] == request["id"]  # edited in place, not posted anew
    assert ALEX not in sandbox.dm_channels  # nothing was sent to Alex's Discord account


# --- Totara-mode site: tasks with workflows -------------------------------------------------


@pytest.fixture
async def totara_world(sandbox: SandboxDiscord, tmp_path: Path) -> AsyncIterator[tuple[DiscordWorld, DemoSeed]]:
    """The bridge on a Totara-mode site (tasks with workflows), Sam on Discord and linked."""
    async with totara_site_world(sandbox, tmp_path) as world_and_seed:
        yield world_and_seed


async def test_task_accepted_by_button_with_a_reason_and_rejected_by_command(
    totara_world: tuple[DiscordWorld, DemoSeed], sandbox: SandboxDiscord
) -> None:
    world, seed = totara_world
    site = world.lms
    alex_task = site.task(
        seed.mentee1_id, "Approve booking: Alex, Seminar 3", "Alex asks for a seat",
        acceptbutton="Approve", rejectbutton="Decline", needsreason=True, data={"signupid": 7},
    )
    await world.wait(lambda: any("Approve booking: Alex" in t for t in world.texts(SAM)), "the task")
    task = world.dm_containing(SAM, "Approve booking: Alex")
    shown = buttons(task)
    # The decisions (an "Open in Pluto" link button may follow them).
    assert [(label, b["style"]) for label, b in shown.items() if "url" not in b] == [
        ("Approve", PRIMARY), ("Decline", DANGER), ("Dismiss", 2)
    ]

    # The decision needs a reason: the press opens a modal titled with the decision...
    press = await sandbox.user_clicks(SAM, task, shown["Approve"]["custom_id"])
    await world.wait(lambda: bool(sandbox.interactions[press["id"]].callbacks), "the modal")
    [modal] = sandbox.interactions[press["id"]].callbacks
    assert modal["type"] == MODAL and modal["data"]["title"] == "Approve: reason"
    assert site.task_actions == []  # nothing decided yet
    field = modal["data"]["components"][0]["components"][0]
    assert field["type"] == 4 and field["style"] == 2  # a paragraph text input
    # ...and its submission accepts, as Sam, with the reason typed there.
    submit = await sandbox.user_submits_modal(SAM, press, {field["custom_id"]: "Budget is fine"})
    await answer_to(world, submit, "Done: Accepted by Sam Mentee in Discord: \u201cBudget is fine\u201d")
    assert sandbox.interactions[submit["id"]].callbacks == [{"type": DEFERRED_UPDATE}]
    [decision] = site.task_actions
    assert (decision.messageid, decision.userid, decision.action, decision.reasonfordecision) == (
        alex_task, seed.mentee1_id, "accept", "Budget is fine"
    )
    assert decision.data == {"signupid": 7}
    await retired(world, "Approve booking: Alex", "Accepted by Sam Mentee in Discord: \u201cBudget is fine\u201d")

    # Another task, rejected by command with a reason.
    kim_task = site.task(seed.mentee1_id, "Approve booking: Kim, Seminar 4", "Kim asks for a seat",
                         needsreason=True)
    await world.wait(lambda: any("Approve booking: Kim" in t for t in world.texts(SAM)), "the second task")
    listing = await sandbox.user_slash(SAM, "tasks")
    listed = (await answer_to(world, listing, "Approve booking: Kim"))["content"]
    assert "Approve booking: Alex" not in listed
    decline = await sandbox.user_slash(SAM, "decline", f"{short_id(listed, 'task', 'Approve booking: Kim')} "
                                                       "Seminar is full")
    await answer_to(world, decline, "Done: Rejected by Sam Mentee in Discord: \u201cSeminar is full\u201d")
    assert [(a.messageid, a.action, a.reasonfordecision) for a in site.task_actions] == [
        (alex_task, "accept", "Budget is fine"), (kim_task, "reject", "Seminar is full")
    ]
    await retired(world, "Approve booking: Kim", "Rejected by Sam Mentee in Discord")


async def test_refused_decision_leaves_the_buttons(
    totara_world: tuple[DiscordWorld, DemoSeed], sandbox: SandboxDiscord
) -> None:
    world, seed = totara_world
    site = world.lms
    site.task(seed.mentee1_id, "Extension request: Kim", "Kim asks for two more weeks", outcome=False)
    await world.wait(lambda: any("Extension request: Kim" in t for t in world.texts(SAM)), "the task")
    message = world.dm_containing(SAM, "Extension request: Kim")

    press = await sandbox.user_clicks(SAM, message, buttons(message)["Accept"]["custom_id"])
    await answer_to(world, press, "Pluto refused to accept this task")
    assert sandbox.interactions[press["id"]].callbacks == [{"type": DEFERRED_UPDATE}]
    # Nothing changed in Pluto, so the message keeps its text and its buttons for another try.
    unchanged = world.dm_containing(SAM, "Extension request: Kim")
    assert unchanged["content"] == message["content"] and buttons(unchanged) == buttons(message)
    assert edits_of(sandbox, message) == []
    assert [a.result for a in site.task_actions] == [False]
