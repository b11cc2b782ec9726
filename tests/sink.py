"""The core's stand-in for adapter tests: one recording sink for every platform."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.model import ChatEvent, Reply


@dataclass
class RecordingSink:
    """Records every event the adapter hands the core and answers ``reply`` when set, else
    ``reply_for(event)``. With ``gate`` set, each call holds until it opens (a slow core)."""

    reply_for: Callable[[ChatEvent], Reply | None] = lambda _event: None
    reply: Reply | None = None
    events: list[ChatEvent] = field(default_factory=list)
    gate: asyncio.Event | None = None
    finished: int = 0  # calls that have returned their answer
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, event: ChatEvent) -> Reply | None:
        async with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()
        if self.gate is not None:
            await self.gate.wait()
        self.finished += 1
        return self.reply if self.reply is not None else self.reply_for(event)

    async def wait_for(self, count: int = 1, within: float = 30.0, *, limit: float | None = None) -> list[ChatEvent]:
        """Wait until at least ``count`` events arrived (bounded, so a broken adapter fails
        the test instead of hanging it); returns them all. ``limit`` is ``within``'s old name."""
        async with asyncio.timeout(limit if limit is not None else within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.events) >= count)
        return self.events

    async def wait(self, count: int = 1) -> list[ChatEvent]:
        """``wait_for`` under the name the Slack tests use."""
        return await self.wait_for(count)
