"""End to end on Slack: alerts, tasks and contact requests handled from chat (issue 7).

The real ``pluto-bridge run`` process with only Slack enabled (HTTP mode: the sandbox Slack
POSTs signed requests to the bridge's web server), against the sandbox LMS in modern and
Totara mode. Sam presses Block Kit buttons as the Slack client does
(``SandboxSlack.post_block_action``, with what Sam typed into the message's reason input)
and types ``/pluto`` commands. Assertions are on what Sam sees (the DM's stored messages,
the answers sent through each ``response_url``, the ``chat.update`` calls that keep every
copy true) and on what the LMS stores (notifications read, task workflows run, contacts).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack
from tests.lms_side import unread_notification_ids, ws
from tests.support import until

from .e2e_support import SAM, T1, SlackChat, shown, slack_config

pytestmark = pytest.mark.e2e

TASK_FUNCTION = "local_pluto_task_action"


# --- helpers --------------------------------------------------------------------------------



def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's buttons by label (its one actions block); {} when it has none."""
    rows = [b for b in message.get("blocks") or [] if b["type"] == "actions"]
    assert len(rows) <= 1, message["blocks"]
    return {e["text"]["text"]: e for row in rows for e in row["elements"]}


def current(slack: SandboxSlack, message: dict[str, Any]) -> dict[str, Any]:
    """The message as Slack stores it now (after any chat.update)."""
    found = slack.channel(slack.dm(T1, SAM).id).find(message["ts"])
    assert found is not None, f"message {message['ts']} is gone"
    return found


async def retired(slack: SandboxSlack, message: dict[str, Any], outcome: str) -> dict[str, Any]:
    """Wait until the stored copy shows ``outcome`` with only section blocks left (no
    buttons, no reason input); return it."""

    def done() -> bool:
        now = current(slack, message)
        return outcome in shown(now) and all(b["type"] == "section" for b in now.get("blocks") or [])

    await until(done, what=f"{message['ts']} retired with {outcome!r}; it shows {current(slack, message)}")
    return current(slack, message)


