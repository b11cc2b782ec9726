"""The end-to-end scenarios of test_e2e.py with the bridge on Socket Mode: the sandbox
delivers events, commands and button presses as envelopes over the websocket the real
``AsyncSocketModeHandler`` opened (no public endpoint, no signatures). A separate file so
that each runs well within a minute."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack
from tests.support import lms_texts, until

from . import test_e2e
from .e2e_support import SAM, T1, SlackChat, slack_config
from .test_e2e import (
    test_both_directions_with_a_thread_per_conversation,
    test_button_press_marks_an_alert_read_and_retires_the_buttons,
    test_injection_typed_in_slack_lands_in_the_lms_as_plain_text,
    test_linking_through_the_slash_command_and_sign_in_page,
    test_redelivered_event_reaches_the_lms_once,
    test_sign_in_page_suggests_the_pluto_account_with_the_slack_email,
    test_two_workspaces_at_once,
)

__all__ = [  # collected again here, where ``slack_mode`` is "socket"
    "test_both_directions_with_a_thread_per_conversation",
    "test_button_press_marks_an_alert_read_and_retires_the_buttons",
    "test_injection_typed_in_slack_lands_in_the_lms_as_plain_text",
    "test_linking_through_the_slash_command_and_sign_in_page",
    "test_redelivered_event_reaches_the_lms_once",
    "test_sign_in_page_suggests_the_pluto_account_with_the_slack_email",
    "test_two_workspaces_at_once",
]

pytestmark = pytest.mark.e2e

NOT_HERE = {
    "test_forged_and_stale_signatures_are_refused_by_the_bridge",  # Socket Mode is unsigned
    "test_hostile_lms_text_arrives_inert_on_the_wire",  # outbound only: the mode changes nothing
}


@pytest.fixture
def slack_mode() -> str:
    """Socket Mode for every scenario collected here."""
    return "socket"


def test_every_inbound_scenario_runs_here_too() -> None:
    """A scenario added to test_e2e.py is not silently left out of Socket Mode."""
    scenarios = {name for name in vars(test_e2e) if name.startswith("test_")}
    assert scenarios - NOT_HERE == set(__all__)


async def test_redelivery_after_a_restart_still_reaches_the_lms_once(
    slack_mode: str, lms: SandboxLMS, seed: DemoSeed, slack: SandboxSlack, tmp_path: Path
) -> None:
    """Here only, as it starts two processes: the envelope's retry_attempt reaches a fresh
    adapter that never saw the event, so it is the core's store that drops it."""
    config, port = slack_config(tmp_path, lms.url, slack, slack_mode)
    first = await SlackChat.start(slack, config, port, slack_mode)
    try:
        await first.link(T1, SAM, "mentee1")
        conversation = lms.post_message(seed.mentor_id, seed.mentee1_id, "Still there?")["conversationid"]
        await first.wait_message(T1, SAM, "Still there?")
        event = slack.user_message(T1, SAM, "Yes, still here")
        event_id, _ = await slack.sign_and_post_event(T1, event)
        await until(lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["Yes, still here"], what="delivery")
    finally:
        await first.stop()
    # Slack gave up waiting for the ack and redelivers to the restarted bridge, whose
    # adapter has never seen the event: the core's store remembers it
    second = await SlackChat.start(slack, config, port, slack_mode)
    try:
        _, again = await slack.sign_and_post_event(T1, event, event_id=event_id, retry_num=1)
        assert again.status == 200
        await second.say(T1, SAM, "marker")
        await until(lambda: lms_texts(lms, conversation, seed.mentee1_id)[-1:] == ["marker"], what="the marker")
        assert lms_texts(lms, conversation, seed.mentee1_id) == ["Yes, still here", "marker"]
    finally:
        await second.stop()
