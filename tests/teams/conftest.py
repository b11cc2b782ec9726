"""Fixtures for the Teams adapter tests: the sandbox Bot Connector and a bot served on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.teams import TeamsAdapter
from bridge.model import ChatEvent, Reply
from sandbox.teams import SandboxTeams


@dataclass
class RecordingSink:
    """The core's stand-in: records events, answers with ``reply_for(event)``."""

    reply_for: Callable[[ChatEvent], Reply | None] = lambda _e: None
    events: list[ChatEvent] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, event: ChatEvent) -> Reply | None:
        async with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()
        return self.reply_for(event)

    async def wait_for(self, count: int = 1, limit: float = 10.0) -> list[ChatEvent]:
        """Wait until ``count`` events arrived (bounded so a bug fails, not hangs)."""
        async with asyncio.timeout(limit), self._arrived:
            await self._arrived.wait_for(lambda: len(self.events) >= count)
        return self.events


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxTeams]:
    sb = SandboxTeams(enforce_limits=False)
    await sb.start()
    yield sb
    await sb.stop()


def make_adapter(sb: SandboxTeams) -> TeamsAdapter:
    """An adapter pointed at the sandbox (token endpoint + JWKS; serviceUrl comes from activities)."""
    return TeamsAdapter(
        app_id=sb.app_id,
        app_password=sb.app_password,
        tenant_id=sb.tenant_id,
        token_endpoint=sb.token_endpoint,
        jwks_url=sb.jwks_url,
        service_url=sb.service_url,
        timeout=10.0,
    )


@dataclass
class Bot:
    adapter: TeamsAdapter
    sink: RecordingSink
    server: TestServer


@pytest.fixture
async def bot(sandbox: SandboxTeams) -> AsyncIterator[Bot]:
    adapter = make_adapter(sandbox)
    app = web.Application()
    app.add_routes(adapter.web_routes())
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    sink = RecordingSink()
    await adapter.start(sink)
    sandbox.bot_endpoint = str(server.make_url("/api/messages"))
    yield Bot(adapter, sink, server)
    await adapter.stop()
    await adapter.stop()  # safe twice
    await server.close()
