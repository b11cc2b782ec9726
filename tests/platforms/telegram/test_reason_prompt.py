"""Decisions that ask for a reason (``Action.needs_reason``) on Telegram: the press answers
the callback query and sends a ForceReply prompt; the reply to that prompt is the decision,
with the reply as its reason. Driven against the sandbox Bot API, asserting on the wire."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from adapters.telegram import ASKS_REASON_PREFIX, TelegramAdapter
from bridge.model import Action, ActionEvent, MessageEvent, Post, Reply, SentRef
from sandbox.telegram import SandboxTelegram, SandboxUser

from .conftest import RecordingSink
from .test_adapter import dest

SUBJECT = "Seminar booking: Alex, 3 May"
TASK = Post(
    text=f"<b>{SUBJECT}</b>\n\nAlex asks for a seat",
    actions=(
        Action("acc:tsh:0a1b", "Approve", style="primary", needs_reason=True),
        Action("dec:tsh:0a1b", "Decline", style="danger", needs_reason=True),
        Action("dis:tsh:0a1b", "Dismiss"),
        Action("url:tsh:0a1b", "Open in Pluto", url="https://pluto.example/totara/message/tasks.php"),
    ),
)
PROMPT = f"Reason for Approve on \u201c{SUBJECT}\u201d? Reply to this message; send - for none."
DONE = Reply(
    texts=("Done: Accepted by Ada Lovelace in Telegram: \u201cBudget is fine\u201d.",),
    replace=Post(text=f"<b>{SUBJECT}</b>\n\nAlex asks for a seat\n\n<i>Accepted by Ada Lovelace</i>"),
)


def sent(sandbox: SandboxTelegram, user: SandboxUser) -> list[str]:
    """The texts of the bot's messages in the chat now, oldest first."""
    return [m["text"] for m in sandbox.sent_to(user.id)]


async def press_for_prompt(
    sandbox: SandboxTelegram, ada: SandboxUser, adapter: TelegramAdapter, data: str = "why:acc:tsh:0a1b"
) -> tuple[SentRef, str, dict[str, Any]]:
    """Send the task, press ``data`` on it; return (the task's ref, the query id, the prompt)."""
    ref = await adapter.send(dest(ada), TASK)
    query_id = sandbox.user_presses(ada, int(ref.message_id), data)
    await sandbox.wait_until(lambda: len(sandbox.sent_to(ada.id)) == 2)
    return ref, query_id, sandbox.sent_to(ada.id)[-1]


