"""End to end on Teams, the rest of issue 7's list, through the real ``pluto-bridge run``
process with only Teams enabled: quiet hours typed to the bot hold alerts and release one
digest; a Totara site without the task-action plugin answers Accept with the Pluto link to
decide there; and a task already handled in Pluto, pressed (or accepted by command) before
the bridge's poll noticed, is answered with "already handled" and its copy retired.

Sam presses buttons and types commands as in test_alerts_tasks.py; assertions are on what
the connector stores (the chat as Sam sees it, the cards, PUT updates) and what Pluto stores.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.teams import CardRefused, SandboxTeams, TeamsUser
from tests.lms_side import notification_ids, ws
from tests.platforms.teams.conftest import TeamsChat, totara_world, visible
from tests.platforms.teams.item_support import (
    MESSAGE_RESPONSE,
    arrival,
    buttons,
    linked_sam,
    press,
    retired,
    stored,
    updates,
)

pytestmark = pytest.mark.e2e

WITHIN = 30.0  # waiting bound, reached only when something is wrong
TASK_PAGE = "/totara/message/tasks.php"


def short_id(listing: str, kind: str, subject: str) -> str:
    """The number ``tasks`` shows for ``subject`` (``#3 task: Subject``)."""
    found = re.search(rf"#(\d+) {kind}: {re.escape(subject)}", listing)
    assert found is not None, listing
    return found.group(1)


async def listing(chat: TeamsChat, user: TeamsUser) -> str:
    """What ``tasks`` answers, as ``user`` reads it (one line)."""
    mark = len(chat.texts(user))
    await chat.say(user, "tasks")
    return " ".join(visible(await chat.wait_for_text(user, "Open items", after=mark, limit=WITHIN)).split())


# --- quiet hours, set by typing to the bot --------------------------------------------------


# --- a Totara site without the task-action plugin ------------------------------------------


@pytest.fixture
async def plain_totara_chat(
    live_sandbox: SandboxTeams, tmp_path: Path
) -> AsyncIterator[tuple[TeamsChat, SandboxLMS, DemoSeed]]:
    """The bridge, Teams only, against a stock Totara Pluto: no ``local_pluto_*`` plugin."""
    async with totara_world(live_sandbox, tmp_path, task_extension=False) as world:
        yield world


async def test_totara_without_the_task_action_plugin_answers_accept_with_the_pluto_link(
    plain_totara_chat: tuple[TeamsChat, SandboxLMS, DemoSeed],
) -> None:
    chat, lms, seed = plain_totara_chat
    sam = await linked_sam(chat)
    url = f"{lms.url}{TASK_PAGE}?id=42"
    zoe = lms.task(seed.mentee1_id, "Approve booking: Zoe", "Zoe asks for a seat", contexturl=url)
    card = await arrival(chat, sam, "Approve booking: Zoe")
    # Without the plugin the web services cannot tell a task from an alert: read it, or open Pluto.
    assert buttons(card) == [("Action.Execute", "Mark read"), ("Action.OpenUrl", "Open in Pluto")]
    with pytest.raises(CardRefused):
        chat.sandbox.button_press(sam, card["id"], "Accept")

    number = short_id(await listing(chat, sam), "alert", "Approve booking: Zoe")
    mark = len(chat.texts(sam))
    await chat.say(sam, f"accept {number} Budget is fine")
    answer = await chat.wait_for_text(sam, "please decide in Pluto", after=mark, limit=WITHIN)
    assert "cannot accept from chat (it lacks local_pluto_task_action)" in visible(answer), answer
    assert f'href="{url}"' in answer, answer  # the link to decide there
    assert "Open it in Pluto" in visible(answer)
    # Nothing was decided, nothing read: the task is still waiting in Pluto, and the card's
    # buttons stay as they were.
    assert lms.task_actions == []
    assert zoe in await notification_ids(lms, seed.mentee1_id, read=False)
    assert updates(chat, sam) == []
    assert buttons(stored(chat, sam, card["id"])) == buttons(card)

    # Marking it read still works from chat.
    await press(chat, sam, card, "Mark read")
    await retired(chat, sam, card, "Marked read by Sam Mentee in Teams")
    assert zoe not in await notification_ids(lms, seed.mentee1_id, read=False)
    assert lms.task_actions == []
    assert chat.sandbox.validation_errors == []


# --- a task already handled in Pluto, acted on before the poll noticed -------------------

POLL = 8.0  # long enough that Sam acts between two polls (reached only on failure)


@pytest.fixture
async def slow_totara_chat(
    live_sandbox: SandboxTeams, tmp_path: Path
) -> AsyncIterator[tuple[TeamsChat, SandboxLMS, DemoSeed]]:
    """A Totara Pluto with the task-action plugin, polled every ``POLL`` seconds."""
    async with totara_world(live_sandbox, tmp_path, poll_interval=POLL) as world:
        yield world


async def test_action_on_a_task_already_handled_in_pluto_is_answered_already_handled(
    slow_totara_chat: tuple[TeamsChat, SandboxLMS, DemoSeed],
) -> None:
    chat, lms, seed = slow_totara_chat
    sam = await linked_sam(chat)
    max_id = lms.task(seed.mentee1_id, "Approve booking: Max", "Max asks for a seat")
    ana_id = lms.task(seed.mentee1_id, "Approve booking: Ana", "Ana asks for a seat")
    max_card = await arrival(chat, sam, "Approve booking: Max")
    ana_card = await arrival(chat, sam, "Approve booking: Ana")
    number = short_id(await listing(chat, sam), "task", "Approve booking: Ana")

    # Sam's manager decides both in Pluto itself, just after the poll that delivered them.
    token = lms.issue_token(seed.mentee1_id)
    await ws(lms, token, "local_pluto_task_action", messageid=max_id, action="accept")
    await ws(lms, token, "local_pluto_task_action", messageid=ana_id, action="dismiss")
    decided = [(a.messageid, a.action) for a in lms.task_actions]
    assert decided == [(max_id, "accept")]  # dismissing runs no workflow

    # Before the next poll: Sam presses Max's Approve, and accepts Ana's by command.
    answer = await press(chat, sam, max_card, "Accept")
    assert answer["type"] == MESSAGE_RESPONSE, answer
    assert answer["value"] == "That task was already handled in Pluto.", answer
    mark = len(chat.texts(sam))
    await chat.say(sam, f"accept {number}")
    reply = visible(await chat.wait_for_text(sam, "already", after=mark, limit=WITHIN))
    assert "That task was already handled in Pluto." in reply, reply

    # Both copies lose their buttons and say so ("Already ...": the bridge learnt it from
    # the press, not from a poll, which would have written "Handled in Pluto").
    await retired(chat, sam, max_card, "Already handled in Pluto")
    await retired(chat, sam, ana_card, "Already handled in Pluto")
    assert sorted(updates(chat, sam)) == sorted([max_card["id"], ana_card["id"]])  # each once
    # The stale actions ran no workflow in Pluto: only the manager's decision is there.
    assert [(a.messageid, a.action) for a in lms.task_actions] == decided
    open_tasks = await ws(lms, token, "local_pluto_get_tasks", type="task")
    assert open_tasks["tasks"] == []
    assert chat.sandbox.validation_errors == []
