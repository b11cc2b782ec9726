"""The undocumented discord.py seams the adapter and the tests rely on: fail loudly if an
upgrade removes them (without them the client would dial the real Discord and hang)."""

import importlib.metadata

import discord
import discord.gateway
import discord.http
import pytest
import yarl

from adapters.discord import MAX_RATELIMIT_WAIT, DiscordAdapter
from bridge.ports import PermanentError


def test_discord_py_is_the_pinned_version():
    assert importlib.metadata.version("discord.py") == "2.7.1"


def test_route_base_and_default_gateway_exist_and_are_used():
    assert isinstance(discord.http.Route.BASE, str)
    assert isinstance(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY, yarl.URL)
    original = discord.http.Route.BASE
    try:
        discord.http.Route.BASE = "http://127.0.0.1:9/api/v10"
        route = discord.http.Route("GET", "/users/@me")
        assert route.url == "http://127.0.0.1:9/api/v10/users/@me"  # read at Route construction
    finally:
        discord.http.Route.BASE = original


def test_ratelimit_timeout_knob_exists():
    http = discord.http.HTTPClient(loop=None, max_ratelimit_timeout=MAX_RATELIMIT_WAIT)  # type: ignore[arg-type]
    assert http.max_ratelimit_timeout == MAX_RATELIMIT_WAIT


async def test_adapter_points_discord_py_at_the_sandbox_and_restores_the_seams(sandbox, sink):
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    adapter = DiscordAdapter(
        token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url
    )
    await adapter.start(sink)
    try:
        assert discord.http.Route.BASE == sandbox.api_base
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == sandbox.gateway_url
        assert sandbox.requests[0].path == "/users/@me"
        assert sandbox.gateway_connects  # the gateway was dialled at the sandbox
    finally:
        await adapter.stop()
    assert (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == before


async def test_missing_message_content_grant_fails_start(sandbox, sink):
    sandbox.message_content_granted = False
    adapter = DiscordAdapter(
        token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url
    )
    with pytest.raises(PermanentError, match="discord start failed"):
        await adapter.start(sink)
    await adapter.stop()


async def test_wrong_token_fails_start(sandbox, sink):
    adapter = DiscordAdapter(token="wrong", api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url)
    with pytest.raises(PermanentError):
        await adapter.start(sink)
