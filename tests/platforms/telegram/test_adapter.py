"""The Telegram adapter driven against the sandbox Bot API, asserting on what crosses the wire."""

from __future__ import annotations

import asyncio
import importlib.abc
import json
import logging
import sys
import time
from typing import Any

import aiohttp
import pytest

from adapters.telegram import TelegramAdapter
from adapters.telegram.adapter import ALLOWED_UPDATES
from bridge.inbound.parse import parsed
from bridge.model import (
    COMMANDS,
    Action,
    ActionEvent,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    Destination,
    MessageEvent,
    Platform,
    Post,
    Reply,
    SentRef,
)
from bridge.notices import FAILED
from bridge.ports import PermanentError, RateLimited, RecipientUnreachable, TransientError
from sandbox.telegram import SandboxTelegram, SandboxUser

from .conftest import WEBHOOK_SECRET, RecordingSink


def dest(user: SandboxUser) -> Destination:
    return Destination(identity=ChatIdentity(Platform.TELEGRAM, "", str(user.id)), room=str(user.id))


# --- start-up ------------------------------------------------------------------------------


async def test_start_publishes_every_command_and_polls(
    sandbox: SandboxTelegram, polling_adapter: TelegramAdapter
) -> None:
    assert sandbox.commands == [{"command": c.name, "description": c.description} for c in COMMANDS]
    assert sandbox.calls("getMe", ok=True)
    assert sandbox.calls("deleteWebhook", ok=True)  # PTB's polling bootstrap
    await sandbox.wait_until(lambda: bool(sandbox.calls("getUpdates")))
    polls = sandbox.calls("getUpdates")
    assert polls[0].params["allowed_updates"] == list(ALLOWED_UPDATES)  # group rooms: edits, the bot's membership
    assert polls[0].params["timeout"] == 1


async def test_bot_link_uses_username_from_getme(
    sandbox: SandboxTelegram, polling_adapter: TelegramAdapter
) -> None:
    assert polling_adapter.bot_link("AbC_12-x") == f"https://t.me/{sandbox.bot_username}?start=AbC_12-x"
    assert polling_adapter.bot_link("not a payload!") is None


async def test_bot_link_before_start_is_none(sandbox: SandboxTelegram) -> None:
    adapter = TelegramAdapter(token=sandbox.token, base_url=sandbox.api_url)
    assert adapter.bot_link("abc") is None


async def test_stop_is_safe_twice_and_confirms_offset(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink
) -> None:
    adapter = TelegramAdapter(token=sandbox.token, base_url=sandbox.api_url, poll_timeout=1)
    await adapter.start(sink)
    sandbox.user_sends_text(ada, "hello")
    await sink.wait_for(1)
    await adapter.stop()
    await adapter.stop()
    assert sandbox.pending_updates == []  # the final getUpdates confirmed what was handled


async def test_rejected_token_fails_start_without_revealing_it(
    sandbox: SandboxTelegram, sink: RecordingSink
) -> None:
    token = "999:definitely-not-the-token"
    adapter = TelegramAdapter(token=token, base_url=sandbox.api_url)
    with pytest.raises(PermanentError) as info:
        await adapter.start(sink)
    assert token not in str(info.value) and "Unauthorized" in str(info.value)
    await adapter.stop()  # nothing running: still safe


