"""A Slack channel as a room, adapter side (issue 16), in HTTP and Socket Mode: what people
write there reaches the core as room messages; bots, the bridge's own posts and other
subtypes do not; edits, joins, leaves, the bot removed and archiving become room events;
posts go under their author's name and a channel the bot left answers RoomUnavailable."""

from __future__ import annotations

import pytest

from adapters.slack import SlackAdapter
from bridge.model import ChatIdentity, MessageEvent, Platform, Post, RoomAddress, RoomChange, RoomEvent
from bridge.ports import RoomUnavailable
from sandbox.slack import SandboxSlack

from .conftest import ALEX, SAM, T1, RecordingSink

CHANNEL = "C0COHORT"
ROOM = RoomAddress(Platform.SLACK, T1, CHANNEL)


async def test_channel_traffic_becomes_room_events(
    bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink
) -> None:
    sandbox.add_channel(T1, CHANNEL, "cohort", members=[SAM, ALEX])
    sent = await bridge.send_to_room(ROOM, Post("Welcome"), "Maya Mentor")
    posted = sandbox.channel(CHANNEL).find(sent.message_id)
    assert posted is not None and posted["username"] == "Maya Mentor"
    await sandbox.sign_and_post_event(T1, sandbox.bot_echo(T1, CHANNEL, sent.message_id))  # its own post
    other_bot = {**sandbox.channel_message(T1, CHANNEL, ALEX, "beep"), "bot_id": "B0OTHER"}
    await sandbox.sign_and_post_event(T1, other_bot)
    joined = {**sandbox.channel_message(T1, CHANNEL, ALEX, "joined"), "subtype": "channel_join"}
    await sandbox.sign_and_post_event(T1, joined)
    said = sandbox.channel_message(T1, CHANNEL, SAM, "Thanks <@U0ALEX>", typed=False, thread_ts=sent.message_id)
    await sandbox.sign_and_post_event(T1, said)
    await sandbox.sign_and_post_event(T1, sandbox.channel_edit(T1, CHANNEL, said["ts"], "Thanks!"))
    await sandbox.sign_and_post_event(T1, sandbox.member_joined(T1, CHANNEL, "U0KIT"))
    await sandbox.sign_and_post_event(T1, sandbox.member_left(T1, CHANNEL, sandbox.teams[T1].bot_user_id))
    await sandbox.sign_and_post_event(T1, sandbox.archive(T1, CHANNEL, SAM))
    events = await sink.wait(5)  # people's events run in parallel: compared without order
    (message,) = [e for e in events if isinstance(e, MessageEvent)]
    assert message.shared is not None
    assert (message.text, message.reply_to, message.is_private) == ("Thanks @Alex Doe", sent.message_id, False)
    assert message.shared.room_id == CHANNEL and message.identity == ChatIdentity(Platform.SLACK, T1, SAM)
    changes = {(e.change, e.identity.user_id) for e in events if isinstance(e, RoomEvent)}
    assert changes == {
        (RoomChange.EDITED, SAM),
        (RoomChange.MEMBER_JOINED, "U0KIT"),
        (RoomChange.BOT_REMOVED, sandbox.teams[T1].bot_user_id),
        (RoomChange.ARCHIVED, SAM),
    }
    with pytest.raises(RoomUnavailable, match=r"archived|removed"):
        await bridge.send_to_room(ROOM, Post("anyone?"), "Maya Mentor")


async def test_members_managers_and_ephemeral_answers(bridge: SlackAdapter, sandbox: SandboxSlack) -> None:
    sandbox.add_channel(T1, CHANNEL, "cohort", members=[SAM])
    members = await bridge.room_members(ROOM)
    assert members == [ChatIdentity(Platform.SLACK, T1, SAM)]  # the bot left out
    assert await bridge.can_manage(ROOM, ChatIdentity(Platform.SLACK, T1, SAM)) is True
    assert await bridge.can_manage(ROOM, ChatIdentity(Platform.SLACK, T1, ALEX)) is False
    assert await bridge.tell_in_room(ROOM, ChatIdentity(Platform.SLACK, T1, SAM), Post("only you"))
    assert not await bridge.tell_in_room(ROOM, ChatIdentity(Platform.SLACK, T1, ALEX), Post("not a member"))
    assert await bridge.room_problem(ROOM) is None
    sandbox.member_left(T1, CHANNEL, sandbox.teams[T1].bot_user_id)
    assert await bridge.room_problem(ROOM) == "the bot was removed from the channel"
