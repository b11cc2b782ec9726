"""The sandbox Slack on its own and with the real slack_sdk: auth, argument checks, limits,
injection, envelopes that match Slack's published schema, signatures, Socket Mode."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import jsonschema
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import SlackAdapter
from bridge.model import ChatIdentity, MessageEvent, Platform
from sandbox.slack import EVENT_SCHEMA_PATH, TIER_PER_MINUTE, SandboxSlack, sign

from .conftest import KIM, SAM, SECRET, T1, T2, TOKENS, RecordingSink


def client(sandbox: SandboxSlack, team: str = T1) -> AsyncWebClient:
    return AsyncWebClient(token=TOKENS[team], base_url=sandbox.api_url)


async def test_bearer_token_is_checked(sandbox: SandboxSlack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.api_url}auth.test") as resp:
            assert resp.status == 200
            assert await resp.json() == {"ok": False, "error": "not_authed"}
        async with http.post(f"{sandbox.api_url}auth.test", headers={"Authorization": "Bearer xoxb-nope"}) as resp:
            assert await resp.json() == {"ok": False, "error": "invalid_auth"}
    auth = await client(sandbox, T2).auth_test()
    assert (auth["team_id"], auth["user_id"]) == (T2, sandbox.teams[T2].bot_user_id)


async def test_sdk_calls_are_parsed_whatever_the_encoding(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    opened = await c.conversations_open(users=SAM)  # query string, empty body
    assert opened["channel"]["id"] == sandbox.dm(T1, SAM).id
    (rec,) = sandbox.api_calls("conversations.open")
    assert rec.params == {"users": SAM}
    info = await c.users_info(user=SAM)  # GET query
    assert info["user"]["profile"]["email"] == "sam@example.org"
    by_mail = await c.users_lookupByEmail(email="SAM@example.org")
    assert by_mail["user"]["id"] == SAM
    conv = await c.conversations_info(channel="C0GENERAL")
    assert conv["channel"]["name"] == "general"
    posted = await c.chat_postMessage(channel=opened["channel"]["id"], text="hi")  # JSON body
    assert posted["message"]["text"] == "hi"
    eph = await c.chat_postEphemeral(channel=opened["channel"]["id"], user=SAM, text="psst")
    assert eph["message_ts"]


async def test_required_arguments_from_the_spec(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    with pytest.raises(SlackApiError) as caught:
        await c.api_call("chat.postMessage", json={"text": "no channel"})
    assert caught.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as caught:
        await c.api_call("users.lookupByEmail", http_verb="GET", params={})
    assert caught.value.response["error"] == "invalid_arguments"
    # extras Bolt adds (team_id) are ignored
    dm = sandbox.dm(T1, SAM).id
    assert (await c.api_call("chat.postMessage", json={"channel": dm, "text": "x", "team_id": T1}))["ok"]


async def test_logical_errors_are_http_200(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    dm = sandbox.dm(T1, SAM).id
    for kwargs, error in [
        ({"channel": "D0NONE", "text": "x"}, "channel_not_found"),
        ({"channel": dm, "text": "x" * 40_001}, "msg_too_long"),
        (
            {
                "channel": dm,
                "text": "x",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}],
            },
            "invalid_blocks",
        ),
    ]:
        with pytest.raises(SlackApiError) as caught:
            await c.chat_postMessage(**kwargs)  # type: ignore[arg-type]
        assert caught.value.response.status_code == 200
        assert caught.value.response["error"] == error
    with pytest.raises(SlackApiError) as caught:
        await c.users_info(user="U0NOBODY")
    assert caught.value.response["error"] == "user_not_found"


async def test_update_and_delete_model(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    dm = sandbox.dm(T1, SAM).id
    posted = await c.chat_postMessage(channel=dm, text="v1")
    await c.chat_update(channel=dm, ts=posted["ts"], text="v2")
    stored = sandbox.channel(dm).find(posted["ts"])
    assert stored is not None and stored["text"] == "v2" and "edited" in stored
    with pytest.raises(SlackApiError) as caught:
        await c.chat_update(channel=dm, ts="1.000000", text="v3")
    assert caught.value.response["error"] == "message_not_found"
    await c.chat_delete(channel=dm, ts=posted["ts"])
    assert sandbox.channel(dm).find(posted["ts"]) is None


async def test_rate_limit_is_per_channel_and_switchable(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    sam_dm, general = sandbox.dm(T1, SAM).id, "C0GENERAL"
    sandbox.enforce_limits = True
    for _ in range(sandbox.post_burst):
        await c.chat_postMessage(channel=sam_dm, text="burst")
    with pytest.raises(SlackApiError) as caught:
        await c.chat_postMessage(channel=sam_dm, text="one too many")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    await c.chat_postMessage(channel=general, text="another channel is fine")
    sandbox.enforce_limits = False
    await c.chat_postMessage(channel=sam_dm, text="limits off")


async def test_tiered_methods_are_limited_per_workspace_and_method(sandbox: SandboxSlack) -> None:
    sandbox.enforce_limits = True
    assert sandbox.tier_per_minute["conversations.info"] == TIER_PER_MINUTE["conversations.info"] == 50
    allowance = sandbox.tier_per_minute["conversations.info"] = 3  # one refill every 20 s: no race
    one, two = client(sandbox, T1), client(sandbox, T2)
    dm = sandbox.dm(T1, SAM).id
    for _ in range(allowance):  # a minute's worth may come at once
        await one.conversations_info(channel=dm)
    with pytest.raises(SlackApiError) as caught:
        await one.conversations_info(channel=dm)
    assert caught.value.response.status_code == 429
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    await one.users_info(user=SAM)  # another method has its own allowance
    await two.conversations_info(channel=sandbox.dm(T2, KIM).id)  # so has another workspace
    assert len(sandbox.rate_limited()) == 1


async def test_injection_targets_method_channel_and_count(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    dm = sandbox.dm(T1, SAM).id
    sandbox.inject("chat.postMessage", channel=dm, count=2, status=502)
    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            await c.chat_postMessage(channel=dm, text="x")
        assert caught.value.response.status_code == 502
    await c.chat_postMessage(channel=dm, text="third works")
    sandbox.inject("chat.update", error="edit_window_closed")
    with pytest.raises(SlackApiError) as caught:
        await c.chat_update(channel=dm, ts="1.0", text="x")
    assert caught.value.response["error"] == "edit_window_closed"


def test_event_envelopes_match_slacks_schema(sandbox: SandboxSlack) -> None:
    schema = json.loads(Path(EVENT_SCHEMA_PATH).read_text())
    for event in (sandbox.user_message(T1, SAM, "hi"), sandbox.app_home_opened(T1, SAM)):
        jsonschema.validate(sandbox.event_envelope(T1, event), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"type": "event_callback"}, schema)


def test_signature_is_computed_independently_and_agrees_with_slack_sdk() -> None:
    body, stamp = b'{"a":1}', str(int(time.time()))
    signature = sign(SECRET, stamp, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, stamp, signature)
    assert not verifier.is_valid(body, stamp, sign("other", stamp, body))


async def test_response_url_sink_records(sandbox: SandboxSlack) -> None:
    rid, url = sandbox._response_url()
    async with aiohttp.ClientSession() as http, http.post(url, json={"text": "hey"}) as resp:
        assert resp.status == 200
    assert sandbox.responses[rid] == [{"text": "hey"}]


async def test_response_url_replaces_or_deletes_the_pressed_message(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    dm = sandbox.dm(T1, SAM).id
    first = str((await c.chat_postMessage(channel=dm, text="v1"))["ts"])
    second = str((await c.chat_postMessage(channel=dm, text="other"))["ts"])
    section = [{"type": "section", "text": {"type": "mrkdwn", "text": "v2"}}]
    rid, url = sandbox._response_url((dm, first))
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"text": "v2", "blocks": section, "replace_original": True}) as resp:
            assert resp.status == 200
        replaced = sandbox.channel(dm).find(first)
        assert replaced is not None and (replaced["text"], replaced["blocks"]) == ("v2", section)
        async with http.post(url, json={"text": "bad", "blocks": [{"type": "nope"}], "replace_original": True}) as resp:
            assert resp.status == 400
        async with http.post(url, json={"delete_original": True}) as resp:
            assert resp.status == 200
        assert sandbox.channel(dm).find(first) is None and sandbox.channel(dm).find(second) is not None
        _, command_url = sandbox._response_url()  # a slash command's: there is nothing to replace
        async with http.post(command_url, json={"text": "x", "replace_original": True}) as resp:
            assert resp.status == 404
    assert len(sandbox.responses[rid]) == 3


async def test_socket_mode_refresh_reconnects_and_keeps_delivering(sandbox: SandboxSlack, sink: RecordingSink) -> None:
    sandbox.push_mode = "socket"
    adapter = SlackAdapter(
        workspaces=TOKENS,
        signing_secret=SECRET,
        mode="socket",
        app_token=sandbox.app_token,
        api_base_url=sandbox.api_url,
    )
    await adapter.start(sink)
    try:
        await sandbox.wait_socket()
        assert sandbox.socket_connections == 1
        await sandbox.socket_disconnect("refresh_requested")
        async with asyncio.timeout(10):
            while sandbox.socket_connections < 2:  # noqa: ASYNC110 - a counter, no event to wait on
                await asyncio.sleep(0.01)
        await sandbox.wait_socket()
        opens = sandbox.api_calls("apps.connections.open")
        assert len(opens) == 2 and opens[0].headers["Authorization"] == f"Bearer {sandbox.app_token}"
        event_id, result = await sandbox.sign_and_post_event(T1, sandbox.user_message(T1, SAM, "after refresh"))
        assert result.ack is not None  # the client acked the envelope
        (got,) = await sink.wait(1)
        assert isinstance(got, MessageEvent) and got.event_id == event_id
        assert got.identity == ChatIdentity(Platform.SLACK, T1, SAM)
    finally:
        await adapter.stop()


async def test_socket_mode_rejects_a_wrong_app_token(sandbox: SandboxSlack) -> None:
    c = AsyncWebClient(base_url=sandbox.api_url)
    with pytest.raises(SlackApiError) as caught:
        await c.apps_connections_open(app_token="xapp-wrong")
    assert caught.value.response["error"] == "invalid_auth"


async def test_strict_mode_rejects_arguments_the_spec_does_not_know(sandbox: SandboxSlack) -> None:
    c = client(sandbox)
    dm = sandbox.dm(T1, SAM).id
    with pytest.raises(SlackApiError) as caught:
        await c.api_call("chat.postMessage", json={"channel": dm, "text": "x", "thread_tss": "1.0"})
    assert caught.value.response["unknown"] == ["thread_tss"]
    sandbox.strict = False
    assert (await c.api_call("chat.postMessage", json={"channel": dm, "text": "x", "thread_tss": "1.0"}))["ok"]
