"""Fixtures for the Discord tests: the sandbox, a recording sink and a started adapter."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from adapters.discord import DiscordAdapter
from bridge.model import ChatEvent, Reply
from sandbox.discord import SandboxDiscord


@dataclass
class RecordingSink:
    """The core's stand-in: records every event and answers with ``reply_for(event)``."""

    events: list[ChatEvent] = field(default_factory=list)
    reply_for: Callable[[ChatEvent], Reply | None] = lambda event: None

    async def __call__(self, event: ChatEvent) -> Reply | None:
        self.events.append(event)
        return self.reply_for(event)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxDiscord]:
    sb = SandboxDiscord()
    await sb.start()
    yield sb
    await sb.stop()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def adapter(sandbox: SandboxDiscord, sink: RecordingSink) -> AsyncIterator[DiscordAdapter]:
    ad = DiscordAdapter(token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url)
    await ad.start(sink)
    yield ad
    await ad.stop()
