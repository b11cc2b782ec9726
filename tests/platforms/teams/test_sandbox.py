"""The sandbox itself: identity endpoints, connector checks, throttling, standalone run."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.teams import CARD_CONTENT_TYPE, CardRefused, SandboxTeams, TeamsUser


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _token(
    sandbox: SandboxTeams, http: aiohttp.ClientSession, secret: str | None = None
) -> tuple[int, dict]:
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.app_id,
        "client_secret": secret or sandbox.app_password,
        "scope": "https://api.botframework.com/.default",
    }
    async with http.post(sandbox.token_endpoint, data=form) as resp:
        return resp.status, await resp.json()


async def test_token_endpoint_checks_credentials_and_records_scope(
    sandbox: SandboxTeams, http: aiohttp.ClientSession
) -> None:
    status, body = await _token(sandbox, http, secret="wrong")
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await _token(sandbox, http)
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["access_token"]
    assert [r["scope"] for r in sandbox.token_requests] == ["https://api.botframework.com/.default"] * 2


async def test_minted_tokens_verify_against_the_published_keys(sandbox: SandboxTeams) -> None:
    client = jwt.PyJWKClient(sandbox.jwks_url)
    token = sandbox.mint_token()
    key = await asyncio.to_thread(client.get_signing_key_from_jwt, token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=sandbox.app_id)
    assert claims["serviceurl"] == sandbox.service_url
    assert claims["iss"] == "https://api.botframework.com"


async def test_openid_metadata_points_at_the_jwks(sandbox: SandboxTeams, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sandbox.base_url}/v1/.well-known/openidconfiguration") as resp:
        doc = await resp.json()
    assert doc["jwks_uri"] == sandbox.jwks_url
    async with http.get(doc["jwks_uri"]) as resp:
        keys = {key["kid"]: key for key in (await resp.json())["keys"]}
    # Each key names the channels it signs for: Teams', and one for Web Chat and Direct Line.
    assert keys[sandbox.kid]["endorsements"] == ["msteams"]
    assert keys[sandbox.webchat_kid]["endorsements"] == ["webchat", "directline"]


async def test_connector_requires_an_issued_token(sandbox: SandboxTeams, http: aiohttp.ClientSession) -> None:
    conv = sandbox.personal_conversation(sandbox.add_user("Ada"))
    url = f"{sandbox.base_url}/v3/conversations/{conv.id}/activities"
    async with http.post(url, json={"type": "message", "text": "hi"}) as resp:
        assert resp.status == 401
    async with http.post(
        url, json={"type": "message", "text": "hi"}, headers={"Authorization": "Bearer x"}
    ) as resp:
        assert resp.status == 401
    assert sandbox.messages_in(conv.id) == []


async def test_connector_validates_bodies_and_cards(
    sandbox: SandboxTeams, http: aiohttp.ClientSession
) -> None:
    _, token = await _token(sandbox, http)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    conv = sandbox.personal_conversation(sandbox.add_user("Ada"))
    url = f"{sandbox.base_url}/v3/conversations/{conv.id}/activities"
    async with http.post(url, json={"type": "message", "text": 12345}, headers=auth) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "BadArgument"
    bad_card = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.5", "actions": [{"type": "Action.Bogus"}]},
            }
        ],
    }
    async with http.post(url, json=bad_card, headers=auth) as resp:
        assert resp.status == 400
        assert "card:" in (await resp.json())["error"]["message"]
    async with http.post(url, json={"type": "message", "text": "fine"}, headers=auth) as resp:
        assert resp.status == 201
    assert [a["text"] for a in sandbox.messages_in(conv.id)] == ["fine"]
    async with http.get(f"{sandbox.base_url}/v3/conversations/{conv.id}/members", headers=auth) as resp:
        assert [m["name"] for m in await resp.json()] == ["Ada"]


async def test_per_conversation_throttling_answers_429(
    sandbox: SandboxTeams, http: aiohttp.ClientSession
) -> None:
    sandbox.enforce_limits = True
    _, token = await _token(sandbox, http)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    busy = sandbox.personal_conversation(sandbox.add_user("Busy"))
    calm = sandbox.personal_conversation(sandbox.add_user("Calm"))
    statuses = []
    for i in range(8):
        async with http.post(
            f"{sandbox.base_url}/v3/conversations/{busy.id}/activities",
            json={"type": "message", "text": str(i)},
            headers=auth,
        ) as resp:
            statuses.append(resp.status)
            retry_after = resp.headers.get("Retry-After")
    assert statuses == [201] * 7 + [429]
    assert retry_after is not None and float(retry_after) > 0
    async with http.post(
        f"{sandbox.base_url}/v3/conversations/{calm.id}/activities",
        json={"type": "message", "text": "ok"},
        headers=auth,
    ) as resp:
        assert resp.status == 201


async def test_runs_standalone() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox.teams", "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        base = line.split()[3]
        assert base.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(f"{base}/v1/.well-known/keys") as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        await proc.wait()


async def test_eight_in_two_seconds_per_conversation(
    sandbox: SandboxTeams, http: aiohttp.ClientSession
) -> None:
    sandbox.enforce_limits = True
    _, token = await _token(sandbox, http)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    conv = sandbox.personal_conversation(sandbox.add_user("Steady"))
    url = f"{sandbox.base_url}/v3/conversations/{conv.id}/activities"

    async def post() -> int:
        async with http.post(url, json={"type": "message", "text": "x"}, headers=auth) as resp:
            return resp.status

    first = [await post() for _ in range(7)]
    await asyncio.sleep(1.05)  # the 7-per-second window is clear; the 8-per-2-seconds one is not
    assert [*first, await post(), await post()] == [201] * 8 + [429]
    assert sandbox.throttled == 1


async def test_app_wide_limit_spans_conversations(sandbox: SandboxTeams, http: aiohttp.ClientSession) -> None:
    sandbox.enforce_limits = True
    sandbox.app_limits = ((3, 3600.0),)  # Teams' 50/s shape, shrunk to stay timing-free
    _, token = await _token(sandbox, http)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    statuses = []
    for name in ("A", "B", "C", "D"):
        conv = sandbox.personal_conversation(sandbox.add_user(name))
        async with http.post(
            f"{sandbox.base_url}/v3/conversations/{conv.id}/activities",
            json={"type": "message", "text": name},
            headers=auth,
        ) as resp:
            statuses.append((resp.status, resp.headers.get("Retry-After") is not None))
    assert statuses == [(201, False)] * 3 + [(429, True)]


def test_real_limits_are_teams_documented_ones() -> None:
    sb = SandboxTeams()
    assert sb.limits == ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
    assert sb.app_limits == ((50, 1.0),)


async def test_token_secret_is_not_recorded(sandbox: SandboxTeams, http: aiohttp.ClientSession) -> None:
    await _token(sandbox, http)
    (request,) = [r for r in sandbox.requests if r.path == "/oauth2/v2.0/token"]
    assert request.body["client_id"] == sandbox.app_id and "client_secret" not in request.body
    assert sandbox.app_password not in str(request.body)


async def test_personal_chat_after_uninstall_answers_403(
    sandbox: SandboxTeams, http: aiohttp.ClientSession
) -> None:
    _, token = await _token(sandbox, http)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    user = sandbox.add_user("Leaver")
    conv = sandbox.personal_conversation(user)
    sandbox.installation_update(user, action="remove")
    async with http.post(
        f"{sandbox.base_url}/v3/conversations/{conv.id}/activities",
        json={"type": "message", "text": "still there?"},
        headers=auth,
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "BotNotInConversationRoster"
    assert sandbox.messages_in(conv.id) == []


def _card_message(sandbox: SandboxTeams, user: TeamsUser) -> str:
    """A bot message carrying a card with a required reason, stored as if the bot had sent it."""
    card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "Input.Text", "id": "reason", "isRequired": True, "errorMessage": "Say why"}],
        "actions": [
            {"type": "Action.Execute", "title": "Reject", "verb": "pluto", "data": {"action": "no:1"}},
            {
                "type": "Action.Execute",
                "title": "Dismiss",
                "verb": "pluto",
                "data": {"action": "dis:1"},
                "associatedInputs": "none",
            },
            {"type": "Action.Submit", "title": "Old client", "data": {"action": "old:1"}},
            {"type": "Action.OpenUrl", "title": "Open", "url": "https://pluto.example/1"},
        ],
    }
    conversation = sandbox.personal_conversation(user)
    conversation.activities["m1"] = {
        "type": "message",
        "id": "m1",
        "text": "Task",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}],
    }
    return "m1"


def test_button_press_is_what_the_teams_client_sends(sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Ada")
    message = _card_message(sandbox, user)
    invoke = sandbox.button_press(user, message, "Reject", {"reason": "too late"})
    assert (invoke["type"], invoke["name"], invoke["replyToId"]) == ("invoke", "adaptiveCard/action", message)
    assert invoke["value"]["action"] == {
        "type": "Action.Execute",
        "verb": "pluto",
        "data": {"action": "no:1", "reason": "too late"},
    }
    # associatedInputs "none": the required field is neither gathered nor enforced.
    assert sandbox.button_press(user, message, "Dismiss")["value"]["action"]["data"] == {"action": "dis:1"}
    submit = sandbox.button_press(user, message, "Old client", {"reason": "x"})
    assert (submit["type"], submit["value"]) == ("message", {"action": "old:1", "reason": "x"})
    for title, typed, why in (
        ("Reject", {}, "Say why"),
        ("Reject", {"reason": "   "}, "Say why"),
        ("Reject", {"other": "x"}, "no input"),
        ("Open", {}, "Action.OpenUrl"),
        ("Approve", {}, "no button"),
    ):
        with pytest.raises(CardRefused, match=why):
            sandbox.button_press(user, message, title, typed)


async def test_a_card_answering_an_invoke_is_validated(sandbox: SandboxTeams) -> None:
    async def bot(request: web.Request) -> web.Response:
        bad = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "txt": "?"}]}
        return web.json_response({"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": bad})

    app = web.Application()
    app.router.add_post("/api/messages", bot)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        sandbox.bot_endpoint = str(server.make_url("/api/messages"))
        user = sandbox.add_user("Ada")
        status, _ = await sandbox.push(sandbox.button_press(user, _card_message(sandbox, user), "Dismiss"))
        assert status == 200
        assert [e for e in sandbox.validation_errors if e.startswith("invoke card:")]
    finally:
        await server.close()
