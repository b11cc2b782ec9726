"""Unauthenticated malformed requests to the Slack endpoint are the client's mistake: 4xx,
never a 500, and nothing reaches the core (issue 13, item 6)."""

from __future__ import annotations

import time

import aiohttp
import pytest

from adapters.slack import SlackAdapter
from sandbox.slack import SandboxSlack, sign
from tests.platforms.slack.conftest import RecordingSink

CASES = {
    "non-numeric timestamp": ("abc", b'{"type": "event_callback"}', "application/json", True),
    "malformed JSON, signed": (None, b'{"type": "event_callback",', "application/json", True),
    "malformed JSON, unsigned": (None, b'{"type": ', "application/json", False),
    "a JSON list": (None, b"[]", "application/json", True),
    "non-UTF-8 body": (None, b"\xff\xfe\xfa", "application/x-www-form-urlencoded", True),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_malformed_request_is_a_400(
    http_bridge: SlackAdapter, sandbox: SandboxSlack, sink: RecordingSink, case: str
) -> None:
    stamp, body, content_type, signed = CASES[case]
    timestamp = stamp or str(int(time.time()))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp}
    if signed:
        headers["X-Slack-Signature"] = sign(sandbox.signing_secret, timestamp, body)
    assert sandbox.bridge_url is not None
    async with aiohttp.ClientSession() as http, http.post(sandbox.bridge_url, data=body, headers=headers) as resp:
        assert 400 <= resp.status < 500, (resp.status, await resp.text())
    assert sink.events == []