async def test_buttons_that_ask_a_reason_are_marked_and_the_others_are_not(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    await polling_adapter.send(dest(ada), TASK)
    rows = sandbox.calls("sendMessage", ok=True)[-1].params["reply_markup"]["inline_keyboard"]
    assert [b.get("callback_data") or b.get("url") for row in rows for b in row] == [
        "why:acc:tsh:0a1b",
        "why:dec:tsh:0a1b",
        "dis:tsh:0a1b",
        "https://pluto.example/totara/message/tasks.php",
    ]
    # An id that leaves no room for the mark still works: as a one-press decision.
    longest = Action("a" * (64 - len(ASKS_REASON_PREFIX) + 1), "Approve", needs_reason=True)
    await polling_adapter.send(dest(ada), Post(text="x", actions=(longest,)))
    [[button]] = sandbox.calls("sendMessage", ok=True)[-1].params["reply_markup"]["inline_keyboard"]
    assert button["callback_data"] == longest.id


async def test_press_asks_with_a_force_reply_and_hands_the_core_the_prompt(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    sink.reply_for = lambda e: DONE if isinstance(e, MessageEvent) else None
    ref, query_id, prompt = await press_for_prompt(sandbox, ada, polling_adapter)

    # The spinner stopped (no toast: nothing was decided)...
    assert sandbox.callback_answers[query_id] == {"callback_query_id": query_id}
    # ...and the prompt names the decision and the item, with a ForceReply on the wire.
    assert prompt["text"] == PROMPT
    wire = sandbox.calls("sendMessage", ok=True)[-1].params
    assert wire["reply_markup"] == {"force_reply": True, "input_field_placeholder": "Your reason, or - for none"}
    assert wire["reply_parameters"]["message_id"] == int(ref.message_id)  # shown as an answer to the task
    assert wire["text"] == PROMPT.replace("Approve", "<b>Approve</b>")
    assert sandbox.force_reply_of(ada.id, prompt["message_id"]) == wire["reply_markup"]
    assert "reply_markup" not in prompt  # a Message never shows a ForceReply back
    # The core hears of the press with the prompt as its message: it keeps the decision waiting.
    (asked,) = await sink.wait_for(1)
    assert isinstance(asked, ActionEvent) and asked.action_id == "why:acc:tsh:0a1b"
    assert asked.message == SentRef(room=str(ada.id), message_id=str(prompt["message_id"]))

    # The reply to the prompt is an ordinary reply: the core knows the prompt and decides.
    update_id = sandbox.user_sends_text(ada, "  Budget is fine ", reply_to=prompt["message_id"])
    _, reply = await sink.wait_for(2)
    assert isinstance(reply, MessageEvent) and reply.event_id == str(update_id)
    assert (reply.reply_to, reply.text) == (str(prompt["message_id"]), "  Budget is fine ")
    await sandbox.wait_until(lambda: len(sandbox.sent_to(ada.id)) == 3)
    assert sent(sandbox, ada)[-1] == "Done: Accepted by Ada Lovelace in Telegram: \u201cBudget is fine\u201d."
    assert len(sandbox.callback_answers) == 1


async def test_a_button_without_needs_reason_decides_at_once(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    sink.reply_for = lambda e: Reply(texts=("Done: Dismissed.",))
    ref = await polling_adapter.send(dest(ada), TASK)
    query_id = sandbox.user_presses(ada, int(ref.message_id), "dis:tsh:0a1b")
    (event,) = await sink.wait_for(1)
    assert isinstance(event, ActionEvent) and (event.action_id, event.reason) == ("dis:tsh:0a1b", "")
    await sandbox.wait_until(lambda: query_id in sandbox.callback_answers)
    assert sandbox.callback_answers[query_id]["text"] == "Done: Dismissed."
    assert not [c for c in sandbox.calls("sendMessage") if "force_reply" in str(c.params.get("reply_markup"))]


async def test_prompt_survives_a_flood_wait(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    ref = await polling_adapter.send(dest(ada), TASK)
    sandbox.fail_next("sendMessage", chat_id=ada.id, status=429, retry_after=1)
    sandbox.user_presses(ada, int(ref.message_id), "why:acc:tsh:0a1b")
    await sandbox.wait_until(lambda: len(sandbox.sent_to(ada.id)) == 2, within=10)
    prompt = sandbox.sent_to(ada.id)[-1]
    assert prompt["text"] == PROMPT
    sandbox.user_sends_text(ada, "ok", reply_to=prompt["message_id"])
    asked, event = await sink.wait_for(2)
    assert isinstance(asked, ActionEvent) and asked.message is not None
    assert isinstance(event, MessageEvent) and (event.reply_to, event.text) == (asked.message.message_id, "ok")


async def test_webhook_mode_asks_too(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, webhook_adapter: TelegramAdapter
) -> None:
    _, query_id, prompt = await press_for_prompt(sandbox, ada, webhook_adapter)
    assert query_id in sandbox.callback_answers and prompt["text"] == PROMPT
    sandbox.user_sends_text(ada, "over the webhook", reply_to=prompt["message_id"])
    asked, event = await sink.wait_for(2)
    assert isinstance(asked, ActionEvent) and asked.action_id == "why:acc:tsh:0a1b"
    assert isinstance(event, MessageEvent) and event.reply_to == str(prompt["message_id"])


# --- the sandbox checks ForceReply as Telegram does -------------------------------------------


async def send_raw(sandbox: SandboxTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as client:
        async with client.post(f"{sandbox.api_url}{sandbox.token}/{method}", json=params) as resp:
            return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ({"force_reply": False}, "force_reply must be True"),
        ({"force_reply": True, "input_field_placeholder": "x" * 65}, "1-64 characters"),
        ({"force_reply": True, "input_field_placeholder": ""}, "1-64 characters"),
        ({"force_reply": True, "placeholder": "x"}, "must be of type"),  # not a field of ForceReply
    ],
)
async def test_sandbox_refuses_a_bad_force_reply(
    sandbox: SandboxTelegram, ada: SandboxUser, markup: dict[str, Any], error: str
) -> None:
    status, body = await send_raw(sandbox, "sendMessage", chat_id=ada.id, text="why?", reply_markup=markup)
    assert status == 400 and error in body["description"], body


async def test_sandbox_accepts_force_reply_on_send_only(sandbox: SandboxTelegram, ada: SandboxUser) -> None:
    markup = {"force_reply": True, "input_field_placeholder": "Reason", "selective": True}
    status, body = await send_raw(sandbox, "sendMessage", chat_id=ada.id, text="why?", reply_markup=markup)
    assert status == 200 and "reply_markup" not in body["result"]
    message_id = body["result"]["message_id"]
    assert sandbox.force_reply_of(ada.id, message_id) == markup
    status, body = await send_raw(
        sandbox, "editMessageText", chat_id=ada.id, message_id=message_id, text="still?", reply_markup=markup
    )
    assert status == 400 and "reply_markup" in body["description"]  # edits take inline keyboards only
