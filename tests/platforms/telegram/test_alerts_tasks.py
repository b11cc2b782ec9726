"""End to end on Telegram: alerts, tasks and contact requests handled from chat (issue 7).

The real ``pluto-bridge run`` process (only Telegram enabled, polling mode) running the real
python-telegram-bot against the sandbox Bot API at its real flood limits, and the sandbox LMS
in modern and Totara mode. Sam presses inline buttons (``SandboxTelegram.user_presses``),
replies to the bridge's prompts and types ``/commands``. Assertions are on what Sam sees (the
chat's messages after every edit, the callback answers, the calls the sandbox received) and
on what the LMS stores (notifications read, task workflows run, contacts).

Telegram's way of answering a press: answerCallbackQuery (a toast with the outcome), the
pressed message edited in place. A decision that asks for a reason first answers the press
and sends a ForceReply prompt; Sam's reply to the prompt decides.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.lms_side import notification_ids, ws
from tests.platforms.telegram.conftest import SAM
from tests.platforms.telegram.world import TelegramWorld

pytestmark = pytest.mark.e2e

TASK_FUNCTION = "local_pluto_task_action"
BY_SAM = "by Sam Mentee in Telegram"


# --- helpers --------------------------------------------------------------------------------




def message(world: TelegramWorld, needle: str) -> dict[str, Any]:
    """The one bot message in Sam's chat that starts with ``needle`` (an item starts with its
    subject), as it is now."""
    found = [m for m in world.tg.sent_to(SAM) if m["text"].startswith(needle)]
    assert len(found) == 1, f"{needle!r} shown {len(found)} times: {world.texts(SAM)}"
    return found[0]


def buttons(msg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's inline buttons by label; {} when it has none."""
    return {b["text"]: b for row in (msg.get("reply_markup") or {}).get("inline_keyboard", []) for b in row}


def edits_of(world: TelegramWorld, msg: dict[str, Any]) -> list[dict[str, Any]]:
    """The successful edits of one bot message (editMessageText or editMessageReplyMarkup)."""
    return [
        r.params
        for method in ("editMessageText", "editMessageReplyMarkup")
        for r in world.tg.calls(method, ok=True)
        if (r.params.get("chat_id"), r.params.get("message_id")) == (SAM, msg["message_id"])
    ]


async def arrives(world: TelegramWorld, needle: str) -> dict[str, Any]:
    """Wait until a message starting with ``needle`` is in Sam's chat; return it."""
    await world.wait(lambda: any(t.startswith(needle) for t in world.texts(SAM)), f"{needle!r} in chat")
    return message(world, needle)


async def press(world: TelegramWorld, msg: dict[str, Any], label: str) -> str:
    """Sam presses the button ``label``; returns the callback query id once it was answered."""
    data = buttons(msg)[label]["callback_data"]
    query_id = world.tg.user_presses(SAM, msg["message_id"], data)
    await world.wait(lambda: query_id in world.tg.callback_answers, f"the answer to pressing {label!r}")
    return query_id


def toast(world: TelegramWorld, query_id: str) -> str:
    return str(world.tg.callback_answers[query_id].get("text", ""))


async def retired(world: TelegramWorld, needle: str, outcome: str) -> dict[str, Any]:
    """Wait until the message with ``needle`` shows ``outcome`` and no buttons; return it."""

    def done() -> bool:
        msg = message(world, needle)
        return outcome in msg["text"] and not buttons(msg)

    await world.wait(done, f"{needle!r} retired with {outcome!r}")
    return message(world, needle)


async def command(world: TelegramWorld, text: str, needle: str) -> str:
    """Sam types ``text``; returns the bridge's first new message containing ``needle``."""
    before = len(world.tg.sent_to(SAM))
    world.tg.user_sends_text(SAM, text)

    def answer() -> str | None:
        return next((m["text"] for m in world.tg.sent_to(SAM)[before:] if needle in m["text"]), None)

    await world.wait(lambda: answer() is not None, f"an answer with {needle!r} to {text!r}")
    return answer() or ""


def short_id(listing: str, kind: str, subject: str) -> str:
    """The number ``/tasks`` gives an item (``#3 alert: Subject``)."""
    found = re.search(r"#(\d+) " + kind + ": " + re.escape(subject), listing)
    assert found, f"no {kind} {subject!r} in {listing!r}"
    return found.group(1)


# --- worlds -----------------------------------------------------------------------------------


