"""The sandbox Bot API on its own: raw HTTP in every encoding, and the real PTB ``Bot``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

from sandbox.telegram import SandboxTelegram, SandboxUser

from .conftest import FrozenClock, free_socket

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bot(sandbox: SandboxTelegram) -> AsyncIterator[Bot]:
    b = Bot(sandbox.token, base_url=sandbox.api_url, base_file_url=sandbox.file_url)
    async with b:
        yield b


async def call(
    client: aiohttp.ClientSession, sandbox: SandboxTelegram, method: str, token: str | None = None, **kw: Any
) -> tuple[int, dict[str, Any]]:
    """POST (or whatever ``kw`` says) to the sandbox and return (status, JSON body)."""
    url = f"{sandbox.api_url}{token or sandbox.token}/{method}"
    async with client.post(url, **kw) as resp:
        return resp.status, await resp.json()


# --- protocol basics -----------------------------------------------------------------------


async def test_wrong_token_is_401(sandbox: SandboxTelegram, client: aiohttp.ClientSession) -> None:
    status, body = await call(client, sandbox, "getMe", token="1:wrong")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    with pytest.raises(InvalidToken):
        async with Bot("1:wrong", base_url=sandbox.api_url):
            pass


async def test_unknown_method_is_404(sandbox: SandboxTelegram, client: aiohttp.ClientSession) -> None:
    status, body = await call(client, sandbox, "sendTelepathy")
    assert status == 404 and body["ok"] is False


async def test_spec_checks_required_and_unknown_parameters(
    sandbox: SandboxTelegram, ada: SandboxUser, client: aiohttp.ClientSession
) -> None:
    status, body = await call(client, sandbox, "sendMessage", json={"chat_id": ada.id})
    assert (
        status == 400 and body["description"].startswith("Bad Request: ") and "'text'" in body["description"]
    )
    status, body = await call(
        client, sandbox, "sendMessage", json={"chat_id": ada.id, "text": "x", "colour": 1}
    )
    assert status == 400 and "unknown parameter 'colour'" in body["description"]
    status, body = await call(
        client, sandbox, "sendMessage", json={"chat_id": ada.id, "text": "x", "reply_markup": 5}
    )
    assert status == 400 and "reply_markup" in body["description"]
    assert sandbox.sent_to(ada.id) == []


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"link_preview_options": {"is_disabled": True, "colour": 1}}, "unknown field 'colour'"),
        (
            {"reply_markup": {"inline_keyboard": [[{"text": "A", "callback": "a"}]]}},
            "unknown field 'callback'",
        ),
        ({"reply_parameters": {"chat_id": 1}}, "'message_id' of ReplyParameters is required"),
        ({"reply_markup": "{not json"}, "reply_markup"),
    ],
)
async def test_spec_checks_nested_objects(
    sandbox: SandboxTelegram, ada: SandboxUser, client: aiohttp.ClientSession, extra: dict[str, Any], why: str
) -> None:
    status, body = await call(client, sandbox, "sendMessage", json={"chat_id": ada.id, "text": "x", **extra})
    assert status == 400 and body["description"].startswith("Bad Request: ")
    assert why in body["description"]
    assert sandbox.sent_to(ada.id) == []


@pytest.mark.parametrize("encoding", ["query", "form", "json", "multipart"])
async def test_every_body_encoding(
    sandbox: SandboxTelegram, ada: SandboxUser, client: aiohttp.ClientSession, encoding: str
) -> None:
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    fields = {
        "chat_id": str(ada.id),
        "text": "<b>hi</b>",
        "parse_mode": "HTML",
        "reply_markup": json.dumps(markup),
    }
    kw: dict[str, Any]
    if encoding == "query":
        kw = {"params": fields}
    elif encoding == "form":
        kw = {"data": fields}
    elif encoding == "json":
        kw = {"json": {**fields, "chat_id": ada.id, "reply_markup": markup}}
    else:
        form = aiohttp.FormData()
        for key, value in fields.items():
            form.add_field(key, value)
        kw = {"data": form}
    status, body = await call(client, sandbox, "sendMessage", **kw)
    assert status == 200, body
    assert body["result"]["text"] == "hi"
    assert body["result"]["reply_markup"] == markup
    assert sandbox.calls("sendMessage")[-1].params["chat_id"] == ada.id


# --- HTML parse mode -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "shown"),
    [
        ("<b>b</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <s>s</s> <del>d</del>", "b s i e u s d"),
        ('<a href="https://x.example/?a=1&amp;b=2">link</a>', "link"),
        ('<pre><code class="language-python">x &lt; 1</code></pre>', "x < 1"),
        ("<blockquote expandable>q</blockquote> <tg-spoiler>x</tg-spoiler>", "q x"),
        ("&lt;&gt;&amp;&quot; &#60;&#x3E; ünï", '<>&" <> ünï'),
        ("<b>bold <i>both</i></b>", "bold both"),
    ],
)
async def test_html_accepted(
    sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot, html: str, shown: str
) -> None:
    message = await bot.send_message(ada.id, html, parse_mode="HTML")
    assert message.text == shown


@pytest.mark.parametrize(
    ("html", "why"),
    [
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("<b>open", "Can't find end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("</b>", "Unexpected end tag"),
        ("a &nbsp; b", 'Unsupported HTML entity "&nbsp;"'),
        ("5 < 6", "byte offset 2"),
        ("R&D", "'&'"),
        ("a > b", "'>'"),
    ],
)
async def test_html_refused_with_cant_parse_entities(
    sandbox: SandboxTelegram, ada: SandboxUser, client: aiohttp.ClientSession, html: str, why: str
) -> None:
    status, body = await call(
        client, sandbox, "sendMessage", json={"chat_id": ada.id, "text": html, "parse_mode": "HTML"}
    )
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse entities: ")
    assert why in body["description"]
    assert sandbox.sent_to(ada.id) == []


async def test_length_counts_text_after_entity_parsing(
    sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot
) -> None:
    message = await bot.send_message(ada.id, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")
    assert message.text == "&" * 4096
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(ada.id, "&amp;" * 4097, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)empty"):
        await bot.send_message(ada.id, "<b> </b>", parse_mode="HTML")


async def test_callback_data_is_capped_at_64_bytes(
    sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot
) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="é" * 32)]])  # 64 bytes
    await bot.send_message(ada.id, "fits", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("no", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(ada.id, "does not fit", reply_markup=too_long)


async def test_reply_parameters(sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot) -> None:
    first = await bot.send_message(ada.id, "first")
    second = await bot.send_message(ada.id, "second", reply_parameters=ReplyParameters(first.message_id))
    assert second.reply_to_message is not None and second.reply_to_message.message_id == first.message_id
    with pytest.raises(BadRequest, match=r"(?i)replied not found"):
        await bot.send_message(ada.id, "x", reply_parameters=ReplyParameters(999))


# --- users and refusals --------------------------------------------------------------------


async def test_never_started_and_blocked_users_are_refused(sandbox: SandboxTelegram, bot: Bot) -> None:
    eve = sandbox.add_user(5, "Eve")
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(eve.id, "hi")
    sandbox.user_starts(eve)
    await bot.send_message(eve.id, "hi")
    sandbox.block_bot(eve.id)
    with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
        await bot.send_message(eve.id, "hi")
    sandbox.user_starts(eve, "again")  # restarting the bot unblocks it
    await bot.send_message(eve.id, "welcome back")
    assert [m["text"] for m in sandbox.sent_to(eve.id)] == ["hi", "welcome back"]


async def test_builders_produce_updates_ptb_parses(
    sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot
) -> None:
    sent = await bot.send_message(
        ada.id, "pick", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    )
    sandbox.user_starts(ada, "code_1")
    sandbox.user_sends_text(ada, "re", reply_to=sent.message_id)
    query_id = sandbox.user_presses(ada, sent.message_id, "a")
    with pytest.raises(ValueError, match=r"(?i)no button"):
        sandbox.user_presses(ada, sent.message_id, "b")
    start, reply, press = await bot.get_updates(timeout=0)
    assert start.message is not None and start.message.text == "/start code_1"
    assert start.message.entities[0].type == "bot_command" and start.message.entities[0].length == 6
    assert reply.message is not None and reply.message.reply_to_message is not None
    assert reply.message.reply_to_message.message_id == sent.message_id
    assert press.callback_query is not None and press.callback_query.id == query_id
    assert press.callback_query.data == "a" and press.callback_query.message is not None
    assert press.callback_query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query_id, text="ok")
    assert sandbox.callback_answers[query_id]["text"] == "ok"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)


async def test_edit_and_delete(sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = await bot.send_message(ada.id, "v1", reply_markup=keyboard)
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("v1", chat_id=ada.id, message_id=sent.message_id, reply_markup=keyboard)
    await bot.edit_message_text("<i>v2</i>", chat_id=ada.id, message_id=sent.message_id, parse_mode="HTML")
    (msg,) = sandbox.sent_to(ada.id)
    assert msg["text"] == "v2" and "reply_markup" not in msg and "edit_date" in msg
    await bot.edit_message_reply_markup(chat_id=ada.id, message_id=sent.message_id, reply_markup=keyboard)
    assert sandbox.sent_to(ada.id)[0]["reply_markup"] == keyboard.to_dict()
    user_msg = sandbox.user_sends_text(ada, "mine")
    del user_msg
    with pytest.raises(BadRequest, match=r"(?i)can't be edited"):
        await bot.edit_message_text("hijack", chat_id=ada.id, message_id=sent.message_id + 1)
    assert await bot.delete_message(ada.id, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)not found"):
        await bot.delete_message(ada.id, sent.message_id)


async def test_set_my_commands_validates(sandbox: SandboxTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("link", "Connect"), ("to", "Pick a conversation")])
    assert [c.command for c in await bot.get_my_commands()] == ["link", "to"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad-Name", "x")])


# --- getUpdates ------------------------------------------------------------------------------


async def test_get_updates_offset_limit_and_long_poll(
    sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot
) -> None:
    ids = [sandbox.user_sends_text(ada, f"m{i}") for i in range(3)]
    first_two = await bot.get_updates(limit=2, timeout=0)
    assert [u.update_id for u in first_two] == ids[:2]
    again = await bot.get_updates(timeout=0)  # nothing confirmed yet: all three
    assert [u.update_id for u in again] == ids
    rest = await bot.get_updates(offset=ids[1] + 1, timeout=0)
    assert [u.update_id for u in rest] == ids[2:]
    assert [u["update_id"] for u in sandbox.pending_updates] == ids[2:]
    # A long poll waits for the next update instead of returning empty.
    poll = asyncio.create_task(bot.get_updates(offset=ids[2] + 1, timeout=30))
    await sandbox.wait_until(lambda: len(sandbox.calls("getUpdates")) == 4)
    late = sandbox.user_sends_text(ada, "late")
    assert [u.update_id for u in await poll] == [late]


async def test_get_updates_honours_allowed_updates(
    sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot
) -> None:
    sent = await bot.send_message(
        ada.id, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    )
    sandbox.user_sends_text(ada, "text")
    sandbox.user_presses(ada, sent.message_id, "a")
    only_queries = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    assert [u.callback_query is not None for u in only_queries] == [True]


async def test_second_poller_terminates_the_first(
    sandbox: SandboxTelegram, bot: Bot, client: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await sandbox.wait_until(lambda: len(sandbox.calls("getUpdates")) == 1)
    # Another process with the same token (its own connection) starts polling.
    assert await call(client, sandbox, "getUpdates", json={"timeout": 0}) == (200, {"ok": True, "result": []})
    with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
        await first


async def test_get_updates_conflicts_with_webhook(sandbox: SandboxTelegram, bot: Bot) -> None:
    await bot.set_webhook("https://bridge.example/telegram/webhook", secret_token="abc")
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates(timeout=0)
    info = await bot.get_webhook_info()
    assert info.url == "https://bridge.example/telegram/webhook"
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


# --- webhook delivery ----------------------------------------------------------------------


async def test_webhook_delivery_with_secret_and_redelivery(
    sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    fail_first = [True]

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        if fail_first[0]:
            fail_first[0] = False
            return web.Response(status=500)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock).start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        assert await bot.set_webhook(url, secret_token="Sec_1-2")
        update_id = sandbox.user_sends_text(ada, "pushed")
        await sandbox.wait_until(lambda: not sandbox.pending_updates)
        assert [d.status for d in sandbox.webhook_deliveries] == [500, 200]
        assert [(secret, body["update_id"]) for secret, body in received] == [("Sec_1-2", update_id)] * 2
        assert received[1][1]["message"]["text"] == "pushed"
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500"
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


async def test_set_webhook_validates(sandbox: SandboxTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)HTTPS URL"):
        await bot.set_webhook("http://bridge.example/hook")
    with pytest.raises(BadRequest, match=r"(?i)ports 80, 88, 443 or 8443"):
        await bot.set_webhook("https://bridge.example:9000/hook")
    with pytest.raises(BadRequest, match=r"(?i)unallowed characters"):
        await bot.set_webhook("https://bridge.example/hook", secret_token="no spaces!")


# --- limits and injected failures ----------------------------------------------------------


async def test_per_chat_limit_with_burst_and_other_chats_unaffected(
    sandbox: SandboxTelegram, ada: SandboxUser, client: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    bob = sandbox.add_user(6, "Bob", started=True)
    sandbox.enforce_limits = True
    for i in range(sandbox.chat_burst):
        status, _ = await call(client, sandbox, "sendMessage", json={"chat_id": ada.id, "text": f"{i}"})
        assert status == 200
    status, body = await call(client, sandbox, "sendMessage", json={"chat_id": ada.id, "text": "x"})
    assert (status, body) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    status, _ = await call(client, sandbox, "sendMessage", json={"chat_id": bob.id, "text": "fine"})
    assert status == 200
    clock.advance(1)  # retry_after honoured: one more message fits
    status, _ = await call(client, sandbox, "sendMessage", json={"chat_id": ada.id, "text": "later"})
    assert status == 200


async def test_group_limit_counts_any_minute_and_a_group_is_a_chat(
    sandbox: SandboxTelegram, client: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    sandbox.enforce_limits = True
    sandbox.add_group(-100, "Course group")

    async def send() -> int:
        return (await call(client, sandbox, "sendMessage", json={"chat_id": -100, "text": "g"}))[0]

    # One a second per chat holds in a group too: a burst of chat_burst, then 429.
    assert [await send() for _ in range(sandbox.chat_burst + 1)] == [200] * sandbox.chat_burst + [429]
    statuses = []
    for _ in range(20 - sandbox.chat_burst + 1):
        clock.advance(1)
        statuses.append(await send())
    # 20 in the minute so far; a bucket refilled at 20 a minute would have let a 21st in by now.
    assert statuses == [200] * (20 - sandbox.chat_burst) + [429]
    elapsed = 20 - sandbox.chat_burst + 1
    assert sandbox.calls("sendMessage")[-1].response["parameters"]["retry_after"] == 60 - elapsed
    clock.advance(60 - elapsed)  # the first message of the minute has left the window
    assert await send() == 200


async def test_overall_limit_counts_any_second(
    sandbox: SandboxTelegram, client: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    sandbox.enforce_limits = True
    users = [sandbox.add_user(1000 + i, f"U{i}", started=True) for i in range(32)]

    async def send(user: SandboxUser) -> int:
        return (await call(client, sandbox, "sendMessage", json={"chat_id": user.id, "text": "o"}))[0]

    assert [await send(u) for u in users[:31]] == [200] * 30 + [429]
    clock.advance(0.5)  # a bucket refilled at 30 a second would take 15 more now
    assert await send(users[30]) == 429
    clock.advance(0.5)
    assert await send(users[31]) == 200


async def test_limits_switch_off(sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot) -> None:
    assert sandbox.enforce_limits is False
    for i in range(10):
        await bot.send_message(ada.id, f"{i}")
    assert len(sandbox.sent_to(ada.id)) == 10


async def test_injected_failures(sandbox: SandboxTelegram, ada: SandboxUser, bot: Bot) -> None:
    bob = sandbox.add_user(6, "Bob", started=True)
    sandbox.fail_next("sendMessage", chat_id=ada.id, status=429, retry_after=9, count=2)
    for _ in range(2):
        with pytest.raises(RetryAfter):
            await bot.send_message(ada.id, "x")
        assert sandbox.calls("sendMessage")[-1].response["parameters"] == {"retry_after": 9}
        await bot.send_message(bob.id, "bob is not affected")
    await bot.send_message(ada.id, "third goes through")
    sandbox.fail_next(None, status=500)
    with pytest.raises(NetworkError, match=r"(?i)Internal Server Error"):
        await bot.get_me()
    sandbox.fail_next("sendMessage", status=403)
    with pytest.raises(Forbidden):
        await bot.send_message(ada.id, "x")
    failures = [r.status for r in sandbox.requests if not r.ok]
    assert failures == [429, 429, 500, 403]


# --- standalone and layering -----------------------------------------------------------------


def test_sandbox_never_imports_the_core() -> None:
    code = (
        "import sys, sandbox.telegram; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('bridge', 'adapters')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=30)


async def test_runs_standalone() -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox.telegram", "--port", str(port), "--token", "42:abc",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert f"http://127.0.0.1:{port}/bot" in line.decode()
        async with Bot("42:abc", base_url=f"http://127.0.0.1:{port}/bot") as b:
            assert b.username == "pluto_sandbox_bot"
    finally:
        proc.terminate()
        await proc.wait()


async def test_min_seconds_follows_the_flood_limits(sandbox: SandboxTelegram) -> None:
    # Per chat: a burst of chat_burst, then one a second; overall: 30 in any second.
    assert sandbox.min_seconds({1: 30}) == 30 - sandbox.chat_burst
    assert sandbox.min_seconds({chat: 30 for chat in range(1, 11)}) == 30 - sandbox.chat_burst
    assert sandbox.min_seconds({chat: 3 for chat in range(1, 41)}) == 3.0  # 120: four seconds' worth
    assert sandbox.min_seconds({chat: 1 for chat in range(1, 101)}) == 3.0
    # A group: its first 20 as one chat allows (17 s), then each 20 a minute after its 20th elder.
    assert sandbox.min_seconds({-100: 20}) == 20 - sandbox.chat_burst
    assert sandbox.min_seconds({-100: 21}) == 60
    assert sandbox.min_seconds({-100: 100}) == 4 * 60 + 20 - sandbox.chat_burst


async def test_min_seconds_is_a_schedule_the_limits_accept(
    sandbox: SandboxTelegram, client: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    """The floor is reachable: sending a group's 45 messages at its schedule draws no 429."""
    sandbox.enforce_limits = True
    sandbox.add_group(-100, "Course group")
    times = [sandbox.min_seconds({-100: n}) for n in range(1, 46)]  # the n-th message's earliest
    start = clock()
    for at in times:
        clock.advance(start + at - clock())
        status, _ = await call(client, sandbox, "sendMessage", json={"chat_id": -100, "text": "g"})
        assert status == 200, at
    assert times[-1] == sandbox.min_seconds({-100: 45})
