"""Inbound translation: what the sandbox pushes becomes the right ChatEvent, and replies
come back as messages in the person's chat."""

from __future__ import annotations

import asyncio

import pytest

from adapters.teams import command_list
from bridge.inbound.parse import parsed
from bridge.model import (
    COMMANDS,
    ActionEvent,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    MessageEvent,
    Platform,
    Reply,
)
from sandbox.teams import SandboxTeams
from tests.platforms.teams.conftest import Bot


async def test_installation_gives_contact_event_with_address(bot: Bot, sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Ada Lovelace")
    activity = sandbox.installation_update(user)
    status, _ = await sandbox.push(activity)
    assert status == 202
    (event,) = await bot.sink.wait_for(1)
    assert isinstance(event, ContactEvent)
    assert event.identity == ChatIdentity(Platform.TEAMS, sandbox.tenant_id, user.aad_object_id)
    assert event.event_id == activity["id"]
    assert event.room == activity["conversation"]["id"]
    assert event.display_name == "Ada Lovelace"
    assert event.is_private
    address = dict(event.address or {})
    assert address["serviceUrl"] == sandbox.service_url
    assert address["conversation"]["id"] == event.room
    assert address["conversation"]["tenantId"] == sandbox.tenant_id
    assert address["bot"]["id"] == f"28:{sandbox.app_id}"
    assert address["user"]["id"] == user.id


async def test_conversation_update_with_bot_added_is_contact(bot: Bot, sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Grace")
    await sandbox.push(sandbox.conversation_update(user, bot_added=False))  # not about the bot: ignored
    added = sandbox.conversation_update(user, bot_added=True)
    await sandbox.push(added)
    events = await bot.sink.wait_for(1)
    assert [type(e) for e in events] == [ContactEvent]
    assert events[0].event_id == added["id"]


async def test_message_with_reply_to_converted_exactly_once(bot: Bot, sandbox: SandboxTeams) -> None:
    # Issue 14.6: Teams delivers typed text raw (textFormat "plain"); the adapter used to
    # unescape it and strip every <at>, changing what the person typed.
    user = sandbox.add_user("Alan")
    text = "typed &lt;b&gt; notes&not <at>Bob</at> agrees, <at>CEO</at> approve"
    activity = sandbox.message(user, text, reply_to_id="1000042", mention_bot=True)
    activity["entities"].append(
        {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"id": "29:bob", "name": "Bob Smith"}}
    )
    status, _ = await sandbox.push(activity)
    assert status == 202
    (event,) = await bot.sink.wait_for(1)
    assert isinstance(event, MessageEvent)
    # The bot's mention gone, a real mention kept readable, everything typed kept as typed.
    assert event.text == "typed &lt;b&gt; notes&not @Bob agrees, <at>CEO</at> approve"
    assert event.reply_to == "1000042"
    assert event.identity.user_id == user.aad_object_id
    assert event.room == activity["conversation"]["id"]


async def test_typed_command_becomes_command_event(bot: Bot, sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Edsger")
    await sandbox.push(sandbox.message(user, "LINK  ABC-123 "))
    await sandbox.push(sandbox.message(user, "linked is not a command"))
    events = await bot.sink.wait_for(2)
    by_kind = {type(e): e for e in events}
    command = by_kind[CommandEvent]
    assert isinstance(command, CommandEvent) and command.text == "LINK  ABC-123"  # as typed
    assert (parsed(command).name, parsed(command).args) == ("link", "ABC-123")  # the core's parser
    message = by_kind[MessageEvent]
    assert isinstance(message, MessageEvent) and message.text == "linked is not a command"


async def test_card_submit_becomes_action_event(bot: Bot, sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Barbara")
    submit = sandbox.card_submit(user, {"action": "task:7:accept", "reason": " fine "}, reply_to_id="1000077")
    await sandbox.push(submit)
    (event,) = await bot.sink.wait_for(1)
    assert isinstance(event, ActionEvent)
    assert (event.action_id, event.reason) == ("task:7:accept", "fine")
    assert event.message is not None and event.message.message_id == "1000077"


async def test_own_messages_are_never_relayed(bot: Bot, sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Echo")
    echo = sandbox.message(user, "I am the bot")
    echo["from"] = {"id": f"28:{sandbox.app_id}", "name": "Pluto"}
    await sandbox.push(echo)
    real = sandbox.message(user, "I am the person")
    await sandbox.push(real)
    events = await bot.sink.wait_for(1)
    assert [e.event_id for e in events] == [real["id"]]


async def test_reply_is_sent_as_message_into_the_chat(bot: Bot, sandbox: SandboxTeams) -> None:
    bot.sink.reply_for = lambda e: Reply(texts=("<b>Linked</b> as ada",))
    user = sandbox.add_user("Ada")
    activity = sandbox.message(user, "status")
    await sandbox.push(activity)
    room = activity["conversation"]["id"]
    await sandbox.wait_until(lambda: bool(sandbox.messages_in(room)))
    (sent,) = sandbox.messages_in(room)
    assert sent["text"] == "<b>Linked</b> as ada"
    assert sent["textFormat"] == "xml"
    assert sandbox.validation_errors == []


async def test_the_manifest_menus_hold_known_commands_within_teams_limit_of_ten() -> None:
    known = {c.name for c in COMMANDS}
    menu = [c["title"] for c in command_list()]
    assert len(menu) <= 10 and set(menu) <= known and {"to", "find", "tasks", "help"} <= set(menu)
    with pytest.raises(ValueError, match="at most 10"):
        command_list(tuple(sorted(known)))  # all of them would not fit: Teams refuses the package


async def test_stop_cancels_work_in_flight(bot: Bot, sandbox: SandboxTeams) -> None:
    entered = asyncio.Event()
    never = asyncio.Event()

    async def stuck(event: object) -> None:
        entered.set()
        await never.wait()

    await bot.adapter.start(stuck)
    await sandbox.push(sandbox.message(sandbox.add_user("Slow"), "hello"))
    await asyncio.wait_for(entered.wait(), 10)
    await bot.adapter.stop()
    pending = [t for t in asyncio.all_tasks() if "_deliver" in repr(t.get_coro())]
    assert pending == []
    status, _ = await sandbox.push(sandbox.message(sandbox.add_user("Late"), "hello"))
    assert status == 503  # stopped: nothing is accepted any more


async def test_one_persons_activities_reach_the_core_in_order(bot: Bot, sandbox: SandboxTeams) -> None:
    """The core is slow with the first message; the second must not overtake it, while
    another person's message is not held up."""
    ada, bob = sandbox.add_user("Ada"), sandbox.add_user("Bob")
    gate = asyncio.Event()
    seen: list[str] = []
    recorder = bot.sink

    async def slow_sink(event: ChatEvent) -> Reply | None:
        text = getattr(event, "text", "")
        if text == "first":
            await gate.wait()
        seen.append(text)
        if text == "from bob":
            gate.set()  # only now may "first" finish: proves Bob was not queued behind Ada
        return await recorder(event)

    await bot.adapter.start(slow_sink)
    for user, text in ((ada, "first"), (ada, "second"), (bob, "from bob")):
        activity = sandbox.message(user, text)
        status, _ = await sandbox.push(activity)
        assert status == 202
    await recorder.wait_for(3)
    assert seen == ["from bob", "first", "second"]


async def test_throttled_reply_is_retried_after_retry_after(bot: Bot, sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Busy")
    room = sandbox.personal_conversation(user).id
    bot.sink.reply_for = lambda e: Reply(texts=("<p>Here is the help.</p>",))
    sandbox.fail_next(429, method="POST", conversation=room, retry_after=0.2, count=2)
    await sandbox.push(sandbox.message(user, "help"))
    await sandbox.wait_until(lambda: len(sandbox.messages_in(room)) == 1)
    assert [a["text"] for a in sandbox.messages_in(room)] == ["<p>Here is the help.</p>"]
    posts = [r.status for r in sandbox.requests if r.method == "POST" and r.conversation == room]
    assert posts == [429, 429, 201]


async def test_reply_throttled_many_times_is_retried_by_the_outbox_policy(bot: Bot, sandbox: SandboxTeams) -> None:
    """Throttled past any adapter's own few tries, a reply is still retried with the outbox's
    policy: both replies arrive, once each, in order."""
    user = sandbox.add_user("Swamped")
    room = sandbox.personal_conversation(user).id
    bot.sink.reply_for = lambda e: Reply(texts=(f"<p>{getattr(e, 'text', '')}</p>",))
    sandbox.fail_next(429, method="POST", conversation=room, retry_after=0.05, count=5)
    await sandbox.push(sandbox.message(user, "first"))
    await sandbox.push(sandbox.message(user, "second"))
    await sandbox.wait_until(lambda: len(sandbox.messages_in(room)) == 2)
    assert [a["text"] for a in sandbox.messages_in(room)] == ["<p>first</p>", "<p>second</p>"]
    assert [r.status for r in sandbox.requests if r.conversation == room] == [429] * 5 + [201, 201]
