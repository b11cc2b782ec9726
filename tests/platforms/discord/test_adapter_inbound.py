"""Inbound translation: what a person does on Discord becomes the right ChatEvent, and the
adapter's answers show up on the wire the way Discord expects (acknowledge first, ephemeral)."""

import asyncio
import itertools

from adapters.discord import DiscordAdapter
from bridge.model import (
    COMMANDS,
    Action,
    ActionEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    Destination,
    MessageEvent,
    Platform,
    Post,
    Reply,
)
from sandbox.discord import EPHEMERAL


def identity(uid: str) -> ChatIdentity:
    return ChatIdentity(Platform.DISCORD, "", uid)


async def test_dm_becomes_message_event_with_reply_to_and_plain_text(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    bob = sandbox.add_user(name="Bob")
    sent = await adapter.send(Destination(identity(ada)), Post("An LMS message"))

    raw = await sandbox.user_dm(
        ada, f"thanks <@{bob}>, see \\*this\\* and \\_that\\_", reply_to=sent.message_id
    )
    await sandbox.wait_until(lambda: sink.events)

    [event] = sink.events
    assert isinstance(event, MessageEvent)
    assert event.identity == identity(ada)
    assert event.event_id == raw["id"]
    assert event.room == sent.room == sandbox.dm_channels[ada]
    assert event.display_name == "Ada"
    assert event.is_private is True
    assert event.text == "thanks @Bob, see *this* and _that_"
    assert event.reply_to == sent.message_id
    assert event.thread is None


async def test_dm_without_text_is_a_contact_and_plain_dm_has_no_reply_to(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    await sandbox.user_dm(ada, "")
    await sandbox.user_dm(ada, "hello")
    await sandbox.wait_until(lambda: len(sink.events) == 2)
    contact, message = sorted(sink.events, key=lambda e: int(e.event_id))
    assert isinstance(contact, ContactEvent)
    assert contact.room == sandbox.dm_channels[ada]
    assert isinstance(message, MessageEvent)
    assert message.reply_to is None


async def test_messages_by_bots_and_by_ourselves_are_not_relayed(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    channel = sandbox.dm_channel_of(ada)
    own = sandbox.message_payload(channel, sandbox.bot_user, "echo of our own post")
    other_bot = sandbox.message_payload(
        channel, {**sandbox.users[ada], "id": "42", "bot": True}, "I am a bot"
    )
    await sandbox.dispatch("MESSAGE_CREATE", own)
    await sandbox.dispatch("MESSAGE_CREATE", other_bot)
    await sandbox.user_dm(ada, "a person")  # a marker: events are handled in order
    await sandbox.wait_until(lambda: sink.events)
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["a person"]


async def test_guild_messages_are_not_relayed(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    channel = sandbox.dm_channel_of(ada)
    in_guild = sandbox.message_payload(channel, sandbox.users[ada], "in a server")
    in_guild["guild_id"] = "777"
    in_guild["channel_id"] = "778"
    in_guild["member"] = {"roles": [], "joined_at": in_guild["timestamp"], "deaf": False, "mute": False}
    await sandbox.dispatch("MESSAGE_CREATE", in_guild)
    await sandbox.user_dm(ada, "in the DM")
    await sandbox.wait_until(lambda: sink.events)
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["in the DM"]


async def test_reply_to_a_dm_is_posted_in_the_dm(sandbox, adapter, sink):
    sink.reply_for = lambda event: Reply(texts=("Sent to Pluto.",))
    ada = sandbox.add_user(name="Ada")
    await sandbox.user_dm(ada, "hello")
    await sandbox.wait_until(lambda: sandbox.sent_by_bot(sandbox.dm_channels[ada]))
    [posted] = sandbox.sent_by_bot(sandbox.dm_channels[ada])
    assert posted["content"] == "Sent to Pluto."
    assert posted["allowed_mentions"] == {"parse": []}


async def test_every_command_is_registered_as_a_subcommand(sandbox, adapter):
    [put] = sandbox.requests_to("PUT", f"/applications/{sandbox.application_id}/commands")
    [command] = put.body
    assert command["name"] == "pluto"
    subcommands = {option["name"]: option for option in command["options"]}
    assert set(subcommands) == {spec.name for spec in COMMANDS}
    assert all(option["type"] == 1 for option in subcommands.values())
    for spec in COMMANDS:
        takes_args = " " in spec.usage
        args = [o for o in subcommands[spec.name]["options"] if o["name"] == "args"]
        assert bool(args) == takes_args, spec.name
        if takes_args:
            assert args[0]["type"] == 3
            assert args[0]["required"] is not spec.usage.split(" ", 1)[1].startswith("[")
    assert sandbox.spec_errors == []


async def test_slash_command_is_deferred_ephemeral_then_followed_up(sandbox, adapter, sink):
    sink.reply_for = lambda event: Reply(texts=("Now writing to Bob.", "Say hi!"))
    ada = sandbox.add_user(name="Ada")
    interaction = await sandbox.user_slash(ada, "to", "Bob Example")
    record = sandbox.interactions[interaction["id"]]
    await sandbox.wait_until(lambda: len(record.followups) == 2)

    [event] = sink.events
    assert isinstance(event, CommandEvent)
    assert (event.name, event.args) == ("to", "Bob Example")
    assert event.event_id == interaction["id"]
    assert event.identity == identity(ada)
    assert event.room == sandbox.dm_channels[ada]
    assert event.is_private is True
    assert record.callbacks == [{"type": 5, "data": {"flags": EPHEMERAL}}]
    assert [m["content"] for m in record.followups] == ["Now writing to Bob.", "Say hi!"]
    assert all(m["flags"] & EPHEMERAL for m in record.followups)
    assert all(m["allowed_mentions"] == {"parse": []} for m in record.followups)


async def test_command_without_arguments_and_without_reply_clears_the_placeholder(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    interaction = await sandbox.user_slash(ada, "status")
    token = interaction["token"]
    await sandbox.wait_until(lambda: sandbox.requests_to("DELETE", f"{token}/messages/@original"))
    [event] = sink.events
    assert isinstance(event, CommandEvent)
    assert (event.name, event.args) == ("status", "")


async def test_button_press_becomes_action_event_and_replace_edits_pressed(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    actions = (
        Action("task:7:accept", "Accept", style="primary"),
        Action("task:7:reject", "Reject", style="danger"),
    )
    sent = await adapter.send(Destination(identity(ada)), Post("Task: review the essay", actions=actions))
    sink.reply_for = lambda event: Reply(
        texts=("Accepted.",), replace=Post("Task: review the essay (accepted)")
    )

    interaction = await sandbox.user_clicks(ada, sent.message_id, "task:7:accept")
    record = sandbox.interactions[interaction["id"]]
    await sandbox.wait_until(lambda: record.followups)

    [event] = sink.events
    assert isinstance(event, ActionEvent)
    assert event.action_id == "task:7:accept"
    assert event.message is not None
    assert (event.message.room, event.message.message_id) == (sent.room, sent.message_id)
    assert event.event_id == interaction["id"]
    assert event.reason == ""
    assert record.callbacks == [{"type": 6}]
    pressed = sandbox.messages[sent.room][sent.message_id]
    assert pressed["content"] == "Task: review the essay (accepted)"
    assert pressed["components"] == []  # buttons retired
    [followup] = record.followups
    assert followup["content"] == "Accepted."
    assert followup["flags"] & EPHEMERAL


async def test_button_needing_a_reason_opens_a_modal_and_sends_the_reason(sandbox, sink):
    ada = sandbox.add_user(name="Ada")
    actions = (Action("task:9:reject", "Reject", style="danger", needs_reason=True),)
    before = DiscordAdapter(token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url)
    await before.start(sink)
    try:
        sent = await before.send(Destination(identity(ada)), Post("Task: approve leave", actions=actions))
    finally:
        await before.stop()
    # The bridge restarted since it sent the task: the button itself says it asks a reason.
    adapter = DiscordAdapter(token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url)
    await adapter.start(sink)
    try:
        [[button]] = [row["components"] for row in sandbox.messages[sent.room][sent.message_id]["components"]]
        click = await sandbox.user_clicks(ada, sent.message_id, button["custom_id"])
        await sandbox.wait_until(lambda: sandbox.interactions[click["id"]].callbacks)
        [opened] = sandbox.interactions[click["id"]].callbacks
        assert opened["type"] == 9
        assert opened["data"]["title"] == "Reject: reason"  # which decision the reason is for
        assert sink.events == []  # nothing reaches the core before the reason

        submit = await sandbox.user_submits_modal(ada, click, {"reason": "Not enough notice"})
        await sandbox.wait_until(lambda: sink.events)
    finally:
        await adapter.stop()
    [event] = sink.events
    assert isinstance(event, ActionEvent)
    assert (event.action_id, event.reason) == ("task:9:reject", "Not enough notice")
    assert event.message is not None and event.message.message_id == sent.message_id
    assert event.event_id == submit["id"]
    assert sandbox.interactions[submit["id"]].callbacks == [{"type": 6}]


def _text_inputs(modal: dict) -> list[dict]:
    """The text inputs of a modal callback's data (in action rows or labels)."""
    return [
        comp
        for row in modal["components"]
        for comp in (row.get("components", []) if row.get("type") == 1 else [row.get("component", row)])
        if comp.get("type") == 4
    ]


async def test_reason_is_optional_and_an_empty_modal_decides_without_one(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    actions = (Action("acc:tsk:4", "Approve", style="primary", needs_reason=True),)
    sent = await adapter.send(Destination(identity(ada)), Post("Task: approve booking", actions=actions))
    [[button]] = [row["components"] for row in sandbox.messages[sent.room][sent.message_id]["components"]]
    click = await sandbox.user_clicks(ada, sent.message_id, button["custom_id"])
    await sandbox.wait_until(lambda: sandbox.interactions[click["id"]].callbacks)
    [opened] = sandbox.interactions[click["id"]].callbacks
    [reason_input] = _text_inputs(opened["data"])
    assert reason_input["required"] is False  # Totara's reason for decision is optional

    submit = await sandbox.user_submits_modal(ada, click, {})  # refused if the field were required
    await sandbox.wait_until(lambda: sink.events)
    [event] = sink.events
    assert isinstance(event, ActionEvent)
    assert (event.action_id, event.reason) == ("acc:tsk:4", "")
    assert event.message is not None and event.message.message_id == sent.message_id
    assert sandbox.interactions[submit["id"]].callbacks == [{"type": 6}]


async def test_an_interaction_acknowledged_too_late_is_dropped_and_the_person_goes_on(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    # The sandbox's interaction clock jumps 10 s between the dispatch and the acknowledgement.
    readings = itertools.chain([0.0], itertools.repeat(10.0))
    sandbox.interaction_clock = lambda: next(readings)
    late = await sandbox.user_slash(ada, "tasks")
    path = f"/interactions/{late['id']}/"
    await sandbox.wait_until(lambda: sandbox.requests_to("POST", path))
    assert [r.status for r in sandbox.requests_to("POST", path)] == [404]  # 10062 Unknown interaction
    assert sandbox.interactions[late["id"]].callbacks == []
    # Discord forgot the interaction: nothing reaches the core, and Ada's next event is not
    # held behind it.
    later = await sandbox.user_dm(ada, "still there?")
    await sandbox.wait_until(lambda: sink.events)
    assert [e.event_id for e in sink.events] == [later["id"]]


async def test_one_persons_events_reach_the_core_in_order_while_others_go_on(sandbox):
    ada = sandbox.add_user(name="Ada")
    bob = sandbox.add_user(name="Bob")
    release = asyncio.Event()
    seen: list[str] = []

    async def slow_on_first(event):
        seen.append(getattr(event, "text", "") or getattr(event, "name", ""))
        if len(seen) == 1:
            await release.wait()  # the core is busy with Ada's first message
        return None

    adapter = DiscordAdapter(token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url)
    await adapter.start(slow_on_first)
    try:
        await sandbox.user_dm(ada, "first")
        await sandbox.user_dm(ada, "second")
        await sandbox.user_slash(ada, "status")
        await sandbox.user_dm(bob, "Bob meanwhile")
        await sandbox.wait_until(lambda: "Bob meanwhile" in seen)
        assert seen == ["first", "Bob meanwhile"]  # Ada's later events wait; Bob's do not
        release.set()
        await sandbox.wait_until(lambda: len(seen) == 4)
        assert seen == ["first", "Bob meanwhile", "second", "status"]
    finally:
        release.set()
        await adapter.stop()


async def test_replayed_interaction_is_not_acknowledged_or_handled_twice(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    raw = await sandbox.user_slash(ada, "help")
    await sandbox.wait_until(lambda: sink.events and sandbox.interactions[raw["id"]].callbacks)
    await sandbox.dispatch("INTERACTION_CREATE", raw)  # as a RESUME replay would
    await sandbox.wait_until(lambda: len(sandbox.requests_to("POST", f"/interactions/{raw['id']}/")) == 2)
    later = await sandbox.user_dm(ada, "still listening")
    await sandbox.wait_until(lambda: len(sink.events) == 2)
    assert [e.event_id for e in sink.events] == [raw["id"], later["id"]]
    assert [r.status for r in sandbox.requests_to("POST", f"/interactions/{raw['id']}/")] == [200, 400]


async def test_every_discord_token_arrives_readable_never_raw(sandbox, adapter, sink):
    # Issue 14.5: roles, slash commands, custom emoji and timestamps reached Pluto raw.
    ada = sandbox.add_user(name="Ada")
    bob = sandbox.add_user(name="Bob")
    await sandbox.user_dm(
        ada,
        f"<@&123> </pluto tasks:1> <:emo:1> <a:dance:2> <t:1700000000:R> <t:1700000000> "
        f"<@{bob}> <@999> <#777> \\<@{bob}> ok",
    )
    await sandbox.wait_until(lambda: sink.events)
    [event] = sink.events
    assert event.text == (
        "@role /pluto tasks :emo: :dance: 2023-11-14 22:13 UTC 2023-11-14 22:13 UTC "
        f"@Bob @user #channel <@{bob}> ok"
    )
