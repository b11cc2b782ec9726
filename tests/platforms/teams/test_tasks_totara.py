"""End to end on Teams, a Totara Pluto site with the task-action plugin: tasks decided from
chat, with a reason typed into the card or given with the command, refused by their
workflow, dismissed, or handled in Pluto itself; through the real ``pluto-bridge run``
process with only Teams enabled (see test_alerts_tasks.py for how Sam presses buttons).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.teams import CARD_CONTENT_TYPE, SandboxTeams
from tests.lms_side import ws
from tests.platforms.teams.conftest import TeamsChat, totara_world, visible
from tests.platforms.teams.item_support import (
    MESSAGE_RESPONSE,
    arrival,
    buttons,
    card_of,
    card_words,
    linked_sam,
    press,
    retired,
    updates,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def totara_chat(
    live_sandbox: SandboxTeams, tmp_path: Path
) -> AsyncIterator[tuple[TeamsChat, SandboxLMS, DemoSeed]]:
    """The bridge, Teams only, against a Totara-mode Pluto with the task-action plugin."""
    async with totara_world(live_sandbox, tmp_path) as world:
        yield world


async def test_task_accepted_by_button_with_a_reason_and_another_rejected_by_command(
    totara_chat: tuple[TeamsChat, SandboxLMS, DemoSeed],
) -> None:
    chat, lms, seed = totara_chat
    sam = await linked_sam(chat)
    lms.task(
        seed.mentee1_id,
        "Approve booking: Alex, Seminar 3",
        "Alex asks for a seat",
        acceptbutton="Approve",
        rejectbutton="Decline",
        needsreason=True,
        contexturl=f"{lms.url}/totara/message/tasks.php",
        data={"signupid": 7},
    )
    alex = await arrival(chat, sam, "Approve booking: Alex")
    assert buttons(alex) == [
        ("Action.Execute", "Approve"),
        ("Action.Execute", "Decline"),
        ("Action.Execute", "Dismiss"),
        ("Action.OpenUrl", "Open in Pluto"),
    ]
    (field,) = card_of(alex)["body"]  # Pluto offers a reason: the card has a field for it
    assert (field["type"], field["id"], field.get("isRequired", False)) == ("Input.Text", "reason", False)
    answer = await press(chat, sam, alex, "Approve", reason="Budget is fine")
    assert answer["type"] == CARD_CONTENT_TYPE
    assert "Accepted by Sam Mentee in Teams: \u201cBudget is fine\u201d" in card_words(answer["value"])
    assert "actions" not in answer["value"]
    decided = lms.task_actions[-1]
    assert (decided.action, decided.reasonfordecision, decided.workflow) == ("accept", "Budget is fine", "facetoface")
    await retired(chat, sam, alex, "Accepted by Sam Mentee in Teams: \u201cBudget is fine\u201d")

    lms.task(seed.mentee1_id, "Approve booking: Kim, Seminar 4", "Kim asks for a seat")
    kim = await arrival(chat, sam, "Approve booking: Kim")
    assert not card_of(kim)["body"]  # no reason asked for: no field
    mark = len(chat.texts(sam))
    await chat.say(sam, "tasks")
    listing = " ".join(visible(await chat.wait_for_text(sam, "Open items", after=mark)).split())
    number = re.search(r"#(\d+) task: Approve booking: Kim", listing)
    assert number is not None, listing
    assert "Alex" not in listing
    await chat.say(sam, f"decline {number.group(1)} Seminar is full")
    done = visible(await chat.wait_for_text(sam, "Done:", after=mark))
    assert "Rejected by Sam Mentee in Teams: \u201cSeminar is full\u201d" in done
    decided = lms.task_actions[-1]
    assert (decided.action, decided.reasonfordecision) == ("reject", "Seminar is full")
    await retired(chat, sam, kim, "Rejected by Sam Mentee in Teams")
    assert len(lms.task_actions) == 2
    assert updates(chat, sam) == [alex["id"], kim["id"]]
    assert chat.sandbox.validation_errors == []


async def test_refused_decision_keeps_the_buttons_and_a_task_handled_in_pluto_is_retired(
    totara_chat: tuple[TeamsChat, SandboxLMS, DemoSeed],
) -> None:
    chat, lms, seed = totara_chat
    sam = await linked_sam(chat)
    kim_id = lms.task(
        seed.mentee1_id, "Extension request: Kim", "Kim asks for two more weeks", needsreason=True, outcome=False
    )
    kim = await arrival(chat, sam, "Extension request: Kim")
    # The workflow says no (a full seminar, say): Teams shows the bridge's words, as plain text.
    answer = await press(chat, sam, kim, "Accept", reason="Fine by me")
    assert answer["type"] == MESSAGE_RESPONSE
    assert answer["value"].startswith("Pluto refused to accept this task")
    assert "<" not in answer["value"]
    assert [(a.action, a.reasonfordecision) for a in lms.task_actions] == [("accept", "Fine by me")]

    token = lms.issue_token(seed.mentee1_id)
    handled = lms.task(seed.mentee1_id, "Plan approval: Lee", "Lee's learning plan")
    lee = await arrival(chat, sam, "Plan approval: Lee")
    await ws(lms, token, "local_pluto_task_action", messageid=handled, action="accept")  # decided in Pluto itself
    await retired(chat, sam, lee, "Handled in Pluto")

    # Dismiss takes no reason: what is still typed in the field is not sent with it.
    answer = await press(chat, sam, kim, "Dismiss", reason="Fine by me")
    assert "Dismissed by Sam Mentee in Teams" in card_words(answer["value"])
    assert "Fine by me" not in card_words(answer["value"])
    await retired(chat, sam, kim, "Dismissed by Sam Mentee in Teams")
    open_tasks = await ws(lms, token, "local_pluto_get_tasks", type="task")
    assert open_tasks["tasks"] == []
    # Sam's refused press, then Lee's plan decided in Pluto; dismissing runs no workflow.
    assert [(a.messageid, a.action) for a in lms.task_actions] == [(kim_id, "accept"), (handled, "accept")]
    # The refused press changed nothing: the card was updated only when it was dismissed.
    assert updates(chat, sam) == [lee["id"], kim["id"]]
    assert chat.sandbox.validation_errors == []