@pytest.fixture
async def modern(
    live_sandbox: SandboxTelegram, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[TelegramWorld]:
    """The bridge on a modern site, Sam linked in Telegram."""
    world = TelegramWorld(live_sandbox, lms, tmp_path, "polling")
    try:
        await world.start()
        await world.link_by_command(SAM, "mentee1")
        yield world
    finally:
        await world.stop()


async def totara_world(
    live_sandbox: SandboxTelegram, tmp_path: Path, *, task_extension: bool
) -> AsyncIterator[tuple[TelegramWorld, DemoSeed]]:
    site = SandboxLMS(mode="totara", task_extension=task_extension)
    seed = site.seed_demo()
    await site.start()
    world = TelegramWorld(live_sandbox, site, tmp_path, "polling")
    try:
        await world.start()
        await world.link_by_command(SAM, "mentee1")
        yield world, seed
    finally:
        await world.stop()
        await site.stop()


@pytest.fixture
async def totara(live_sandbox: SandboxTelegram, tmp_path: Path) -> AsyncIterator[tuple[TelegramWorld, DemoSeed]]:
    """The bridge on a Totara-mode site with the task-action extension, Sam linked."""
    async for pair in totara_world(live_sandbox, tmp_path, task_extension=True):
        yield pair


@pytest.fixture
async def stock_totara(
    live_sandbox: SandboxTelegram, tmp_path: Path
) -> AsyncIterator[tuple[TelegramWorld, DemoSeed]]:
    """The bridge on a stock Totara site: no task-action extension."""
    async for pair in totara_world(live_sandbox, tmp_path, task_extension=False):
        yield pair


# --- modern site: alerts and contact requests ----------------------------------------------


async def test_alert_marked_read_by_button_and_by_ack(modern: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    world = modern
    essay = lms.notify(
        seed.mentee1_id,
        subject="Essay 1 is due tomorrow",
        text="Submit by 17:00",
        component="mod_assign",
        eventtype="assign_notification",
        contexturl=f"{lms.url}/mod/assign/view.php?id=5",
    )
    quiz = lms.notify(
        seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz", eventtype="quiz_open_soon"
    )
    alert = await arrives(world, "Essay 1 is due tomorrow")
    await arrives(world, "Quiz 2 opens")
    assert alert["text"].startswith("Essay 1 is due tomorrow")
    shown = buttons(alert)
    assert list(shown) == ["Mark read", "Open in Pluto"]
    assert shown["Mark read"]["style"] == "primary" and "url" not in shown["Mark read"]
    assert shown["Open in Pluto"] == {"text": "Open in Pluto", "url": f"{lms.url}/mod/assign/view.php?id=5"}
    assert {essay, quiz} <= await notification_ids(lms, seed.mentee1_id, read=0)

    # 1. By button: the toast says what happened, the alert is edited in place, buttons gone.
    query_id = await press(world, alert, "Mark read")
    assert toast(world, query_id) == f"Done: Marked read {BY_SAM}."
    pressed = await retired(world, "Essay 1 is due tomorrow", f"Marked read {BY_SAM}")
    assert pressed["message_id"] == alert["message_id"]
    assert edits_of(world, alert) and all("reply_markup" not in e for e in edits_of(world, alert))
    assert essay in await notification_ids(lms, seed.mentee1_id, read=1)

    # 2. By command: /tasks gives the number, /ack takes it.
    listing = await command(world, "/tasks", "Open items")
    assert "Essay 1" not in listing  # handled items are not listed
    answer = await command(world, f"/ack {short_id(listing, 'alert', 'Quiz 2 opens')}", "Marked read")
    assert answer == f"Done: Marked read {BY_SAM}."
    await retired(world, "Quiz 2 opens", f"Marked read {BY_SAM}")
    assert {essay, quiz} <= await notification_ids(lms, seed.mentee1_id, read=1)
    assert not {essay, quiz} & await notification_ids(lms, seed.mentee1_id, read=0)


async def test_contact_request_accepted_by_button(modern: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    world = modern
    await ws(
        lms,
        lms.issue_token(seed.mentee2_id),
        "core_message_create_contact_request",
        userid=seed.mentee2_id,
        requesteduserid=seed.mentee1_id,
    )
    await world.wait(lambda: any("Accept" in buttons(m) for m in world.tg.sent_to(SAM)), "the contact request")
    [request] = [m for m in world.tg.sent_to(SAM) if "Accept" in buttons(m)]
    assert "Alex Mentee" in request["text"]
    assert [(label, b.get("style")) for label, b in buttons(request).items() if "url" not in b] == [
        ("Accept", "primary"),
        ("Decline", "danger"),
    ]

    query_id = await press(world, request, "Accept")
    assert toast(world, query_id) == f"Done: Accepted {BY_SAM}."
    contacts = await ws(
        lms, lms.issue_token(seed.mentee1_id), "core_message_get_user_contacts", userid=seed.mentee1_id
    )
    assert [c["id"] for c in contacts] == [seed.mentee2_id]
    updated = await retired(world, "Contact request from Alex Mentee", f"Accepted {BY_SAM}")
    assert updated["message_id"] == request["message_id"]  # edited in place, not posted anew


async def test_dismiss_one_and_ack_all(modern: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    world = modern
    subjects = ["Forum: new post", "Badge awarded", "Grade released"]
    ids = [
        lms.notify(seed.mentee1_id, subject=subject, text="...", component="mod_forum", eventtype="posts")
        for subject in subjects
    ]
    for subject in subjects:
        await arrives(world, subject)
    listing = await command(world, "/tasks", "Open items")

    answer = await command(world, f"/dismiss {short_id(listing, 'alert', 'Forum: new post')}", "Dismissed")
    assert answer == f"Done: Dismissed {BY_SAM}."
    await retired(world, "Forum: new post", f"Dismissed {BY_SAM}")
    assert ids[0] in await notification_ids(lms, seed.mentee1_id, read=1)
    assert set(ids[1:]) <= await notification_ids(lms, seed.mentee1_id, read=0)  # the others untouched

    answer = await command(world, "/ack all", "Marked read")
    assert answer.count(f"Done: Marked read {BY_SAM}.") == 2 and "Forum" not in answer
    for subject in subjects[1:]:
        await retired(world, subject, f"Marked read {BY_SAM}")
    assert not set(ids) & await notification_ids(lms, seed.mentee1_id, read=0)
    assert await command(world, "/ack all", "No unread alerts") == "No unread alerts."


# --- Totara-mode site: tasks with workflows -------------------------------------------------


async def test_task_accepted_by_button_with_a_reason_and_rejected_by_command(
    totara: tuple[TelegramWorld, DemoSeed],
) -> None:
    world, seed = totara
    site = world.lms
    alex = site.task(
        seed.mentee1_id,
        "Approve booking: Alex, Seminar 3",
        "Alex asks for a seat",
        acceptbutton="Approve",
        rejectbutton="Decline",
        needsreason=True,
        data={"signupid": 7},
    )
    task = await arrives(world, "Approve booking: Alex")
    assert [(label, b.get("style")) for label, b in buttons(task).items() if "url" not in b] == [
        ("Approve", "primary"),
        ("Decline", "danger"),
        ("Dismiss", None),
    ]
    assert buttons(task)["Open in Pluto"]["url"].startswith(site.url)  # a link, never a press

    # The decision asks for a reason: the press is answered at once, and a prompt asks.
    query_id = await press(world, task, "Approve")
    assert toast(world, query_id) == ""  # the spinner stops; nothing decided yet
    prompt_text = "Reason for Approve on \u201cApprove booking: Alex, Seminar 3\u201d?"
    prompt = await arrives(world, prompt_text)
    assert prompt["text"] == f"{prompt_text} Reply to this message; send - for none."
    assert world.tg.force_reply_of(SAM, prompt["message_id"]) == {
        "force_reply": True,
        "input_field_placeholder": "Your reason, or - for none",
    }
    assert site.task_actions == []
    # Sam's reply to the prompt accepts, as Sam, with that reason; it is no chat message.
    outcome = f"Accepted {BY_SAM}: \u201cBudget is fine\u201d"
    before = len(world.texts(SAM))
    world.tg.user_sends_text(SAM, "Budget is fine", reply_to=prompt["message_id"])
    await world.see(SAM, f"Done: {outcome}")
    assert world.texts(SAM)[before:] == [f"Done: {outcome}."]  # the answer only: nothing relayed
    [decision] = site.task_actions
    assert (decision.messageid, decision.userid, decision.action, decision.reasonfordecision) == (
        alex,
        seed.mentee1_id,
        "accept",
        "Budget is fine",
    )
    assert decision.data == {"signupid": 7}
    await retired(world, "Approve booking: Alex", outcome)

    # Another task, rejected by command with a reason.
    kim = site.task(seed.mentee1_id, "Approve booking: Kim, Seminar 4", "Kim asks for a seat", needsreason=True)
    await arrives(world, "Approve booking: Kim")
    listing = await command(world, "/tasks", "Open items")
    assert "Approve booking: Alex" not in listing
    number = short_id(listing, "task", "Approve booking: Kim, Seminar 4")
    answer = await command(world, f"/decline {number} Seminar is full", "Rejected")
    assert answer == f"Done: Rejected {BY_SAM}: \u201cSeminar is full\u201d."
    assert [(a.messageid, a.action, a.reasonfordecision) for a in site.task_actions] == [
        (alex, "accept", "Budget is fine"),
        (kim, "reject", "Seminar is full"),
    ]
    await retired(world, "Approve booking: Kim", f"Rejected {BY_SAM}")
    # Deciding again is answered with what already happened; no workflow runs.
    again = await command(world, f"/accept {number}", "Already handled")
    assert again == f"Already handled: Rejected {BY_SAM}: \u201cSeminar is full\u201d."
    assert len(site.task_actions) == 2


async def test_a_reason_typed_after_a_restart_still_decides(totara: tuple[TelegramWorld, DemoSeed]) -> None:
    world, seed = totara
    site = world.lms
    booking = site.task(seed.mentee1_id, "Approve booking: Ivy", "Ivy asks for a seat", needsreason=True)
    task = await arrives(world, "Approve booking: Ivy")
    await press(world, task, "Reject")
    prompt = await arrives(world, "Reason for Reject on \u201cApprove booking: Ivy\u201d?")

    await world.stop()  # the prompt is open while the bridge restarts
    await world.start()
    world.tg.user_sends_text(SAM, "Seminar is full", reply_to=prompt["message_id"])
    outcome = f"Rejected {BY_SAM}: \u201cSeminar is full\u201d"
    await world.see(SAM, f"Done: {outcome}")
    assert [(a.messageid, a.action, a.reasonfordecision) for a in site.task_actions] == [
        (booking, "reject", "Seminar is full")
    ]
    await retired(world, "Approve booking: Ivy", outcome)
    # A second reply to the same prompt decides nothing, and nothing of it reaches Pluto.
    world.tg.user_sends_text(SAM, "on second thoughts", reply_to=prompt["message_id"])
    await world.see(SAM, "answered already")
    assert len(site.task_actions) == 1


async def test_task_handled_in_pluto_retires_the_copy_and_a_late_decision_is_refused(
    totara: tuple[TelegramWorld, DemoSeed],
) -> None:
    world, seed = totara
    site = world.lms
    plan = site.task(
        seed.mentee1_id,
        "Plan approval: Lee",
        "Lee's learning plan",
        needsreason=True,
        contexturl=f"{site.url}/totara/plan/view.php?id=3",
    )
    task = await arrives(world, "Plan approval: Lee")
    assert list(buttons(task)) == ["Accept", "Reject", "Dismiss", "Open in Pluto"]
    # Sam starts deciding in Telegram: the prompt asks for a reason...
    await press(world, task, "Reject")
    prompt = await arrives(world, "Reason for Reject on \u201cPlan approval: Lee\u201d?")

    # ...while the task is decided in Pluto itself.
    await ws(site, site.issue_token(seed.mentee1_id), TASK_FUNCTION, messageid=plan, action="accept")
    updated = await retired(world, "Plan approval: Lee", "Handled in Pluto")
    assert updated["text"].startswith("Plan approval: Lee")
    assert [e.get("reply_markup") for e in edits_of(world, task)] == [None]  # one edit, by the poll

    # The reason typed afterwards decides nothing: the answer says what already happened.
    world.tg.user_sends_text(SAM, "Not this year", reply_to=prompt["message_id"])
    [answer] = await world.see(SAM, "Already handled")
    assert answer == "Already handled: Handled in Pluto."
    assert [(a.messageid, a.action) for a in site.task_actions] == [(plan, "accept")]  # Pluto's own, only
    assert len(edits_of(world, task)) == 1


async def test_totara_site_without_the_task_action_extension(stock_totara: tuple[TelegramWorld, DemoSeed]) -> None:
    world, seed = stock_totara
    site = world.lms
    link = f"{site.url}/totara/message/tasks.php"
    zoe = site.task(seed.mentee1_id, "Approve booking: Zoe", "Zoe asks for a seat", contexturl=link)
    # Without the plugin the web services cannot tell a task from an alert: it can be marked read only.
    task = await arrives(world, "Approve booking: Zoe")
    assert list(buttons(task)) == ["Mark read", "Open in Pluto"]
    assert buttons(task)["Open in Pluto"]["url"] == link

    listing = await command(world, "/tasks", "Open items")
    number = short_id(listing, "alert", "Approve booking: Zoe")
    answer = await command(world, f"/accept {number}", "please decide in Pluto")
    assert f"cannot accept from chat (it lacks {TASK_FUNCTION}); please decide in Pluto" in answer
    # The answer carries the link to act in Pluto, as a link Sam can follow.
    wire = next(r.params for r in world.sends_to(SAM) if "please decide in Pluto" in r.params["text"])
    assert f'<a href="{link}">Open it in Pluto</a>' in wire["text"]
    assert site.task_actions == [] and buttons(message(world, "Approve booking: Zoe"))  # nothing changed

    query_id = await press(world, task, "Mark read")
    assert toast(world, query_id) == f"Done: Marked read {BY_SAM}."
    await retired(world, "Approve booking: Zoe", f"Marked read {BY_SAM}")
    assert zoe not in await notification_ids(site, seed.mentee1_id, read=0)
    assert site.task_actions == []
