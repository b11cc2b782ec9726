"""The Discord sandbox on its own: wire details discord.py depends on, limits, spec checks,
and the gateway handshake, driven by raw aiohttp and by the real discord.py client."""

import asyncio
import json
import zlib
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
import yarl

from sandbox.discord import EPHEMERAL, MESSAGE_CONTENT_INTENT, ModalRefused, SandboxDiscord


@pytest.fixture
async def http(sandbox: SandboxDiscord) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bot {sandbox.token}"}
    async with aiohttp.ClientSession(base_url=sandbox.base_url, headers=headers) as session:
        yield session


def api(path: str) -> str:
    return "/api/v10" + path


async def test_json_content_type_is_exact_and_ratelimit_headers_are_always_sent(sandbox, http):
    async with http.get(api("/users/@me")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"  # no charset: discord.py needs this
        for header in ("Limit", "Remaining", "Reset", "Reset-After", "Bucket"):
            assert f"X-RateLimit-{header}" in resp.headers
        assert (await resp.json())["id"] == sandbox.application_id


async def test_unauthorised_rest_call_is_401(sandbox):
    async with aiohttp.ClientSession(base_url=sandbox.base_url) as session:
        async with session.get(api("/users/@me"), headers={"Authorization": "Bot wrong"}) as resp:
            assert resp.status == 401


async def test_per_channel_bucket_gives_discord_shaped_429(sandbox, http):
    uid = sandbox.add_user()
    room = sandbox.dm_channel_of(uid)
    other = sandbox.dm_channel_of(sandbox.add_user())
    assert sandbox.channel_remaining(room) == 5
    statuses = []
    for i in range(6):
        async with http.post(api(f"/channels/{room}/messages"), json={"content": f"m{i}"}) as resp:
            statuses.append(resp.status)
            last_headers, last_body = resp.headers, await resp.json()
    assert statuses == [200] * 5 + [429]
    assert last_headers["Via"] == "1.1 google"
    assert last_headers["X-RateLimit-Scope"] == "user"
    assert int(last_headers["Retry-After"]) >= 1
    assert set(last_body) == {"message", "retry_after", "global"}
    assert 0 < last_body["retry_after"] <= 5 and last_body["global"] is False
    async with http.post(api(f"/channels/{other}/messages"), json={"content": "elsewhere"}) as resp:
        assert resp.status == 200  # the bucket is per channel
    assert (sandbox.channel_remaining(room), sandbox.channel_remaining(other)) == (0, 4)


async def test_limits_can_be_switched_off(sandbox, http):
    sandbox.enforce_limits = False
    room = sandbox.dm_channel_of(sandbox.add_user())
    for i in range(7):
        async with http.post(api(f"/channels/{room}/messages"), json={"content": f"m{i}"}) as resp:
            assert resp.status == 200


async def test_global_limit(sandbox, http):
    sandbox.global_limit = 3
    statuses = []
    for _ in range(4):
        async with http.get(api("/users/@me")) as resp:
            statuses.append(resp.status)
            headers, body = resp.headers, await resp.json()
    assert statuses == [200, 200, 200, 429]
    assert body["global"] is True and headers["X-RateLimit-Global"] == "true"
    assert headers["X-RateLimit-Scope"] == "global"


async def test_spec_violations_and_length_are_rejected_with_50035(sandbox, http):
    room = sandbox.dm_channel_of(sandbox.add_user())
    async with http.post(api(f"/channels/{room}/messages"), json={"content": 12345}) as resp:
        body = await resp.json()
        assert resp.status == 400 and body["code"] == 50035
        assert "content" in body["errors"]
    async with http.post(api(f"/channels/{room}/messages"), json={"content": "x" * 2001}) as resp:
        body = await resp.json()
        assert resp.status == 400 and body["code"] == 50035
        assert body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    ok = {"content": "x" * 2000, "allowed_mentions": {"parse": []}, "message_reference": {"message_id": 1}}
    async with http.post(api(f"/channels/{room}/messages"), json=ok) as resp:
        assert resp.status == 200
    assert sandbox.sent_by_bot(room)[0]["allowed_mentions"] == {"parse": []}


async def test_injected_failures_hit_only_the_chosen_route(sandbox, http):
    a = sandbox.dm_channel_of(sandbox.add_user())
    b = sandbox.dm_channel_of(sandbox.add_user())
    sandbox.inject(502, channel_id=a, count=2)
    sandbox.inject(403, method="POST", path_contains="/users/@me/channels", code=50007)
    got = []
    for room in (a, b, a, a):
        async with http.post(api(f"/channels/{room}/messages"), json={"content": "x"}) as resp:
            got.append(resp.status)
    assert got == [502, 200, 502, 200]
    uid = sandbox.add_user()
    async with http.post(api("/users/@me/channels"), json={"recipient_id": uid}) as resp:
        assert resp.status == 403 and (await resp.json())["code"] == 50007


async def test_interaction_callback_with_and_without_response(sandbox, http):
    uid = sandbox.add_user()
    # Opened without a gateway session: only the REST side is exercised here.
    first = sandbox.open_interaction(uid, 2, {"id": "1", "name": "pluto", "type": 1})
    second = sandbox.open_interaction(uid, 2, {"id": "1", "name": "pluto", "type": 1})
    url = api(f"/interactions/{first['id']}/{first['token']}/callback")
    async with aiohttp.ClientSession(base_url=sandbox.base_url) as anonymous:  # callbacks carry no auth
        async with anonymous.post(
            url, params={"with_response": "1"}, json={"type": 5, "data": {"flags": 64}}
        ) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/json"
            body = await r.json()
            assert body["interaction"]["id"] == first["id"]
            assert body["interaction"]["response_message_loading"] is True
            assert body["interaction"]["response_message_ephemeral"] is True
            assert body["resource"]["type"] == 5
        async with anonymous.post(url, json={"type": 5}) as r:
            assert r.status == 400 and (await r.json())["code"] == 40060  # acknowledged twice
        url2 = api(f"/interactions/{second['id']}/{second['token']}/callback")
        async with anonymous.post(url2, json={"type": 42}) as r:
            assert r.status == 400 and (await r.json())["code"] == 50035
        async with anonymous.post(url2, json={"type": 4, "data": {"content": "hi", "flags": EPHEMERAL}}) as r:
            assert r.status == 204


class SteppedClock:
    """The sandbox's interaction clock: ``now`` seconds, moved only by the test."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


async def test_interaction_callback_after_three_seconds_is_unknown_interaction():
    clock = SteppedClock()
    sandbox = SandboxDiscord(interaction_clock=clock)
    await sandbox.start()
    try:
        uid = sandbox.add_user()
        on_time = sandbox.open_interaction(uid, 2, {"id": "1", "name": "pluto", "type": 1})
        late = sandbox.open_interaction(uid, 2, {"id": "1", "name": "pluto", "type": 1})
        clock.now += 3.0  # exactly the deadline: still in time
        async with aiohttp.ClientSession(base_url=sandbox.base_url) as anonymous:
            url = api(f"/interactions/{on_time['id']}/{on_time['token']}/callback")
            async with anonymous.post(url, json={"type": 5, "data": {"flags": EPHEMERAL}}) as r:
                assert r.status == 204
            clock.now += 0.01
            url = api(f"/interactions/{late['id']}/{late['token']}/callback")
            async with anonymous.post(url, json={"type": 5, "data": {"flags": EPHEMERAL}}) as r:
                assert r.status == 404 and r.headers["Content-Type"] == "application/json"
                assert await r.json() == {"message": "Unknown interaction", "code": 10062}
            assert sandbox.interactions[late["id"]].callbacks == []  # not acknowledged
            # Its follow-up webhook is unknown too: it was never answered.
            async with anonymous.post(api(f"/webhooks/{sandbox.application_id}/{late['token']}"),
                                      json={"content": "too late"}) as r:
                assert r.status == 404
            # The switch: no deadline at all.
            sandbox.interaction_deadline = None
            async with anonymous.post(url, json={"type": 5, "data": {"flags": EPHEMERAL}}) as r:
                assert r.status == 204
    finally:
        await sandbox.stop()


async def test_modal_with_a_required_field_cannot_be_submitted_empty(sandbox):
    uid = sandbox.add_user()
    modal = {
        "custom_id": "form",
        "title": "Reason",
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "must", "label": "Must", "style": 2}]},
            {"type": 1, "components": [
                {"type": 4, "custom_id": "may", "label": "May", "style": 2, "required": False, "max_length": 3}
            ]},
        ],
    }
    opened = sandbox.open_interaction(uid, 3, {"custom_id": "ask", "component_type": 2})
    sandbox.interactions[opened["id"]].callbacks.append({"type": 9, "data": modal})
    with pytest.raises(ModalRefused, match="'Must' is required"):
        await sandbox.user_submits_modal(uid, opened, {"may": "ok"})
    with pytest.raises(ModalRefused, match="at most 3"):
        await sandbox.user_submits_modal(uid, opened, {"must": "x", "may": "four"})
    assert len(sandbox.interactions) == 1  # nothing was submitted


async def test_gateway_handshake_zlib_stream_and_close_codes(sandbox):
    url = sandbox.gateway_url + "?v=10&encoding=json&compress=zlib-stream"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            inflator = zlib.decompressobj()
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.BINARY and msg.data.endswith(b"\x00\x00\xff\xff")
            hello = json.loads(inflator.decompress(msg.data))
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send_json({"op": 1, "d": None})
            ack = json.loads(inflator.decompress((await ws.receive()).data))
            assert ack["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": MESSAGE_CONTENT_INTENT}})
            closing = await ws.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4004
        sandbox.message_content_granted = False
        async with session.ws_connect(sandbox.gateway_url) as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": sandbox.token, "intents": MESSAGE_CONTENT_INTENT}})
            closing = await ws.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4014
        async with session.ws_connect(sandbox.gateway_url) as ws:
            await ws.receive_json()
            await ws.send_json({"op": 6, "d": {"token": sandbox.token, "session_id": "nope", "seq": 3}})
            invalid = await ws.receive_json()
            assert invalid["op"] == 9 and invalid["d"] is False


async def test_real_discord_client_logs_in_and_receives_ready(sandbox, monkeypatch):
    monkeypatch.setattr(discord.http.Route, "BASE", sandbox.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(sandbox.gateway_url))
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents)
    connected = asyncio.Event()
    client.event(_set_on_connect(connected))
    runner = asyncio.create_task(client.start(sandbox.token))
    try:
        await asyncio.wait_for(connected.wait(), 10)
        assert client.user is not None and str(client.user.id) == sandbox.application_id
        assert client.application_id == int(sandbox.application_id)
        [identify] = [f for f in sandbox.gateway_frames if f["op"] == 2]
        assert identify["d"]["token"] == sandbox.token
        assert identify["d"]["intents"] & MESSAGE_CONTENT_INTENT
        assert sandbox.gateway_connects[0].get("compress") == "zlib-stream"
        assert [r.path for r in sandbox.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    finally:
        await client.close()
        await runner


def _set_on_connect(event: asyncio.Event):
    async def on_connect() -> None:
        event.set()

    return on_connect


async def test_channel_history_pages_as_discord_documents(sandbox, http):
    room = sandbox.dm_channel_of(sandbox.add_user())
    sandbox.enforce_limits = False
    ids = []
    for i in range(4):
        async with http.post(api(f"/channels/{room}/messages"), json={"content": f"m{i}"}) as resp:
            ids.append((await resp.json())["id"])
    # Ids are time-shaped snowflakes: one built from a moment before the sends precedes them all.
    assert int(ids[0]) >> 22 > 0 and discord.utils.snowflake_time(int(ids[0])).year >= 2024

    async def page(**query: str) -> list[str]:
        async with http.get(api(f"/channels/{room}/messages"), params=query) as resp:
            assert resp.status == 200
            return [m["content"] for m in await resp.json()]

    assert await page() == ["m3", "m2", "m1", "m0"]  # newest first
    assert await page(after=ids[0], limit="2") == ["m2", "m1"]  # the two just after it
    assert await page(before=ids[3], limit="2") == ["m2", "m1"]
    async with http.get(api(f"/channels/{room}/messages"), params={"limit": "101"}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 50035
    async with http.get(api(f"/channels/{room}/messages"), params={"after": ids[0], "before": ids[3]}) as resp:
        assert resp.status == 400  # before, after and around exclude one another