def updates_of(slack: SandboxSlack, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The bridge's chat.update calls on this message (the copy kept true), oldest first."""
    return [c.params for c in slack.api_calls("chat.update") if c.params.get("ts") == message["ts"]]


async def press(
    slack: SandboxSlack, message: dict[str, Any], label: str, reason: str | None = None, answers: int = 1
) -> list[dict[str, Any]]:
    """Sam presses the button ``label`` (with ``reason`` typed in the input); returns what the
    bridge sent through the response_url once ``answers`` bodies arrived."""
    inputs = {"reason": reason} if reason is not None else None
    rid, result = await slack.post_block_action(
        T1, SAM, slack.dm(T1, SAM).id, message["ts"], buttons(message)[label]["action_id"], inputs=inputs
    )
    assert result.status == 200, result.body
    await until(lambda: len(slack.responses[rid]) >= answers, what=f"the answer to {label!r}: {slack.responses[rid]}")
    return slack.responses[rid]


def ephemeral_texts(answers: list[dict[str, Any]]) -> list[str]:
    """The answers shown to Sam only."""
    return [str(a["text"]) for a in answers if a.get("response_type") == "ephemeral"]


def visible(text: str) -> str:
    """Text as Slack draws it: without the zero-width spaces that keep ``_`` from italicising."""
    return text.replace("\u200b", "")


async def listing(chat: SlackChat) -> str:
    """What ``/pluto tasks`` answers."""
    return " ".join(visible(str(a["text"])) for a in await chat.command(T1, SAM, "tasks"))


async def short_id(chat: SlackChat, kind: str, subject: str) -> str:
    """The number ``/pluto tasks`` gives an open item (``*#3* alert: Subject`` in mrkdwn),
    asking again (bounded) until the bridge has taken the item in."""
    pattern = re.compile(r"#(\d+)\*? " + kind + ": " + re.escape(subject))
    deadline = asyncio.get_running_loop().time() + 30
    while (match := pattern.search(listed := await listing(chat))) is None:
        assert asyncio.get_running_loop().time() < deadline, f"no {kind} {subject!r} in {listed!r}"
        await asyncio.sleep(0.2)
    return match.group(1)


@asynccontextmanager
async def totara_bridge(
    slack: SandboxSlack, tmp_path: Path, *, task_extension: bool = True, poll_interval: float = 0.3
) -> AsyncIterator[tuple[SlackChat, SandboxLMS, DemoSeed]]:
    """The bridge, Slack only, against a Totara-mode Pluto; Sam linked as mentee1."""
    lms = SandboxLMS(mode="totara", task_extension=task_extension)
    seed = lms.seed_demo()
    await lms.start()
    try:
        config, port = slack_config(tmp_path, lms.url, slack, "http")
        if poll_interval != 0.3:
            text = config.read_text()
            assert "poll_interval = 0.3" in text, text
            config.write_text(text.replace("poll_interval = 0.3", f"poll_interval = {poll_interval}"))
        chat = await SlackChat.start(slack, config, port, "http")
        try:
            await chat.link(T1, SAM, "mentee1")
            yield chat, lms, seed
        finally:
            await chat.stop()
    finally:
        await lms.stop()


@pytest.fixture
async def totara(slack: SandboxSlack, tmp_path: Path) -> AsyncIterator[tuple[SlackChat, SandboxLMS, DemoSeed]]:
    async with totara_bridge(slack, tmp_path) as running:
        yield running


# --- a modern site: alerts, contact requests, quiet hours ---------------------------------


async def test_alert_read_by_button_and_another_by_ack(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(T1, SAM, "mentee1")
    essay = lms.notify(
        seed.mentee1_id, subject="Essay 1 is due tomorrow", text="Submit by 17:00",
        component="mod_assign", eventtype="assign_notification", contexturl=f"{lms.url}/mod/assign/view.php?id=5",
    )  # fmt: skip
    message = await chat.wait_message(T1, SAM, "Essay 1 is due tomorrow")
    assert list(buttons(message)) == ["Mark read", "Open in Pluto"]
    assert not [b for b in message["blocks"] if b["type"] == "input"]  # an alert asks for nothing

    # 1. By button: the pressed message replaced in place, "Done" shown to Sam only.
    answers = await press(slack, message, "Mark read", answers=2)
    assert ephemeral_texts(answers) == ["Done: Marked read by Sam Mentee in Slack."]
    pressed = await retired(slack, message, "Marked read by Sam Mentee in Slack")
    assert shown(pressed).startswith("*Essay 1 is due tomorrow*")
    assert essay not in await unread_notification_ids(lms, seed.mentee1_id)

    # 2. By command: /pluto tasks gives the number, /pluto ack takes it.
    quiz = lms.notify(
        seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz", eventtype="quiz_open_soon"
    )
    second = await chat.wait_message(T1, SAM, "Quiz 2 opens")
    assert quiz in await unread_notification_ids(lms, seed.mentee1_id)
    number = await short_id(chat, "alert", "Quiz 2 opens")
    assert "Essay 1" not in await listing(chat)  # handled items are not listed
    done = await chat.command(T1, SAM, f"ack {number}")
    assert [(a["response_type"], a["text"]) for a in done] == [
        ("ephemeral", "Done: Marked read by Sam Mentee in Slack.")
    ]
    await retired(slack, second, "Marked read by Sam Mentee in Slack")
    await until(lambda: updates_of(slack, second), what="the chat.update of the acked alert")
    assert not {essay, quiz} & await unread_notification_ids(lms, seed.mentee1_id)


async def test_contact_request_accepted_by_button(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(T1, SAM, "mentee1")
    alex = lms.issue_token(seed.mentee2_id)
    await ws(lms, alex, "core_message_create_contact_request", userid=seed.mentee2_id, requesteduserid=seed.mentee1_id)
    request = await chat.wait_message(T1, SAM, "Contact request from Alex Mentee")
    assert "Alex Mentee" in shown(request)
    shown_buttons = buttons(request)
    assert [(label, b.get("style")) for label, b in shown_buttons.items() if "url" not in b] == [
        ("Accept", "primary"), ("Decline", "danger"),
    ]  # fmt: skip

    answers = await press(slack, request, "Accept", answers=2)
    assert ephemeral_texts(answers) == ["Done: Accepted by Sam Mentee in Slack."]
    contacts = await ws(lms, lms.issue_token(seed.mentee1_id), "core_message_get_user_contacts", userid=seed.mentee1_id)
    assert [c["id"] for c in contacts] == [seed.mentee2_id]
    await retired(slack, request, "Accepted by Sam Mentee in Slack")
    await until(lambda: updates_of(slack, request), what="the chat.update of the request")
    assert not chat.dm(T1, "U0ALEX")  # nothing went to Alex's Slack account


# --- a Totara site with the task-action plugin --------------------------------------------


async def test_task_accepted_by_button_with_a_reason_and_another_rejected_by_command(
    totara: tuple[SlackChat, SandboxLMS, DemoSeed], slack: SandboxSlack
) -> None:
    chat, lms, seed = totara
    alex_task = lms.task(
        seed.mentee1_id, "Approve booking: Alex, Seminar 3", "Alex asks for a seat",
        acceptbutton="Approve", rejectbutton="Decline", needsreason=True, data={"signupid": 7},
        contexturl=f"{lms.url}/totara/message/tasks.php",
    )  # fmt: skip
    alex = await chat.wait_message(T1, SAM, "Approve booking: Alex")
    assert list(buttons(alex)) == ["Approve", "Decline", "Dismiss", "Open in Pluto"]
    (field,) = [b for b in alex["blocks"] if b["type"] == "input"]  # Pluto offers a reason
    assert field["optional"] is True and field["element"]["type"] == "plain_text_input"

    answers = await press(slack, alex, "Approve", reason="Budget is fine", answers=2)
    assert ephemeral_texts(answers) == ["Done: Accepted by Sam Mentee in Slack: \u201cBudget is fine\u201d."]
    [decided] = lms.task_actions
    assert (decided.messageid, decided.action, decided.reasonfordecision, decided.workflow) == (
        alex_task, "accept", "Budget is fine", "facetoface",
    )  # fmt: skip
    assert decided.data == {"signupid": 7}
    await retired(slack, alex, "Accepted by Sam Mentee in Slack: \u201cBudget is fine\u201d")

    kim_task = lms.task(seed.mentee1_id, "Approve booking: Kim, Seminar 4", "Kim asks for a seat")
    kim = await chat.wait_message(T1, SAM, "Approve booking: Kim")
    assert not [b for b in kim["blocks"] if b["type"] == "input"]  # no reason asked for: no input
    number = await short_id(chat, "task", "Approve booking: Kim")
    done = await chat.command(T1, SAM, f"decline {number} Seminar is full")
    assert ephemeral_texts(done) == ["Done: Rejected by Sam Mentee in Slack: \u201cSeminar is full\u201d."]
    assert [(a.messageid, a.action, a.reasonfordecision) for a in lms.task_actions] == [
        (alex_task, "accept", "Budget is fine"), (kim_task, "reject", "Seminar is full"),
    ]  # fmt: skip
    await retired(slack, kim, "Rejected by Sam Mentee in Slack: \u201cSeminar is full\u201d")
    await until(lambda: updates_of(slack, kim), what="the chat.update of the declined task")


async def test_task_handled_in_pluto_retires_the_slack_copy(
    totara: tuple[SlackChat, SandboxLMS, DemoSeed], slack: SandboxSlack
) -> None:
    chat, lms, seed = totara
    plan = lms.task(seed.mentee1_id, "Plan approval: Lee", "Lee's learning plan")
    message = await chat.wait_message(T1, SAM, "Plan approval: Lee")
    assert list(buttons(message)) == ["Accept", "Reject", "Dismiss", "Open in Pluto"]
    # The task names no page of its own: "Open in Pluto" leads to the person's task list.
    assert buttons(message)["Open in Pluto"]["url"] == f"{lms.url}/totara/message/tasks.php"
    assert not updates_of(slack, message)

    # Sam decides in Pluto itself, not in Slack: the next poll retires the copy by chat.update.
    await ws(lms, lms.issue_token(seed.mentee1_id), TASK_FUNCTION, messageid=plan, action="accept")
    updated = await retired(slack, message, "Handled in Pluto")
    assert shown(updated).startswith("*Plan approval: Lee*")
    await until(lambda: updates_of(slack, message), what="the chat.update of the copy")
    assert [(a.messageid, a.action) for a in lms.task_actions] == [(plan, "accept")]  # Pluto's own, only
    assert not [p for p in slack.pushes if p[0] != "slash_commands"]  # no press in Slack
    assert "Plan approval" not in await listing(chat)


async def test_press_on_a_task_already_handled_in_pluto_gets_the_reason(slack: SandboxSlack, tmp_path: Path) -> None:
    # A slow poll (4 s) so that Sam presses before the bridge notices the task was handled.
    async with totara_bridge(slack, tmp_path, poll_interval=4.0) as (chat, lms, seed):
        task = lms.task(seed.mentee1_id, "Approve booking: Max", "Max asks for a seat")
        message = await chat.wait_message(T1, SAM, "Approve booking: Max")
        await ws(lms, lms.issue_token(seed.mentee1_id), TASK_FUNCTION, messageid=task, action="dismiss")
        answers = await press(slack, message, "Accept")
        # The bridge asked Pluto first: the task is no longer open there, and Sam is told so.
        await until(lambda: ephemeral_texts(answers), what=f"an ephemeral answer in {answers}")
        assert ephemeral_texts(answers) == ["That task was already handled in Pluto."]
        await retired(slack, message, "Already handled in Pluto")
        assert lms.task_actions == []  # dismissed in Pluto (no workflow), and none ran for the press


async def test_dismiss_ignores_a_reason_left_in_the_input(
    totara: tuple[SlackChat, SandboxLMS, DemoSeed], slack: SandboxSlack
) -> None:
    chat, lms, seed = totara
    lms.task(seed.mentee1_id, "Plan approval: Ann", "Ann's plan", needsreason=True)
    message = await chat.wait_message(T1, SAM, "Plan approval: Ann")
    answers = await press(slack, message, "Dismiss", reason="typed, then dismissed", answers=2)
    assert ephemeral_texts(answers) == ["Done: Dismissed by Sam Mentee in Slack."]


# --- a Totara site without the task-action plugin ------------------------------------------


async def test_totara_site_without_the_task_action_extension(slack: SandboxSlack, tmp_path: Path) -> None:
    async with totara_bridge(slack, tmp_path, task_extension=False) as (chat, lms, seed):
        link = f"{lms.url}/totara/message/tasks.php"
        task = lms.task(seed.mentee1_id, "Approve booking: Zoe", "Zoe asks for a seat", contexturl=link)
        message = await chat.wait_message(T1, SAM, "Approve booking: Zoe")
        # The stock web services cannot tell a task from an alert: it can be marked read only.
        assert list(buttons(message)) == ["Mark read", "Open in Pluto"]
        assert buttons(message)["Open in Pluto"]["url"] == link
        number = await short_id(chat, "alert", "Approve booking: Zoe")
        answer = await chat.command(T1, SAM, f"accept {number}")
        (text,) = [visible(t) for t in ephemeral_texts(answer)]
        assert f"cannot accept from chat (it lacks {TASK_FUNCTION}); please decide in Pluto" in text, text
        assert f"<{link}|Open it in Pluto>" in text, text  # the link to act in Pluto
        assert lms.task_actions == []
        assert list(buttons(current(slack, message))) == ["Mark read", "Open in Pluto"]  # nothing changed
        assert task in await unread_notification_ids(lms, seed.mentee1_id)

        answers = await press(slack, message, "Mark read", answers=2)
        assert ephemeral_texts(answers) == ["Done: Marked read by Sam Mentee in Slack."]
        await retired(slack, message, "Marked read by Sam Mentee in Slack")
        assert task not in await unread_notification_ids(lms, seed.mentee1_id)
