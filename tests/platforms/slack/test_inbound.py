"""Inbound: what a Slack user does reaches the sink as the right bridge event, in HTTP mode
and in Socket Mode, and the sink's Reply reaches the user."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.slack import SlackAdapter
from bridge.inbound.parse import parsed
from bridge.model import (
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
from sandbox.slack import SandboxSlack
from tests.support import until

from .conftest import ALEX, KIM, SAM, SECRET, T1, T2, TOKENS, RecordingSink, start_adapter, stop_adapter

SAM_ID = ChatIdentity(Platform.SLACK, T1, SAM)


async def test_dm_message_becomes_message_event(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    event = sandbox.user_message(T1, SAM, "hello & welcome")
    event_id, result = await sandbox.sign_and_post_event(T1, event)
    assert result.status == 200
    (got,) = await sink.wait(1)
    assert got == MessageEvent(
        identity=SAM_ID,
        event_id=event_id,
        room=sandbox.dm(T1, SAM).id,
        display_name="Sam",
        is_private=True,
        text="hello & welcome",
        reply_to=None,
        thread=None,
    )


async def test_thread_reply_carries_thread(bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink) -> None:
    ref = await bridge.send(Destination(SAM_ID), Post("first post of a conversation"))
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "answer", thread_ts=ref.message_id))
    (got,) = await sink.wait(1)
    assert isinstance(got, MessageEvent)
    assert (got.thread, got.reply_to, got.text) == (ref.message_id, ref.message_id, "answer")


async def test_mentions_links_and_entities_become_plain_text(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    wire = (
        "<@U0ALEX> see <#C0GENERAL|general>, <#C0GENERAL>, "
        "<https://x.org/a?b=1&amp;c=2|the docs> &amp; &lt;b&gt; <!here>"
    )
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, wire, typed=False))
    (got,) = await sink.wait(1)
    assert isinstance(got, MessageEvent)
    assert got.text == "@Alex Doe see #general, #general, the docs (https://x.org/a?b=1&c=2) & <b> @here"


async def test_group_date_and_unknown_tokens_become_names_never_raw_tokens(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    # Issue 14.5: a user-group mention without a label arrived as "S0614TZR7".
    sandbox.add_usergroup(T1, "S0614TZR7", "tutors")
    wire = "<!subteam^S0614TZR7> <!subteam^S0UNKNOWN> <!date^1700000000^{date_short}> <#C0GONE> please"
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, wire, typed=False))
    (first,) = await sink.wait(1)
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "<!subteam^S0614TZR7> again", typed=False))
    first, second = await sink.wait(2)
    assert isinstance(first, MessageEvent) and isinstance(second, MessageEvent)
    assert first.text == "@tutors @group 2023-11-14 22:13 UTC #channel please"
    assert second.text == "@tutors again"
    listed = [r for r in sandbox.requests if r.path.endswith("/usergroups.list")]
    assert len(listed) == 1  # listed once: known groups cached, unknown ones not asked again at once


@pytest.mark.parametrize("typed", ["<!channel>", "<@U0ALEX>", "<https://evil|click>", "a &amp; b <b>x</b>"])
async def test_injection_typed_by_user_arrives_as_typed(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink, typed: str
) -> None:
    event = sandbox.user_message(T1, SAM, typed)  # Slack escapes & < > of typed text on the wire
    assert "<" not in event["text"]
    await sandbox.sign_and_post_event(T1, event)
    (got,) = await sink.wait(1)
    assert isinstance(got, MessageEvent)
    assert got.text == typed


async def test_bot_posts_and_other_bots_never_reach_the_sink(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    ref = await bridge.send(Destination(SAM_ID), Post("relayed from the LMS"))
    await sandbox.sign_and_post_event(T1, sandbox.bot_echo(T1, ref.room, ref.message_id))
    other_bot = sandbox.user_message(T1, SAM, "from a bot")
    other_bot.update({"subtype": "bot_message", "bot_id": "B0OTHER"})
    await sandbox.sign_and_post_event(T1, other_bot)
    edited = sandbox.user_message(T1, SAM, "edit")
    edited["subtype"] = "message_changed"
    await sandbox.sign_and_post_event(T1, edited)
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "a person"))
    await sink.wait(1)
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["a person"]


async def test_redelivery_of_an_unseen_event_reaches_sink_with_same_event_id(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    # the first delivery was lost (e.g. timed out before reaching us): the retry must count
    event_id, result = await sandbox.sign_and_post_event(
        T1, sandbox.user_message(T1, SAM, "retry me"), event_id="Ev0RETRY01", retry_num=1
    )
    assert result.status == 200
    (got,) = await sink.wait(1)
    assert got.event_id == event_id == "Ev0RETRY01"


async def test_redelivery_of_a_handled_event_is_acked_without_rerunning(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    event = sandbox.user_message(T1, SAM, "once")
    event_id, _ = await sandbox.sign_and_post_event(T1, event)
    _, retried = await sandbox.sign_and_post_event(T1, event, event_id=event_id, retry_num=1)
    assert retried.status == 200
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "next"))
    await sink.wait(2)
    assert sink.events[0].event_id == event_id
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["once", "next"]


@pytest.mark.parametrize("forgery", ["bad_signature", "stale"])
async def test_forged_or_stale_requests_get_401_and_reach_nobody(
    http_bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink, forgery: str
) -> None:
    bad, stale = forgery == "bad_signature", forgery == "stale"
    forged = sandbox.user_message(T1, SAM, "forged")
    _, result = await sandbox.sign_and_post_event(T1, forged, bad_signature=bad, stale=stale)
    assert result.status == 401
    _, cmd = await sandbox.post_slash_command(T1, SAM, "status", bad_signature=bad, stale=stale)
    assert cmd.status == 401
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "genuine"))
    await sink.wait(1)
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["genuine"]
    assert len(sink.events) == 1


async def test_app_home_opened_becomes_contact_event(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    event_id, _ = await sandbox.sign_and_post_event(T2, sandbox.app_home_opened(T2, KIM))
    (got,) = await sink.wait(1)
    assert got == ContactEvent(
        identity=ChatIdentity(Platform.SLACK, T2, KIM),
        event_id=event_id,
        room=sandbox.dm(T2, KIM).id,
        display_name="Kim K",
        is_private=True,
    )


async def test_app_home_opened_is_answered_only_once_journalled(sandbox: SandboxSlack) -> None:
    """Opening the app is journalled like a message: Slack's 200 waits for the journal write,
    so a crash before it makes Slack deliver the event again rather than lose it."""
    journal_open = asyncio.Event()
    journalled: list[str] = []

    class JournallingSink(RecordingSink):
        async def record(self, event: ChatEvent) -> bool:
            journalled.append(event.event_id)
            await journal_open.wait()
            return True

    sink = JournallingSink()
    adapter = await start_adapter("http", sandbox, sink)
    try:
        posted = asyncio.create_task(sandbox.sign_and_post_event(T2, sandbox.app_home_opened(T2, KIM)))
        await until(lambda: bool(journalled), what="the journal write begun")
        await asyncio.sleep(0.2)  # room for an early 200, which must not come
        assert not posted.done()
        journal_open.set()
        event_id, result = await posted
        assert result.status == 200 and journalled == [event_id]
        (got,) = await sink.wait(1)
        assert isinstance(got, ContactEvent)
    finally:
        await stop_adapter(adapter)


async def test_reply_to_a_message_is_ephemeral(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    sink.reply = Reply(texts=("You are not linked yet.",))
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "hi"))
    await until(lambda: sandbox.ephemerals)
    assert sandbox.ephemerals[0]["user"] == SAM
    assert sandbox.ephemerals[0]["text"] == "You are not linked yet."
    assert sandbox.ephemerals[0]["channel"] == sandbox.dm(T1, SAM).id


@pytest.mark.parametrize(
    ("typed", "name", "args"),
    [
        ("to Sam Smith", "to", "Sam Smith"),
        ("", "help", ""),
        ("bogus thing", "bogus", "thing"),  # the core answers an unknown command with help
        ("LINK 12ab", "link", "12ab"),
    ],
)
async def test_slash_command_becomes_command_event_and_reply_is_ephemeral(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink, typed: str, name: str, args: str
) -> None:
    sink.reply = Reply(texts=("*Sent* to Sam", "second"))
    rid, result = await sandbox.post_slash_command(T1, SAM, typed)
    assert result.status == 200
    (got,) = await sink.wait(1)
    assert isinstance(got, CommandEvent) and got.text == typed  # handed over as typed
    command = parsed(got)
    assert (command.name, command.args, got.identity, got.room, got.is_private) == (
        name,
        args,
        SAM_ID,
        sandbox.dm(T1, SAM).id,
        True,
    )
    assert got.event_id and got.event_id != rid
    await until(lambda: len(sandbox.responses[rid]) == 2)
    assert [(r["text"], r["response_type"]) for r in sandbox.responses[rid]] == [
        ("*Sent* to Sam", "ephemeral"),
        ("second", "ephemeral"),
    ]


async def test_slash_command_outside_the_dm_is_not_private(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    await sandbox.post_slash_command(T1, ALEX, "status", channel_id="C0GENERAL")
    (got,) = await sink.wait(1)
    assert isinstance(got, CommandEvent)
    assert got.identity == ChatIdentity(Platform.SLACK, T1, ALEX)
    assert got.room == sandbox.dm(T1, ALEX).id
    assert got.is_private is False


async def test_button_press_becomes_action_event_with_reason(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    post = Post(
        "*Task:* approve leave",
        fallback="Task: approve leave",
        actions=(
            Action("task:7:accept", "Accept", style="primary"),
            Action("task:7:reject", "Reject", style="danger", needs_reason=True),
        ),
        thread="1700000000.000100",
    )
    root = await bridge.send(Destination(SAM_ID), Post("conversation root"))
    post = Post(post.text, post.fallback, post.actions, thread=root.message_id)
    ref = await bridge.send(Destination(SAM_ID), post)
    sink.reply = Reply(texts=("Rejected.",), replace=Post("*Task:* rejected", actions=()))
    rid, result = await sandbox.post_block_action(
        T1, SAM, ref.room, ref.message_id, "task:7:reject", inputs={"reason": "  overlaps exams "}
    )
    assert result.status == 200
    (got,) = await sink.wait(1)
    assert got == ActionEvent(
        identity=SAM_ID,
        event_id=got.event_id,
        room=ref.room,
        display_name="Sam",
        is_private=True,
        action_id="task:7:reject",
        reason="overlaps exams",
        message=SentRef(ref.room, ref.message_id, root.message_id),
    )
    assert got.event_id
    await until(lambda: len(sandbox.responses[rid]) == 2)
    replaced, ephemeral = sandbox.responses[rid]
    assert replaced["replace_original"] is True
    assert replaced["text"] == "*Task:* rejected"
    assert all(b["type"] != "actions" for b in replaced["blocks"])
    assert (ephemeral["text"], ephemeral["response_type"]) == ("Rejected.", "ephemeral")
    pressed = sandbox.channel(ref.room).find(ref.message_id)  # what Sam now sees in place
    assert pressed is not None and pressed["text"] == "*Task:* rejected"
    assert [b["type"] for b in pressed["blocks"]] == ["section"]


async def test_link_button_click_never_reaches_the_sink(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    ref = await bridge.send(
        Destination(SAM_ID),
        Post("open", actions=(Action("open", "Open in Pluto", url="https://pluto.example/x"),)),
    )
    _, result = await sandbox.post_block_action(T1, SAM, ref.room, ref.message_id, "open")
    assert result.status == 200
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "after"))
    await sink.wait(1)
    assert [type(e) for e in sink.events] == [MessageEvent]


async def test_second_workspace_events_carry_their_team(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    await sandbox.sign_and_post_event(T2, sandbox.user_message(T2, KIM, "from team two"))
    (got,) = await sink.wait(1)
    assert got.identity == ChatIdentity(Platform.SLACK, T2, KIM)
    assert got.display_name == "Kim K"
    users_info = sandbox.api_calls("users.info")
    assert users_info and all(r.headers["Authorization"] == "Bearer xoxb-team-two" for r in users_info)


async def test_platform_is_acknowledged_before_the_sink_finishes(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    sink.gate = asyncio.Event()
    sink.reply = Reply(texts=("done",))
    _, event_result = await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "slow core"))
    rid, command_result = await sandbox.post_slash_command(T1, SAM, "status")
    ref = await bridge.send(Destination(SAM_ID), Post("task", actions=(Action("ok", "OK"),)))
    aid, action_result = await sandbox.post_block_action(T1, SAM, ref.room, ref.message_id, "ok")
    # every push was answered while the core was still working on all of them
    assert [r.status for r in (event_result, command_result, action_result)] == [200, 200, 200]
    assert sink.finished == 0
    await sink.wait(1)  # the core holds the first; Sam's other two wait their turn behind it
    sink.gate.set()
    await until(lambda: sandbox.responses[rid] and sandbox.responses[aid] and sandbox.ephemerals)
    assert sink.finished == 3
    assert sandbox.responses[rid][0]["text"] == sandbox.responses[aid][0]["text"] == "done"


async def test_http_events_before_start_are_refused_so_slack_redelivers(
    sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    adapter = SlackAdapter(workspaces=TOKENS, signing_secret=SECRET, api_base_url=sandbox.api_url)
    app = web.Application()
    app.add_routes(adapter.web_routes())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        sandbox.bridge_url = str(server.make_url(adapter.events_path))
        event = sandbox.user_message(T1, SAM, "sent while the bridge was starting")
        event_id, early = await sandbox.sign_and_post_event(T1, event)
        assert early.status == 503  # not 2xx: Slack will deliver it again
        await adapter.start(sink)
        _, retried = await sandbox.sign_and_post_event(T1, event, event_id=event_id, retry_num=1)
        assert retried.status == 200
        (got,) = await sink.wait(1)
        assert isinstance(got, MessageEvent) and got.text == "sent while the bridge was starting"
    finally:
        await adapter.stop()
        await server.close()


async def test_url_verification_echoes_the_challenge(http_bridge: SlackAdapter, sandbox: SandboxSlack) -> None:
    result = await sandbox.url_verification("c-123")
    assert result.status == 200
    assert result.json() == {"challenge": "c-123"}


async def test_events_from_a_workspace_without_a_token_reach_nobody(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    sandbox.add_team("T0THREE", "xoxb-team-three")
    sandbox.add_user("T0THREE", "U0EVE", "eve")
    await sandbox.sign_and_post_event("T0THREE", sandbox.user_message("T0THREE", "U0EVE", "let me in"))
    await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "member"))
    await sink.wait(1)
    assert [e.identity.workspace for e in sink.events] == [T1]
    assert all(r.headers.get("Authorization") != "Bearer xoxb-team-three" for r in sandbox.requests)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_one_persons_events_reach_the_core_in_arrival_order(
    mode: str, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    """Bolt runs each listener as its own task; a slow first event must not be overtaken."""
    calls: list[str] = []

    async def slow_first(event: ChatEvent) -> Reply | None:
        text = event.text if isinstance(event, MessageEvent) else type(event).__name__
        calls.append(f"in {text}")
        if text == "first":
            await asyncio.sleep(0.3)  # the core is busy with the first (an LMS call, say)
        calls.append(f"out {text}")
        return await sink(event)

    adapter = await start_adapter(mode, sandbox, slow_first)
    try:
        for text in ("first", "second", "third"):
            await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, text))
        await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, ALEX, "Alex is not held up"))
        await sink.wait(4)
    finally:
        await stop_adapter(adapter)
    assert [c for c in calls if "Alex" not in c] == [
        "in first", "out first", "in second", "out second", "in third", "out third",
    ]  # fmt: skip
    assert calls.index("in Alex is not held up") < calls.index("out first")