async def test_token_never_reaches_the_logs(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = TelegramAdapter(token=sandbox.token, base_url=sandbox.api_url, poll_timeout=1)
    await adapter.start(sink)
    try:
        await adapter.send(dest(ada), Post(text="hi"))
    finally:
        await adapter.stop()
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/sendMessage" in line for line in httpx_lines)  # httpx does log every URL
    assert all(sandbox.token not in line for line in httpx_lines)


# --- inbound -------------------------------------------------------------------------------


async def test_text_becomes_message_event(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    update_id = sandbox.user_sends_text(ada, "5 < 6 & <b>not bold</b>")
    (event,) = await sink.wait_for(1)
    assert event == MessageEvent(
        identity=ChatIdentity(Platform.TELEGRAM, "", "4242"),
        event_id=str(update_id),
        room="4242",
        display_name="Ada Lovelace",
        is_private=True,
        handle="ada",
        text="5 < 6 & <b>not bold</b>",
    )


async def test_reply_carries_replied_message_id(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    ref = await polling_adapter.send(dest(ada), Post(text="From Pluto: hi"))
    sandbox.user_sends_text(ada, "answer", reply_to=int(ref.message_id))
    (event,) = await sink.wait_for(1)
    assert isinstance(event, MessageEvent)
    assert event.reply_to == ref.message_id
    assert event.text == "answer"


async def test_start_with_payload_is_link_command_and_bare_start_is_contact(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    sandbox.user_starts(ada, "Xy7_code-1")
    sandbox.user_starts(ada)
    first, second = await sink.wait_for(2)
    assert isinstance(first, CommandEvent)
    assert (first.name, first.args, first.room) == ("link", "Xy7_code-1", "4242")
    assert type(second) is ContactEvent
    assert second.identity == ChatIdentity(Platform.TELEGRAM, "", "4242")
    assert second.display_name == "Ada Lovelace"


async def test_every_command_and_botname_suffix(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    for spec in COMMANDS:
        sandbox.user_sends_text(ada, f"/{spec.name} some  args here")
    sandbox.user_sends_text(ada, f"/status@{sandbox.bot_username}")
    sandbox.user_sends_text(ada, "/to@other_bot Group A")  # another bot's command: not ours
    sandbox.user_sends_text(ada, "after")
    events = await sink.wait_for(len(COMMANDS) + 2)
    commands = [parsed(e) for e in events[: len(COMMANDS)] if isinstance(e, CommandEvent)]
    assert [(e.name, e.args) for e in commands] == [(c.name, "some  args here") for c in COMMANDS]
    status = events[len(COMMANDS)]
    assert isinstance(status, CommandEvent) and (parsed(status).name, parsed(status).args) == ("status", "")
    after = events[-1]  # neither relayed as text nor taken as a command of this bot
    assert isinstance(after, MessageEvent) and after.text == "after"


async def test_event_ids_are_update_ids(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    ids = [sandbox.user_sends_text(ada, f"m{i}") for i in range(3)]
    events = await sink.wait_for(3)
    assert sorted(e.event_id for e in events) == sorted(str(i) for i in ids)


async def test_reply_texts_are_sent_to_the_person(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    sink.reply_for = lambda e: Reply(
        texts=("<b>Linked</b> as ada", "Pick one"), actions=(Action("help-1", "Help"),)
    )
    sandbox.user_sends_text(ada, "/status")
    await sink.wait_for(1)
    await sandbox.wait_until(lambda: len(sandbox.sent_to(ada.id)) == 2)
    first, second = sandbox.sent_to(ada.id)
    assert first["text"] == "Linked as ada" and "reply_markup" not in first
    assert second["text"] == "Pick one"
    assert second["reply_markup"] == {"inline_keyboard": [[{"text": "Help", "callback_data": "help-1"}]]}


async def test_reply_waits_out_a_flood_limit(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    """A throttled answer is retried with the outbox's policy (as long as the chat keeps
    answering 429, within ``give_up_after``), not an adapter's own three tries, and arrives once."""
    sink.reply_for = lambda e: Reply(texts=("Linked as ada",))
    sandbox.fail_next("sendMessage", chat_id=ada.id, status=429, retry_after=1, count=3)
    sandbox.user_sends_text(ada, "/status")
    await sandbox.wait_until(lambda: len(sandbox.sent_to(ada.id)) == 1, within=20)
    assert [m["text"] for m in sandbox.sent_to(ada.id)] == ["Linked as ada"]
    assert [r.status for r in sandbox.calls("sendMessage")] == [429, 429, 429, 200]


async def test_button_press_answers_edits_and_sends(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    ref = await polling_adapter.send(
        dest(ada),
        Post(
            text="Task: <i>review</i>",
            actions=(Action("t:1:ok", "Accept", style="primary"), Action("t:1:no", "Reject", style="danger")),
        ),
    )
    sink.reply_for = lambda e: Reply(
        texts=("<b>Accepted</b> &amp; saved", "Next task is due Friday"),
        replace=Post(text="Task: <i>review</i> (accepted)"),
    )
    query_id = sandbox.user_presses(ada, int(ref.message_id), "t:1:ok")
    (event,) = await sink.wait_for(1)
    assert isinstance(event, ActionEvent)
    assert event.action_id == "t:1:ok"
    assert event.message == ref
    assert event.identity == ChatIdentity(Platform.TELEGRAM, "", "4242")
    await sandbox.wait_until(lambda: len(sandbox.sent_to(ada.id)) == 2)
    assert sandbox.callback_answers[query_id]["text"] == "Accepted & saved"  # plain toast
    pressed, follow_up = sandbox.sent_to(ada.id)
    assert pressed["text"] == "Task: review (accepted)"
    assert "reply_markup" not in pressed  # buttons retired
    assert follow_up["text"] == "Next task is due Friday"


async def test_button_press_is_answered_even_when_core_fails(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    def boom(event: object) -> Reply:
        raise RuntimeError("core failure")

    sink.reply_for = boom
    ref = await polling_adapter.send(dest(ada), Post(text="x", actions=(Action("a", "A"),)))
    query_id = sandbox.user_presses(ada, int(ref.message_id), "a")
    await sandbox.wait_until(lambda: query_id in sandbox.callback_answers)
    assert sandbox.callback_answers[query_id]["text"] == FAILED  # told, not left spinning


async def test_a_slow_core_does_not_leave_the_button_spinning(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    polling_adapter.answer_within = 0.2
    sink.gate = asyncio.Event()  # the core (a slow LMS, say) has not answered yet
    sink.reply_for = lambda e: Reply(texts=("Done: Marked read",))
    ref = await polling_adapter.send(dest(ada), Post(text="Alert", actions=(Action("a", "Mark read"),)))
    query_id = sandbox.user_presses(ada, int(ref.message_id), "a")
    try:
        await sandbox.wait_until(lambda: query_id in sandbox.callback_answers)
    finally:
        sink.gate.set()  # (also when it failed: the adapter's stop waits for the press's handler)
    assert "text" not in sandbox.callback_answers[query_id]  # the spinner stopped, nothing claimed yet
    await sandbox.wait_until(lambda: len(sandbox.sent_to(ada.id)) == 2)
    assert sandbox.sent_to(ada.id)[-1]["text"] == "Done: Marked read"  # the outcome, as a message


async def test_long_toast_is_cut_to_200(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    sink.reply_for = lambda e: Reply(texts=("y" * 500,))
    ref = await polling_adapter.send(dest(ada), Post(text="x", actions=(Action("a", "A"),)))
    query_id = sandbox.user_presses(ada, int(ref.message_id), "a")
    await sandbox.wait_until(lambda: query_id in sandbox.callback_answers)
    assert sandbox.callback_answers[query_id]["text"] == "y" * 200


async def test_one_persons_events_reach_the_core_in_order_while_others_go_ahead(
    sandbox: SandboxTelegram, ada: SandboxUser
) -> None:
    bob = sandbox.add_user(4343, "Bob", started=True)
    entered: list[str] = []
    changed = asyncio.Condition()
    release = asyncio.Event()

    async def slow_first(event: ChatEvent) -> Reply | None:
        assert isinstance(event, MessageEvent)
        async with changed:
            entered.append(event.text)
            changed.notify_all()
        if event.text == "ada 1":
            await release.wait()  # the core is slow with Ada's first line
        return None

    async def entries(count: int) -> list[str]:
        async with changed:
            await asyncio.wait_for(changed.wait_for(lambda: len(entered) >= count), 10)
        return entered

    adapter = TelegramAdapter(token=sandbox.token, base_url=sandbox.api_url, poll_timeout=1)
    await adapter.start(slow_first)
    try:
        for user, text in ((ada, "ada 1"), (ada, "ada 2"), (bob, "bob 1")):
            sandbox.user_sends_text(user, text)
        # Bob does not wait for Ada; Ada's second line waits for her first.
        assert await entries(2) == ["ada 1", "bob 1"]
        release.set()
        assert await entries(3) == ["ada 1", "bob 1", "ada 2"]
    finally:
        release.set()
        await adapter.stop()


# --- outbound ------------------------------------------------------------------------------


class _ImportsAsked(importlib.abc.MetaPathFinder):
    """Records every module looked for on the import path (a cached import asks no finder)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        self.names.append(name)


async def test_a_send_looks_for_no_module(ada: SandboxUser, polling_adapter: TelegramAdapter) -> None:
    """After the first send every module a send needs is loaded. httpcore imports sniffio on
    each request: without sniffio installed that import failed each time, after a search of
    the whole import path (four a message, about a fifth of a millisecond of CPU)."""
    await polling_adapter.send(dest(ada), Post(text="first"))
    asked = _ImportsAsked()
    sys.meta_path.insert(0, asked)
    try:
        await polling_adapter.send(dest(ada), Post(text="second"))
    finally:
        sys.meta_path.remove(asked)
    assert asked.names == []


async def test_send_wire_format(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    first = await polling_adapter.send(dest(ada), Post(text="first"))
    ref = await polling_adapter.send(
        dest(ada),
        Post(
            text="<b>Alert</b>",
            reply_to=first.message_id,
            actions=(
                Action("x" * 64, "Open", style="primary"),
                Action("ignored", "Site", url="https://pluto.example/alert/1"),
            ),
        ),
    )
    assert ref == SentRef(room="4242", message_id=str(int(first.message_id) + 1))
    params = sandbox.calls("sendMessage", ok=True)[-1].params
    assert params["parse_mode"] == "HTML"
    assert params["link_preview_options"] == {"is_disabled": True}
    assert params["reply_parameters"]["message_id"] == int(first.message_id)
    assert params["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "Open", "callback_data": "x" * 64, "style": "primary"},
                {"text": "Site", "url": "https://pluto.example/alert/1"},
            ]
        ]
    }


async def test_send_to_identity_without_room(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    ref = await polling_adapter.send(
        Destination(identity=ChatIdentity(Platform.TELEGRAM, "", str(ada.id))), Post(text="hi")
    )
    assert ref.room == str(ada.id)


async def test_hostile_text_is_sent_exactly_as_given(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    # Already escaped by the renderer: the adapter must neither escape again nor unescape.
    hostile = "&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; &quot;@everyone&quot; &#60;b&#62;"
    await polling_adapter.send(dest(ada), Post(text=hostile))
    call = sandbox.calls("sendMessage", ok=True)[-1]
    assert call.params["text"] == hostile
    assert sandbox.sent_to(ada.id)[-1]["text"] == '<script>alert(1)</script> &amp; "@everyone" <b>'


async def test_malformed_html_is_refused_by_telegram(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    with pytest.raises(PermanentError) as info:
        await polling_adapter.send(dest(ada), Post(text="<b>unclosed"))
    assert not isinstance(info.value, RecipientUnreachable)
    assert "can't parse entities" in info.value.reason.lower()
    assert sandbox.calls("sendMessage")[-1].status == 400


async def test_edit_retires_buttons_and_delete_removes(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    ref = await polling_adapter.send(dest(ada), Post(text="Task", actions=(Action("a", "Accept"),)))
    await polling_adapter.edit(dest(ada), ref, Post(text="Task <i>(done)</i>"))
    (msg,) = sandbox.sent_to(ada.id)
    assert msg["text"] == "Task (done)" and "reply_markup" not in msg
    edit = sandbox.calls("editMessageText", ok=True)[-1].params
    assert edit["chat_id"] == ada.id and edit["message_id"] == int(ref.message_id)
    await polling_adapter.edit(dest(ada), ref, Post(text="Task <i>(done)</i>"))  # "not modified" is success
    await polling_adapter.delete(dest(ada), ref)
    assert sandbox.sent_to(ada.id) == []
    with pytest.raises(PermanentError):
        await polling_adapter.delete(dest(ada), ref)


async def test_edit_with_new_actions(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    ref = await polling_adapter.send(dest(ada), Post(text="Q"))
    await polling_adapter.edit(dest(ada), ref, Post(text="Q", actions=(Action("b", "Again"),)))
    assert sandbox.sent_to(ada.id)[0]["reply_markup"]["inline_keyboard"] == [
        [{"text": "Again", "callback_data": "b"}]
    ]


# --- error mapping -------------------------------------------------------------------------


async def test_429_is_rate_limited_with_retry_after(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    sandbox.fail_next("sendMessage", chat_id=ada.id, status=429, retry_after=7)
    with pytest.raises(RateLimited) as info:
        await polling_adapter.send(dest(ada), Post(text="hi"))
    assert info.value.retry_after == 7
    assert len(sandbox.calls("sendMessage")) == 1  # no hidden retry inside the SDK


async def test_429_on_one_chat_does_not_hold_up_another(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    bob = sandbox.add_user(777, "Bob", started=True)
    sandbox.enforce_limits = True
    for _ in range(sandbox.chat_burst):
        await polling_adapter.send(dest(ada), Post(text="burst"))
    with pytest.raises(RateLimited) as info:
        await polling_adapter.send(dest(ada), Post(text="one too many"))
    assert info.value.retry_after == 1
    ref = await polling_adapter.send(dest(bob), Post(text="still flowing"))
    assert ref.room == "777"
    assert sandbox.sent_to(bob.id)[0]["text"] == "still flowing"


async def test_blocked_and_never_started_are_unreachable(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter
) -> None:
    stranger = sandbox.add_user(999, "Stranger")
    sandbox.block_bot(ada.id)
    with pytest.raises(RecipientUnreachable, match="blocked by the user"):
        await polling_adapter.send(dest(ada), Post(text="hi"))
    with pytest.raises(RecipientUnreachable, match="initiate conversation"):
        await polling_adapter.send(dest(stranger), Post(text="hi"))


@pytest.mark.parametrize("status", [500, 502])
async def test_5xx_is_transient(
    sandbox: SandboxTelegram, ada: SandboxUser, polling_adapter: TelegramAdapter, status: int
) -> None:
    sandbox.fail_next("sendMessage", status=status)
    with pytest.raises(TransientError):
        await polling_adapter.send(dest(ada), Post(text="hi"))
    sandbox.fail_next("editMessageText", status=status)
    ref = await polling_adapter.send(dest(ada), Post(text="hi"))
    with pytest.raises(TransientError):
        await polling_adapter.edit(dest(ada), ref, Post(text="changed"))


async def test_connection_refused_is_transient(sandbox: SandboxTelegram, ada: SandboxUser) -> None:
    adapter = TelegramAdapter(token=sandbox.token, base_url=sandbox.api_url)
    await adapter.bot.initialize()
    try:
        await sandbox.stop()
        with pytest.raises(TransientError):
            await adapter.send(dest(ada), Post(text="hi"))
    finally:
        await adapter.bot.shutdown()


async def test_unknown_chat_is_permanent(sandbox: SandboxTelegram, polling_adapter: TelegramAdapter) -> None:
    with pytest.raises(PermanentError, match=r"(?i)chat not found") as info:
        await polling_adapter.send(
            Destination(identity=ChatIdentity(Platform.TELEGRAM, "", "31337")), Post(text="hi")
        )
    assert not isinstance(info.value, RecipientUnreachable)


async def test_polling_conflict_logs_one_clear_line_and_recovers(
    sandbox: SandboxTelegram,
    ada: SandboxUser,
    sink: RecordingSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.fail_next("getUpdates", status=409, count=2)
    adapter = TelegramAdapter(token=sandbox.token, base_url=sandbox.api_url, poll_timeout=1)
    caplog.set_level(logging.WARNING, logger="adapters.telegram")
    await adapter.start(sink)
    try:
        sandbox.user_sends_text(ada, "after the conflict")
        (event,) = await sink.wait_for(1)
        assert isinstance(event, MessageEvent) and event.text == "after the conflict"
    finally:
        await adapter.stop()
    errors = [r for r in caplog.records if r.name.startswith("adapters.telegram") and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "409 Conflict" in errors[0].getMessage() and "webhook" in errors[0].getMessage()
    assert len([r for r in sandbox.calls("getUpdates") if r.status == 409]) == 2


# --- webhook mode --------------------------------------------------------------------------


async def test_webhook_mode_sets_webhook_and_receives_updates(
    sandbox: SandboxTelegram,
    ada: SandboxUser,
    sink: RecordingSink,
    webhook_adapter: TelegramAdapter,
    webhook_server: tuple[object, str],
) -> None:
    _, url = webhook_server
    (call,) = sandbox.calls("setWebhook", ok=True)
    assert call.params == {
        "url": url,
        "secret_token": WEBHOOK_SECRET,
        "allowed_updates": list(ALLOWED_UPDATES),
    }
    assert sandbox.calls("getUpdates") == []
    sink.reply_for = lambda e: Reply(texts=("Welcome",)) if isinstance(e, ContactEvent) else None
    start_id = sandbox.user_starts(ada)
    text_id = sandbox.user_sends_text(ada, "hello over webhook")
    first, second = await sink.wait_for(2)
    assert type(first) is ContactEvent and first.event_id == str(start_id)
    assert isinstance(second, MessageEvent) and second.event_id == str(text_id)
    await sandbox.wait_until(lambda: bool(sandbox.sent_to(ada.id)))
    assert sandbox.sent_to(ada.id)[0]["text"] == "Welcome"
    # The 200 follows the event's journalling, which may finish just after the sink ran.
    await sandbox.wait_until(lambda: sandbox.pending_updates == [])
    assert all(d.status == 200 for d in sandbox.webhook_deliveries)


async def test_webhook_is_acknowledged_before_the_core_finishes(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, webhook_adapter: TelegramAdapter
) -> None:
    sink.gate = asyncio.Event()
    sink.reply_for = lambda e: Reply(texts=("late answer",))
    sandbox.user_sends_text(ada, "slow one")
    try:
        await sink.wait_for(1)
        # Telegram got its 200 (update no longer pending) while the core is still working.
        await sandbox.wait_until(lambda: not sandbox.pending_updates)
        assert [d.status for d in sandbox.webhook_deliveries] == [200]
        assert sandbox.sent_to(ada.id) == []
    finally:
        sink.gate.set()
    await sandbox.wait_until(lambda: bool(sandbox.sent_to(ada.id)))
    assert sandbox.sent_to(ada.id)[0]["text"] == "late answer"


async def test_polling_confirms_offset_before_the_core_finishes(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, polling_adapter: TelegramAdapter
) -> None:
    sink.gate = asyncio.Event()
    update_id = sandbox.user_sends_text(ada, "slow one")
    try:
        await sink.wait_for(1)
        await sandbox.wait_until(
            lambda: any(r.params.get("offset") == update_id + 1 for r in sandbox.calls("getUpdates"))
        )
        assert sandbox.pending_updates == []
    finally:
        sink.gate.set()


async def test_webhook_button_press(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, webhook_adapter: TelegramAdapter
) -> None:
    sink.reply_for = lambda e: Reply(texts=("Done",))
    ref = await webhook_adapter.send(dest(ada), Post(text="Task", actions=(Action("t:9", "Accept"),)))
    query_id = sandbox.user_presses(ada, int(ref.message_id), "t:9")
    (event,) = await sink.wait_for(1)
    assert isinstance(event, ActionEvent) and event.action_id == "t:9"
    await sandbox.wait_until(lambda: query_id in sandbox.callback_answers)
    assert sandbox.callback_answers[query_id]["text"] == "Done"


@pytest.mark.parametrize("secret", [None, "wrong-secret", WEBHOOK_SECRET + "x"])
async def test_forged_webhook_secret_is_refused(
    sandbox: SandboxTelegram,
    ada: SandboxUser,
    sink: RecordingSink,
    webhook_adapter: TelegramAdapter,
    webhook_server: tuple[object, str],
    secret: str | None,
) -> None:
    _, url = webhook_server
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),  # a fresh update: older ones are dropped anyway
            "chat": {"id": ada.id, "type": "private", "first_name": "Ada"},
            "from": {"id": ada.id, "is_bot": False, "first_name": "Ada"},
            "text": "forged",
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with aiohttp.ClientSession() as client, client.post(url, json=update, headers=headers) as resp:
        assert resp.status == 403
    # The right secret goes through the same route, so the forged one was really refused.
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    update["update_id"] = 2
    async with aiohttp.ClientSession() as client, client.post(url, json=update, headers=headers) as resp:
        assert resp.status == 200
    (event,) = await sink.wait_for(1)
    assert event.event_id == "2"


async def test_bot_authored_and_edited_messages_are_not_passed_on(
    sandbox: SandboxTelegram,
    ada: SandboxUser,
    sink: RecordingSink,
    webhook_adapter: TelegramAdapter,
    webhook_server: tuple[object, str],
) -> None:
    _, url = webhook_server
    chat = {"id": ada.id, "type": "private", "first_name": "Ada"}
    human = {"id": ada.id, "is_bot": False, "first_name": "Ada"}
    robot = {"id": 55, "is_bot": True, "first_name": "Echo", "username": "echo_bot"}
    updates = [
        {
            "update_id": 10,
            "message": {"message_id": 1, "date": int(time.time()), "chat": chat, "from": robot, "text": "loop"},
        },
        {
            "update_id": 12,
            "edited_message": {
                "message_id": 3,
                "date": int(time.time()),
                "edit_date": 1,
                "chat": chat,
                "from": human,
                "text": "e",
            },
        },
        {
            "update_id": 13,
            "message": {"message_id": 4, "date": int(time.time()), "chat": chat, "from": human, "text": "real"},
        },
    ]
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with aiohttp.ClientSession() as client:
        for update in updates:
            async with client.post(url, json=update, headers=headers) as resp:
                assert resp.status == 200
    (event,) = await sink.wait_for(1)
    assert isinstance(event, MessageEvent) and event.text == "real"
    await webhook_adapter.stop()  # waits for every handler: nothing else can arrive later
    assert [e.event_id for e in sink.events] == ["13"]


async def test_webhook_redelivers_after_failure(
    sandbox: SandboxTelegram, ada: SandboxUser, sink: RecordingSink, webhook_adapter: TelegramAdapter
) -> None:
    # The secret changes under the adapter's feet: deliveries get 403 until it is put back.
    sandbox.webhook = {**(sandbox.webhook or {}), "secret_token": "rotated"}
    sandbox.user_sends_text(ada, "eventually")
    await sandbox.wait_until(lambda: any(d.status == 403 for d in sandbox.webhook_deliveries))
    assert sink.events == []
    sandbox.webhook = {**sandbox.webhook, "secret_token": WEBHOOK_SECRET}
    (event,) = await sink.wait_for(1)
    assert isinstance(event, MessageEvent) and event.text == "eventually"


def test_webhook_mode_needs_url_and_secret() -> None:
    with pytest.raises(ValueError, match="webhook_url and webhook_secret"):
        TelegramAdapter(token="1:x", mode="webhook", webhook_url="https://h/telegram/webhook")
    with pytest.raises(ValueError, match="webhook_secret"):
        TelegramAdapter(token="1:x", mode="webhook", webhook_url="https://h/t", webhook_secret="not ok!")
    assert TelegramAdapter(token="1:x").web_routes() == []


def test_capabilities() -> None:
    caps = TelegramAdapter.capabilities
    assert caps.max_text == 4096
    assert [(p.count, p.seconds) for p in caps.per_room] == [(3, 3)]
    assert [(p.count, p.seconds) for p in caps.room_pace] == [(20, 60), (3, 3)]
    assert [(p.count, p.seconds) for p in caps.overall] == [(30, 1)]


# --- malformed and stale updates (issue 13, item 6) ------------------------------------------


async def _post_webhook(url: str, body: bytes, secret: str = WEBHOOK_SECRET) -> int:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        return resp.status


@pytest.mark.parametrize("body", [b"[]", b'"update"', b"\xff\xfe", b"{"])
async def test_a_webhook_body_that_is_no_update_is_a_400(
    sandbox: SandboxTelegram,
    ada: SandboxUser,
    sink: RecordingSink,
    webhook_adapter: TelegramAdapter,
    webhook_server: tuple[object, str],
    body: bytes,
) -> None:
    assert await _post_webhook(webhook_server[1], body) == 400
    sandbox.user_sends_text(ada, "after")
    events = await sink.wait_for(1)
    assert [e.text for e in events if isinstance(e, MessageEvent)] == ["after"]


async def test_an_old_update_is_dropped_and_its_author_told(
    sandbox: SandboxTelegram,
    ada: SandboxUser,
    sink: RecordingSink,
    webhook_adapter: TelegramAdapter,
    webhook_server: tuple[object, str],
) -> None:
    old = {
        "update_id": 1,
        "message": {
            "message_id": 99,
            "date": int(time.time()) - 3600,
            "chat": ada.private_chat(),
            "from": ada.as_json(),
            "text": "/link",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    assert await _post_webhook(webhook_server[1], json.dumps(old).encode()) == 200
    await sandbox.wait_until(lambda: any("arrived too late" in m["text"] for m in sandbox.sent_to(ada.id)))
    sandbox.user_sends_text(ada, "fresh")
    events = await sink.wait_for(1)
    assert [getattr(e, "text", e) for e in events] == ["fresh"]
