"""End to end on Teams, a modern Pluto site: alerts and contact requests handled from chat,
through the real ``pluto-bridge run`` process with only Teams enabled.

Sam presses buttons as the Teams client does (``SandboxTeams.button_press``: the stored
card's action data merged with what Sam typed into its fields) and types commands as Teams
keywords (``tasks``, ``ack 3``). Assertions are on the invoke response Teams draws in place
of the pressed card (validated against the Adaptive Card 1.5 schema by the sandbox), on the
messages the connector stores (sends, and PUT updates that retire buttons), and on what
Pluto stores. Totara tasks are in test_tasks_totara.py.
"""

from __future__ import annotations

import re

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.teams import CARD_CONTENT_TYPE, CardRefused
from tests.lms_side import notification_ids, ws
from tests.platforms.teams.conftest import TeamsChat, visible
from tests.platforms.teams.item_support import (
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


# --- a modern site: alerts and contact requests -------------------------------------------


async def test_alert_read_by_button_and_another_by_ack(chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed) -> None:
    sam = await linked_sam(chat)
    essay = lms.notify(
        seed.mentee1_id,
        subject="Essay 1 is due tomorrow",
        text="Submit by 17:00",
        component="mod_assign",
        eventtype="assign_notification",
        contexturl=f"{lms.url}/mod/assign/view.php?id=5",
    )
    message = await arrival(chat, sam, "Essay 1 is due tomorrow")
    assert buttons(message) == [("Action.Execute", "Mark read"), ("Action.OpenUrl", "Open in Pluto")]
    assert card_of(message)["actions"][1]["url"] == f"{lms.url}/mod/assign/view.php?id=5"
    assert not card_of(message)["body"]  # an alert asks for nothing: no reason field
    with pytest.raises(CardRefused):  # a link button opens Pluto in the browser; the bot hears nothing
        chat.sandbox.button_press(sam, message["id"], "Open in Pluto")

    press_mark = len(chat.texts(sam))
    answer = await press(chat, sam, message, "Mark read")
    # Teams draws the answered card in place of the pressed one: the outcome, no buttons.
    assert answer["type"] == CARD_CONTENT_TYPE
    assert "Marked read by Sam Mentee in Teams" in card_words(answer["value"])
    assert "actions" not in answer["value"]
    assert essay not in await notification_ids(lms, seed.mentee1_id, read=False)
    await retired(chat, sam, message, "Marked read by Sam Mentee in Teams")

    quiz = lms.notify(
        seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz", eventtype="quiz_open_soon"
    )
    second = await arrival(chat, sam, "Quiz 2 opens")
    mark = len(chat.texts(sam))
    await chat.say(sam, "tasks")
    listing = " ".join(visible(await chat.wait_for_text(sam, "Open items", after=mark)).split())
    number = re.search(r"#(\d+) alert: Quiz 2 opens", listing)
    assert number is not None, listing
    assert "Essay 1" not in listing  # handled items are not listed
    # The answered card was the answer to the press: no "Done" message repeats it in the chat.
    assert not any("Done:" in t for t in chat.texts(sam)[press_mark:])
    await chat.say(sam, f"ack {number.group(1)}")
    done = visible(await chat.wait_for_text(sam, "Done:", after=mark))
    assert "Marked read by Sam Mentee in Teams" in done
    await retired(chat, sam, second, "Marked read by Sam Mentee in Teams")

    assert {essay, quiz} <= await notification_ids(lms, seed.mentee1_id, read=True)
    assert not {essay, quiz} & await notification_ids(lms, seed.mentee1_id, read=False)
    assert updates(chat, sam) == [message["id"], second["id"]]  # each copy updated once
    assert chat.sandbox.validation_errors == []


async def test_contact_request_accepted_by_button(chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed) -> None:
    sam = await linked_sam(chat)
    alex = lms.issue_token(seed.mentee2_id)
    await ws(lms, alex, "core_message_create_contact_request", userid=seed.mentee2_id, requesteduserid=seed.mentee1_id)
    message = await arrival(chat, sam, "Contact request from Alex Mentee")
    assert buttons(message) == [
        ("Action.Execute", "Accept"),
        ("Action.Execute", "Decline"),
        ("Action.OpenUrl", "Open in Pluto"),
    ]
    answer = await press(chat, sam, message, "Accept")
    assert answer["type"] == CARD_CONTENT_TYPE
    assert "Accepted by Sam Mentee in Teams" in card_words(answer["value"])
    assert "actions" not in answer["value"]
    contacts = await ws(lms, lms.issue_token(seed.mentee1_id), "core_message_get_user_contacts", userid=seed.mentee1_id)
    assert [c["id"] for c in contacts] == [seed.mentee2_id]
    await retired(chat, sam, message, "Accepted by Sam Mentee in Teams")
    assert updates(chat, sam) == [message["id"]]
    assert chat.sandbox.validation_errors == []
