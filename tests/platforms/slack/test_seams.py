"""Fail loudly if the SDK seams these tests (and the adapter) rely on change: an upgrade
must not silently start talking to slack.com or drop retry/redirection behaviour."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from slack_bolt.adapter import aiohttp as bolt_aiohttp
from slack_bolt.adapter.socket_mode import internals as socket_internals
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import SlackAdapter

from .conftest import SECRET, TOKENS


def test_pinned_versions() -> None:
    assert version("slack-bolt") == "1.30.0"
    assert version("slack-sdk") == "3.47.0"


def test_bolt_aiohttp_adapter_functions_exist() -> None:
    assert callable(bolt_aiohttp.to_bolt_request)
    assert callable(bolt_aiohttp.to_aiohttp_response)
    assert "authorize" in inspect.signature(AsyncApp.__init__).parameters


async def test_every_client_the_adapter_builds_points_at_the_given_base_url() -> None:
    base = "http://127.0.0.1:9/api/"
    adapter = SlackAdapter(
        workspaces=TOKENS, signing_secret=SECRET, mode="socket", app_token="xapp-1", api_base_url=base
    )
    assert adapter.app.client.base_url == base
    assert {c.base_url for c in adapter._clients.values()} == {base}
    # per-request clients copy the app client's base_url (AsyncApp._init_context)
    assert "base_url=self._async_client.base_url" in inspect.getsource(AsyncApp._init_context)
    # Socket Mode opens its connection through app.client (hence the same base_url)
    handler = AsyncSocketModeHandler(adapter.app, "xapp-1")
    try:
        assert handler.client.web_client is adapter.app.client
    finally:
        await handler.close_async()


def test_socket_mode_mirrors_retry_headers() -> None:
    req = SocketModeRequest(
        type="events_api", envelope_id="e1", payload={}, retry_attempt=2, retry_reason="timeout"
    )
    assert socket_internals.build_headers(req) == {
        "x-slack-retry-num": "2",
        "x-slack-retry-reason": "timeout",
    }


def test_sdk_does_not_retry_429_by_itself() -> None:
    adapter = SlackAdapter(workspaces=TOKENS, signing_secret=SECRET)
    for client in [adapter.app.client, *adapter._clients.values()]:
        assert isinstance(client, AsyncWebClient)
        assert not any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in client.retry_handlers)
