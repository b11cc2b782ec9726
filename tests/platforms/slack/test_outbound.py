"""Outbound: sends, edits, deletes and buttons as the sandbox saw them on the wire, and the
mapping of Slack failures onto the adapter contract's exceptions."""

from __future__ import annotations

import socket

import pytest

from adapters.slack import SlackAdapter, slash_command
from bridge.model import Action, ChatIdentity, Destination, Platform, Post, SentRef
from bridge.ports import PermanentError, RateLimited, RecipientUnreachable, TransientError
from sandbox.slack import SandboxSlack

from .conftest import ALEX, KIM, SAM, SECRET, T1, T2, TOKENS

SAM_ID = ChatIdentity(Platform.SLACK, T1, SAM)
ALEX_ID = ChatIdentity(Platform.SLACK, T1, ALEX)
KIM_ID = ChatIdentity(Platform.SLACK, T2, KIM)


async def test_send_posts_blocks_buttons_and_fallback(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    post = Post(
        "*New task* from Ms Lee",
        fallback="New task from Ms Lee",
        actions=(
            Action("t1:ok", "Accept", style="primary"),
            Action("t1:no", "Decline", style="danger", needs_reason=True),
            Action("t1:open", "Open", url="https://pluto.example/task/1"),
        ),
    )
    ref = await http_bridge.send(Destination(SAM_ID), post)
    dm = sandbox.dm(T1, SAM)
    assert ref == SentRef(room=dm.id, message_id=dm.messages[-1]["ts"], thread=None)
    (call,) = sandbox.api_calls("chat.postMessage")
    assert call.headers["Authorization"] == "Bearer xoxb-team-one"
    p = call.params
    assert (p["channel"], p["text"], p["unfurl_links"], p["unfurl_media"], p["mrkdwn"]) == (
        dm.id,
        "New task from Ms Lee",
        False,
        False,
        True,
    )
    section, reason, actions = p["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "*New task* from Ms Lee"}}
    assert reason["type"] == "input" and reason["element"]["type"] == "plain_text_input"
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert buttons["t1:ok"]["style"] == "primary" and buttons["t1:no"]["style"] == "danger"
    assert buttons["t1:open"]["url"] == "https://pluto.example/task/1"
    assert [b["text"]["text"] for b in actions["elements"]] == ["Accept", "Decline", "Open"]


async def test_sends_reuse_one_kept_alive_connection(http_bridge: SlackAdapter, sandbox: SandboxSlack) -> None:
    # Without a shared session slack_sdk opens a connection (on Slack, a TLS handshake) per call.
    for n in range(5):
        await http_bridge.send(Destination(SAM_ID if n % 2 else ALEX_ID), Post(f"message {n}"))
    calls = sandbox.api_calls("chat.postMessage")
    assert len(calls) == 5
    assert len({call.peer for call in calls}) == 1


async def test_send_without_actions_has_no_input_and_text_is_fallback(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    await http_bridge.send(Destination(SAM_ID), Post("plain *words*"))
    (call,) = sandbox.api_calls("chat.postMessage")
    assert call.params["text"] == "plain *words*"
    assert [b["type"] for b in call.params["blocks"]] == ["section"]


async def test_rendered_text_is_sent_untouched_and_plain_fallback_is_escaped(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    rendered = "&lt;!channel&gt; *bold* &amp; <https://pluto.example/m/1|open>"  # already mrkdwn
    plain = "<!channel> <@U0ALEX> <https://evil|click> & *x*"  # plain text: Slack would parse it
    await http_bridge.send(Destination(SAM_ID), Post(rendered, fallback=plain))
    (call,) = sandbox.api_calls("chat.postMessage")
    assert call.params["blocks"][0]["text"]["text"] == rendered
    assert call.params["text"] == "&lt;!channel&gt; &lt;@U0ALEX&gt; &lt;https://evil|click&gt; &amp; *x*"


async def test_dm_is_opened_once_and_threads_are_used(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    root = await http_bridge.send(Destination(SAM_ID), Post("conversation with Ms Lee"))
    reply = await http_bridge.send(Destination(SAM_ID), Post("second message", thread=root.message_id))
    assert reply.thread == root.message_id and reply.room == root.room
    opens = sandbox.api_calls("conversations.open")
    assert len(opens) == 1
    assert opens[0].params["users"] == SAM
    assert sandbox.dm(T1, SAM).messages[-1]["thread_ts"] == root.message_id
    # a known room is used as given, without opening anything
    await http_bridge.send(Destination(ALEX_ID, room=sandbox.dm(T1, ALEX).id), Post("hi"))
    assert len(sandbox.api_calls("conversations.open")) == 1


async def test_edit_retires_buttons_and_delete_removes(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    dest = Destination(SAM_ID)
    ref = await http_bridge.send(dest, Post("task", actions=(Action("a", "Accept"),)))
    await http_bridge.edit(dest, ref, Post("task (accepted)", actions=()))
    (update,) = sandbox.api_calls("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (ref.room, ref.message_id)
    assert update.headers["Authorization"] == "Bearer xoxb-team-one"
    stored = sandbox.channel(ref.room).find(ref.message_id)
    assert stored is not None
    assert stored["text"] == "task (accepted)"
    assert [b["type"] for b in stored["blocks"]] == ["section"]
    await http_bridge.delete(dest, ref)
    assert sandbox.channel(ref.room).find(ref.message_id) is None
    assert sandbox.api_calls("chat.delete")[-1].headers["Authorization"] == "Bearer xoxb-team-one"


async def test_edit_after_a_restart_uses_the_destination_workspace_token(sandbox: SandboxSlack) -> None:
    # a fresh adapter (say, after a restart) knows nothing of the room: the Destination's
    # workspace picks the token, with no probing of other workspaces
    first = SlackAdapter(workspaces=TOKENS, signing_secret=SECRET, api_base_url=sandbox.api_url)
    ref = await first.send(Destination(KIM_ID), Post("hello Kim"))
    fresh = SlackAdapter(workspaces=TOKENS, signing_secret=SECRET, api_base_url=sandbox.api_url)
    await fresh.edit(Destination(KIM_ID, room=ref.room), ref, Post("hello again"))
    stored = sandbox.channel(ref.room).find(ref.message_id)
    assert stored is not None and stored["text"] == "hello again"
    assert [c.headers["Authorization"] for c in sandbox.api_calls("chat.update")] == ["Bearer xoxb-team-two"]


async def test_edit_and_delete_failures_map_onto_contract_exceptions(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    dest = Destination(SAM_ID)
    ref = await http_bridge.send(dest, Post("task"))
    sandbox.inject("chat.update", status=429, retry_after=4)
    with pytest.raises(RateLimited) as limited:
        await http_bridge.edit(dest, ref, Post("v2"))
    assert limited.value.retry_after == 4
    with pytest.raises(PermanentError) as gone:
        await http_bridge.delete(dest, SentRef(ref.room, "1.000001"))
    assert "message_not_found" in gone.value.reason
    with pytest.raises(RecipientUnreachable):
        await http_bridge.edit(Destination(ChatIdentity(Platform.SLACK, "T0UNKNOWN", SAM)), ref, Post("v2"))


async def test_two_workspaces_each_send_with_their_own_token(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    await http_bridge.send(Destination(SAM_ID), Post("to team one"))
    await http_bridge.send(Destination(KIM_ID), Post("to team two"))
    by_text = {c.params["text"]: c.headers["Authorization"] for c in sandbox.api_calls("chat.postMessage")}
    assert by_text == {"to team one": "Bearer xoxb-team-one", "to team two": "Bearer xoxb-team-two"}
    assert sandbox.dm(T2, KIM).messages[-1]["text"] == "to team two"


async def test_429_on_one_channel_is_rate_limited_while_another_still_receives(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    sam_dm = sandbox.dm(T1, SAM).id
    sandbox.inject("chat.postMessage", channel=sam_dm, status=429, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await http_bridge.send(Destination(SAM_ID, room=sam_dm), Post("too fast"))
    assert caught.value.retry_after == 7
    assert len(sandbox.api_calls("chat.postMessage")) == 1  # the SDK did not retry by itself
    ref = await http_bridge.send(Destination(ALEX_ID), Post("other room"))
    assert sandbox.channel(ref.room).find(ref.message_id) is not None
    assert sandbox.dm(T1, SAM).messages == []


async def test_real_per_channel_limit_gives_rate_limited(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    sandbox.enforce_limits = True
    with pytest.raises(RateLimited) as caught:
        for i in range(sandbox.post_burst + 1):
            await http_bridge.send(Destination(SAM_ID), Post(f"burst {i}"))
    assert caught.value.retry_after >= 1
    assert len(sandbox.dm(T1, SAM).messages) == sandbox.post_burst


@pytest.mark.parametrize(
    ("injection", "expected"),
    [
        ({"status": 500}, TransientError),
        ({"status": 503}, TransientError),
        ({"status": 403}, RecipientUnreachable),
        ({"error": "channel_not_found"}, RecipientUnreachable),
        ({"error": "account_inactive"}, RecipientUnreachable),
        ({"error": "is_archived"}, RecipientUnreachable),
        ({"error": "msg_blocks_too_long"}, PermanentError),
    ],
)
async def test_failures_map_onto_contract_exceptions(
    http_bridge: SlackAdapter, sandbox: SandboxSlack, injection: dict[str, object], expected: type[Exception]
) -> None:
    sandbox.inject("chat.postMessage", **injection)  # type: ignore[arg-type]
    with pytest.raises(expected) as caught:
        await http_bridge.send(Destination(SAM_ID), Post("x"))
    assert type(caught.value) is expected


async def test_message_too_long_is_permanent(http_bridge: SlackAdapter, sandbox: SandboxSlack) -> None:
    with pytest.raises(PermanentError) as caught:
        await http_bridge.send(Destination(SAM_ID), Post("ok", fallback="x" * 40_001))
    assert type(caught.value) is PermanentError and "msg_too_long" in caught.value.reason


async def test_unknown_user_and_bot_user_are_unreachable(
    http_bridge: SlackAdapter, sandbox: SandboxSlack
) -> None:
    with pytest.raises(RecipientUnreachable):
        await http_bridge.send(Destination(ChatIdentity(Platform.SLACK, T1, "U0NOBODY")), Post("x"))
    bot = sandbox.teams[T1].bot_user_id
    with pytest.raises(RecipientUnreachable):
        await http_bridge.send(Destination(ChatIdentity(Platform.SLACK, T1, bot)), Post("x"))
    with pytest.raises(RecipientUnreachable):
        await http_bridge.send(Destination(ChatIdentity(Platform.SLACK, "T0UNKNOWN", SAM)), Post("x"))


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    adapter = SlackAdapter(
        workspaces=TOKENS, signing_secret=SECRET, api_base_url=f"http://127.0.0.1:{port}/api/"
    )
    with pytest.raises(TransientError):
        await adapter.send(Destination(SAM_ID, room="D0SAM"), Post("x"))


async def test_profile_email(http_bridge: SlackAdapter) -> None:
    assert await http_bridge.profile_email(SAM_ID) == "sam@example.org"
    assert await http_bridge.profile_email(ChatIdentity(Platform.SLACK, T1, "U0NOBODY")) is None


async def test_stop_is_safe_twice(http_bridge: SlackAdapter) -> None:
    await http_bridge.stop()
    await http_bridge.stop()


def test_capabilities_and_command_manifest() -> None:
    adapter = SlackAdapter(workspaces=TOKENS, signing_secret=SECRET)
    caps = adapter.capabilities
    assert (caps.max_text, caps.max_actions, caps.threads) == (3000, 5, True)
    manifest = slash_command(adapter.command)
    assert manifest["command"] == "/pluto"
    from bridge.model import COMMANDS

    for spec in COMMANDS:
        assert spec.usage in manifest["usage_hint"]
