"""The one command parser (bridge.inbound.parse): every platform's typed form, one answer."""

from __future__ import annotations

import pytest

from bridge.inbound.parse import parse_command, parsed
from bridge.model import ChatIdentity, CommandEvent, Platform


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("to Maya Mentor", ("to", "Maya Mentor")),  # Slack's /pluto text, Teams, console
        ("/to@PlutoBot  Maya ", ("to", "Maya")),  # Telegram in a group
        ("/START abc123", ("link", "abc123")),  # the Start button's payload
        ("LINK", ("link", "")),
        ("frobnicate now", ("frobnicate", "now")),  # unknown: kept, answered with help
        ("", ("help", "")),
        ("   ", ("help", "")),
        ("/", ("help", "")),
    ],
)
def test_parse_command(typed: str, expected: tuple[str, str]) -> None:
    assert parse_command(typed) == expected


def test_a_structured_command_keeps_its_name() -> None:
    event = CommandEvent(
        identity=ChatIdentity(Platform.DISCORD, "", "1"),
        event_id="e",
        room="r",
        display_name="x",
        is_private=True,
        name="to",
        args="Maya",
    )
    assert parsed(event) is event
