"""One Pluto group linked to a Slack channel and a Telegram group at once, through the real
bridge process (issue 16): Pluto is the hub, so what is written on either side reaches the
other exactly once and never echoes back into the room it came from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack
from sandbox.telegram import SandboxTelegram
from tests.platforms.slack.e2e_support import SAM, SECRET, T1, TOKENS, SlackChat, new_sandbox, shown
from tests.platforms.telegram.world import TelegramWorld
from tests.support import lms_texts, until

pytestmark = pytest.mark.e2e

ALEX_TG = 112  # Alex on Telegram, the group's administrator
GROUP = -5001
CHANNEL = "C0COHORT"


class TwoRooms:
    """The bridge with Slack and Telegram enabled; Sam on Slack, Alex on Telegram."""

    def __init__(self, world: TelegramWorld, slack: SandboxSlack) -> None:
        self.world = world
        self.slack = slack
        assert world.bridge is not None
        self.chat = SlackChat(slack, world.bridge, "http", world.port)

    def slack_posts(self, needle: str) -> list[dict[str, Any]]:
        return [m for m in self.slack.channel(CHANNEL).messages if m.get("bot_id") and needle in shown(m)]

    def telegram_posts(self, needle: str) -> list[str]:
        return self.world.shown(GROUP, needle)

    async def link_slack_room(self) -> None:
        rid, result = await self.slack.post_slash_command(T1, SAM, "room", channel_id=CHANNEL)
        assert result.status == 200, result.body
        await until(lambda: self.slack.responses.get(rid), 30, "the room command's answer")
        choice = self.slack.responses[rid][-1]
        pick = next(e for b in choice["blocks"] if b["type"] == "actions" for e in b["elements"] if "url" not in e)
        rid, result = await self.slack.post_block_action(T1, SAM, CHANNEL, "", pick["action_id"], ephemeral=choice)
        assert result.status == 200, result.body
        await until(
            lambda: any("now linked" in str(b.get("text")) for b in self.slack.responses.get(rid, [])), 30, "linked"
        )


@pytest.fixture
async def two(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[TwoRooms]:
    tg = SandboxTelegram(enforce_limits=True)
    slack = new_sandbox()
    slack.add_channel(T1, CHANNEL, "cohort", members=[SAM])
    await tg.start()
    await slack.start()
    tg.add_user(ALEX_TG, "Alex", last_name="Mentee")
    tg.add_group(GROUP, "Cohort A", admins=[ALEX_TG])
    tg.privacy_mode = False
    section = {"enabled": True, "mode": "http", "api_base_url": slack.api_url, "workspaces": dict(TOKENS)}
    world = TelegramWorld(tg, lms, tmp_path, "polling", settings={"slack": {**section, "signing_secret": SECRET}})
    slack.push_mode = "http"
    slack.bridge_url = f"http://127.0.0.1:{world.port}/slack/events"
    try:
        await world.start()
        rooms = TwoRooms(world, slack)
        await until(lambda: rooms.chat._started(), 60, "the Slack adapter to start")
        await rooms.chat.link(T1, SAM, "mentee1")
        await world.link_by_command(ALEX_TG, "mentee2")
        await rooms.link_slack_room()
        await world.link_room(ALEX_TG, GROUP)
        yield rooms
    finally:
        await world.stop()
        await slack.stop()
        await tg.stop()


async def test_each_side_reaches_the_other_once_and_never_echoes(
    two: TwoRooms, lms: SandboxLMS, seed: DemoSeed
) -> None:
    conv = seed.group_conversation_id
    lms.post_to_conversation(seed.mentor_id, conv, "From Maya in Pluto")
    await until(lambda: two.slack_posts("From Maya in Pluto") and two.telegram_posts("From Maya in Pluto"), 30, "both")

    event = two.slack.channel_message(T1, CHANNEL, SAM, "Sam writes in Slack")
    _, result = await two.slack.sign_and_post_event(T1, event)
    assert result.status == 200
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id)[-1:] == ["Sam writes in Slack"], 30, "Sam in Pluto")
    await two.world.see(GROUP, "Sam writes in Slack")

    two.world.tg.user_sends_in_group(ALEX_TG, GROUP, "Alex writes in Telegram")
    await until(lambda: lms_texts(lms, conv, seed.mentee2_id) == ["Alex writes in Telegram"], 30, "Alex in Pluto")
    await until(lambda: two.slack_posts("Alex writes in Telegram"), 30, "Alex's words in Slack")

    lms.post_to_conversation(seed.mentor_id, conv, "A last word from Maya")
    await until(lambda: two.slack_posts("A last word") and two.telegram_posts("A last word"), 30, "the last word")
    # Exactly once on the other side, never back in the room it came from.
    assert len(two.telegram_posts("Sam writes in Slack")) == 1 and two.slack_posts("Sam writes in Slack") == []
    assert len(two.slack_posts("Alex writes in Telegram")) == 1 and two.telegram_posts("Alex writes in Telegram") == []
    assert len(two.slack_posts("From Maya in Pluto")) == 1 and len(two.telegram_posts("From Maya in Pluto")) == 1
    (post,) = two.slack_posts("Alex writes in Telegram")
    assert post["username"] == "Alex Mentee"  # posted under its author's name
    assert two.telegram_posts("Sam writes in Slack")[0].startswith("Sam Mentee")
