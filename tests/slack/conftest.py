"""Fixtures for the Slack tests: the sandbox Slack, a recording sink, and the adapter wired
to both, in HTTP mode (Bolt behind an aiohttp test server) or Socket Mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.slack import SlackAdapter
from bridge.model import ChatEvent, Reply
from bridge.ports import EventSink
from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack

from .e2e_support import SlackChat, new_sandbox, slack_config

SECRET = "test-signing-secret"
T1, T2 = "T0ONE", "T0TWO"
TOKENS = {T1: "xoxb-team-one", T2: "xoxb-team-two"}
SAM, ALEX, KIM = "U0SAM", "U0ALEX", "U0KIM"  # Sam and Alex in T1, Kim in T2


@dataclass
class RecordingSink:
    """The core's stand-in: records every event and answers with ``reply``."""

    events: list[ChatEvent] = field(default_factory=list)
    reply: Reply | None = None
    gate: asyncio.Event | None = None  # when set, each call waits for it before answering
    finished: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, event: ChatEvent) -> Reply | None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()
        if self.gate is not None:
            await self.gate.wait()
        self.finished += 1
        return self.reply

    async def wait(self, count: int = 1) -> list[ChatEvent]:
        """Wait until ``count`` events arrived (bounded, so a broken adapter fails the test)."""
        async with asyncio.timeout(30):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.events) >= count)
        return self.events


async def until(check: Callable[[], object]) -> None:
    """Wait (bounded) until ``check()`` is truthy: for work that happens after an ack."""
    async with asyncio.timeout(30):
        while not check():  # noqa: ASYNC110 - the sandbox records into plain lists
            await asyncio.sleep(0.01)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxSlack]:
    sb = SandboxSlack(signing_secret=SECRET, enforce_limits=False)
    sb.add_team(T1, TOKENS[T1], name="one")
    sb.add_team(T2, TOKENS[T2], name="two")
    sb.add_user(T1, SAM, "sam", display_name="Sam", real_name="Sam Smith", email="sam@example.org")
    sb.add_user(T1, ALEX, "alex", real_name="Alex Doe", email="alex@example.org")
    sb.add_user(T2, KIM, "kim", display_name="Kim K", email="kim@example.org")
    sb.add_channel(T1, "C0GENERAL", "general")
    await sb.start()
    yield sb
    await sb.stop()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture(params=["http", "socket"])
async def bridge(
    request: pytest.FixtureRequest, sandbox: SandboxSlack, sink: RecordingSink
) -> AsyncIterator[SlackAdapter]:
    """The adapter started against the sandbox, in each mode."""
    adapter = await start_adapter(request.param, sandbox, sink)
    yield adapter
    await stop_adapter(adapter)


@pytest.fixture
async def http_bridge(sandbox: SandboxSlack, sink: RecordingSink) -> AsyncIterator[SlackAdapter]:
    """The adapter in HTTP mode only (signatures are an HTTP-mode matter)."""
    adapter = await start_adapter("http", sandbox, sink)
    yield adapter
    await stop_adapter(adapter)


_servers: dict[int, TestServer] = {}


async def start_adapter(mode: str, sandbox: SandboxSlack, sink: EventSink) -> SlackAdapter:
    """A SlackAdapter on the sandbox, started with ``sink``, in ``mode``."""
    adapter = SlackAdapter(
        workspaces=TOKENS,
        signing_secret=SECRET,
        mode="socket" if mode == "socket" else "http",
        app_token=sandbox.app_token if mode == "socket" else None,
        api_base_url=sandbox.api_url,
    )
    if mode == "http":
        app = web.Application()
        app.add_routes(adapter.web_routes())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        _servers[id(adapter)] = server
        sandbox.bridge_url = str(server.make_url(adapter.events_path))
    else:
        sandbox.push_mode = "socket"
    await adapter.start(sink)
    if mode == "socket":
        await sandbox.wait_socket()
    return adapter


async def stop_adapter(adapter: SlackAdapter) -> None:
    """Stop an adapter from ``start_adapter`` and its HTTP server."""
    await adapter.stop()
    server = _servers.pop(id(adapter), None)
    if server is not None:
        await server.close()


# --- end to end: the real bridge process (see e2e_support.py) ------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[SandboxSlack]:
    """The sandbox Slack at its real limits, two workspaces (e2e_support.new_sandbox)."""
    sandbox = new_sandbox()
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@pytest.fixture
def slack_mode() -> str:
    """How the bridge takes Slack events; test_e2e_socket.py overrides it with "socket"."""
    return "http"


@pytest.fixture
async def chat(
    slack_mode: str, lms: SandboxLMS, seed: DemoSeed, slack: SandboxSlack, tmp_path: Path
) -> AsyncIterator[SlackChat]:
    """The bridge process with only Slack enabled, started and ready for events."""
    config, port = slack_config(tmp_path, lms.url, slack, slack_mode)
    running = await SlackChat.start(slack, config, port, slack_mode)
    try:
        yield running
    finally:
        await running.stop()
