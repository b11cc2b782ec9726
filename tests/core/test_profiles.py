"""Profiles and notices: each notice worded once, commands written as each platform types them."""

from __future__ import annotations

import pytest

from adapters.console import ConsoleAdapter
from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from adapters.teams import TeamsAdapter
from adapters.telegram import TelegramAdapter
from bridge import notices
from bridge.model import Platform
from bridge.profile import Profiles
from bridge.render import to_plain


async def adapters() -> dict[Platform, object]:
    return {
        Platform.SLACK: SlackAdapter(workspaces={"T1": "xoxb-1"}, signing_secret="s", command="/lms"),
        Platform.DISCORD: DiscordAdapter(token="t", application_id="1", command_name="pluto"),
        Platform.TELEGRAM: TelegramAdapter(token="1:abc"),
        Platform.TEAMS: TeamsAdapter(app_id="a", app_password="p"),
        Platform.CONSOLE: ConsoleAdapter(),
    }


@pytest.mark.parametrize(
    ("platform", "typed"),
    [
        (Platform.SLACK, "/lms to NAME"),  # the configured slash command, not a hard-coded /pluto
        (Platform.DISCORD, "/pluto to NAME"),
        (Platform.TELEGRAM, "/to NAME"),
        (Platform.TEAMS, "to NAME"),
        (Platform.CONSOLE, "/to NAME"),
    ],
)
async def test_each_adapter_declares_how_its_commands_are_typed(platform: Platform, typed: str) -> None:
    profiles = Profiles.of(await adapters())
    assert profiles[platform].command("to NAME") == typed
    assert typed.replace("to NAME", "link") in to_plain(notices.how_to_link(profiles[platform]))


async def test_a_lost_sign_in_is_worded_once_whatever_failed() -> None:
    slack = Profiles.of(await adapters())[Platform.SLACK]
    sent, done = to_plain(notices.signin_lost(slack, "Not sent")), to_plain(notices.signin_lost(slack, "Not done"))
    assert sent == "Not sent: your Pluto sign-in no longer works. Send /lms link to sign in again."
    assert done == sent.replace("Not sent", "Not done")
    assert "Send /lms link to sign in again." in to_plain(notices.signin_lost(slack))  # messages paused


def test_a_platform_without_a_declared_profile_gets_a_plain_one() -> None:
    assert Profiles()[Platform.DISCORD].display_name == "Discord"
