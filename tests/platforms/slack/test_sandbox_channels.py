"""The sandbox Slack's channels as the real slack_sdk sees them (issue 16): members, posts
under an author's name (chat:write.customize), the bot out of a channel, archived channels,
and the channel events (message.channels / message.groups, joins, leaves, edits)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack import EVENT_SCHEMA_PATH, SandboxSlack

from .conftest import ALEX, SAM, T1, TOKENS


def client(sandbox: SandboxSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKENS[T1], base_url=sandbox.api_url)


async def test_posts_under_an_authors_name_need_the_customize_scope(sandbox: SandboxSlack) -> None:
    sandbox.add_channel(T1, "C0COHORT", "cohort", members=[SAM])
    web = client(sandbox)
    sent = await web.chat_postMessage(channel="C0COHORT", text="Hello", username="Maya Mentor")
    assert sent["message"]["username"] == "Maya Mentor"
    sandbox.teams[T1].scopes = {"chat:write", "channels:read"}
    with pytest.raises(SlackApiError, match="missing_scope"):
        await web.chat_postMessage(channel="C0COHORT", text="Hello", username="Maya Mentor")


async def test_members_the_bot_out_and_archived(sandbox: SandboxSlack) -> None:
    web = client(sandbox)
    sandbox.add_channel(T1, "C0COHORT", "cohort", members=[SAM])
    sandbox.add_channel(T1, "G0PRIVATE", "quiet", private=True, members=[SAM, ALEX])
    bot = sandbox.teams[T1].bot_user_id
    assert (await web.conversations_members(channel="C0COHORT"))["members"] == sorted([SAM, bot])
    assert set((await web.conversations_members(channel="G0PRIVATE"))["members"]) == {SAM, ALEX, bot}
    with pytest.raises(SlackApiError, match="user_not_in_channel"):
        await web.chat_postEphemeral(channel="C0COHORT", user=ALEX, text="only you")
    await web.chat_postEphemeral(channel="C0COHORT", user=SAM, text="only you")
    sandbox.member_left(T1, "C0COHORT", bot)
    with pytest.raises(SlackApiError, match="not_in_channel"):
        await web.chat_postMessage(channel="C0COHORT", text="anyone?")
    sandbox.member_joined(T1, "C0COHORT", bot)
    sandbox.archive(T1, "C0COHORT", SAM)
    with pytest.raises(SlackApiError, match="is_archived"):
        await web.chat_postMessage(channel="C0COHORT", text="anyone?")
    sandbox.member_left(T1, "G0PRIVATE", bot)
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await web.conversations_members(channel="G0PRIVATE")


def test_channel_events_match_slacks_schema(sandbox: SandboxSlack) -> None:
    sandbox.add_channel(T1, "C0COHORT", "cohort")
    sandbox.add_channel(T1, "G0PRIVATE", "quiet", private=True)
    said = sandbox.channel_message(T1, "C0COHORT", SAM, "hi <all>")
    assert (said["channel_type"], said["text"]) == ("channel", "hi &lt;all&gt;")
    assert sandbox.channel_message(T1, "G0PRIVATE", SAM, "psst")["channel_type"] == "group"
    edit = sandbox.channel_edit(T1, "C0COHORT", said["ts"], "hi all")
    assert edit["subtype"] == "message_changed" and edit["previous_message"]["text"] == "hi &lt;all&gt;"
    events = [
        said,
        edit,
        sandbox.member_joined(T1, "C0COHORT", ALEX),
        sandbox.member_left(T1, "C0COHORT", ALEX),
        sandbox.archive(T1, "C0COHORT", SAM),
    ]
    schema = json.loads(Path(EVENT_SCHEMA_PATH).read_text())
    for event in events:
        jsonschema.validate(sandbox.event_envelope(T1, event), schema)
    assert ALEX not in sandbox.channel("C0COHORT").members
