"""Starting while Slack does not answer: the adapter starts anyway (the bridge keeps serving
its other platforms), sends fail as transient, and once Slack is back everything works,
Socket Mode included; a rejected app-level token still fails the start."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from adapters.slack import SlackAdapter
from bridge.model import ChatIdentity, Destination, MessageEvent, Platform, Post
from bridge.ports import TransientError
from sandbox.slack import SandboxSlack
from tests.conftest import free_port

from .conftest import SAM, SECRET, T1, TOKENS, RecordingSink

SAM_ID = ChatIdentity(Platform.SLACK, T1, SAM)


def sandbox_on(port: int) -> SandboxSlack:
    slack = SandboxSlack(signing_secret=SECRET, enforce_limits=False)
    slack.add_team(T1, TOKENS[T1])
    slack.add_user(T1, SAM, "sam", display_name="Sam")
    slack.push_mode = "socket"
    return slack


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_slack_down_at_start_then_back(mode: str, sink: RecordingSink) -> None:
    port = free_port()
    adapter = SlackAdapter(
        workspaces={T1: TOKENS[T1]},
        signing_secret=SECRET,
        mode="socket" if mode == "socket" else "http",
        app_token="xapp-1-sandbox",
        api_base_url=f"http://127.0.0.1:{port}/api/",
        socket_ping_interval=0.5,  # the SDK's delay between connection attempts
    )
    slack = sandbox_on(port)
    try:
        await adapter.start(sink)  # returns although nothing listens on the port
        with pytest.raises(TransientError):
            await adapter.send(Destination(SAM_ID), Post("while Slack is down"))
        await slack.start(port)  # Slack is back
        ref = await adapter.send(Destination(SAM_ID), Post("Slack is back"))
        assert slack.channel(ref.room).find(ref.message_id) is not None
        if mode == "socket":
            await slack.wait_socket()  # the background retry connected
            await slack.sign_and_post_event(T1, slack.user_message(T1, SAM, "hello over the socket"))
            (got,) = await sink.wait(1)
            assert isinstance(got, MessageEvent) and got.text == "hello over the socket"
    finally:
        await adapter.stop()
        await slack.stop()


async def test_a_rejected_app_token_fails_the_start(sink: RecordingSink) -> None:
    port = free_port()
    slack = sandbox_on(port)
    await slack.start(port)
    adapter = SlackAdapter(
        workspaces={T1: TOKENS[T1]},
        signing_secret=SECRET,
        mode="socket",
        app_token="xapp-wrong",
        api_base_url=slack.api_url,
    )
    try:
        with pytest.raises(SlackApiError) as caught:
            await adapter.start(sink)
        assert caught.value.response["error"] == "invalid_auth"
    finally:
        await adapter.stop()
        await slack.stop()
