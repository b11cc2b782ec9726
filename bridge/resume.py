"""Events journalled by a process that died before finishing them are handled, each in its
person's turn in the inbound runner (before what they send after the restart): at start on
one process; with replicas, by the one elected for it as soon as the dead one's heartbeat
stops (``watch``).

A chat message may have reached Pluto just before the crash (Moodle does not de-duplicate
sends), so before sending it again the conversation (a private one, or a linked room's
group) is read for a message from that person with the same text since the event arrived;
it is sent only if absent. What the person would have been answered goes out through the
outbox, paced like any delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.inbound import Inbound
from bridge.inbound.relay import Relay
from bridge.inbound.runner import Runner
from bridge.journal import event_from_json
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.model import ChatEvent, MessageEvent
from bridge.router import notice
from bridge.store.records import Link
from bridge.store.store import Store

log = logging.getLogger(__name__)


class Resumer:
    """Finishes unfinished inbound events, oldest first."""

    def __init__(
        self,
        store: Store,
        inbound: Inbound,
        relay: Relay,
        wake_dispatcher: Callable[[], None] = lambda: None,
        runner: Runner | None = None,
    ) -> None:
        self.runner = runner or Runner(inbound)
        self.store = store
        self.inbound = inbound
        self.relay = relay
        self.wake_dispatcher = wake_dispatcher

    async def run(self, pending: list[tuple[dict[str, Any], float]], retry: float = 5.0) -> None:
        """Handle each event; while Pluto cannot be reached, wait and try again."""
        await asyncio.gather(*self.queue(pending, retry))

    def queue(self, pending: list[tuple[dict[str, Any], float]], retry: float = 5.0) -> list[asyncio.Task[None]]:
        """Queue each event in its person's turn in the runner at once (called before the
        adapters start, so what a person sends now waits for what they sent before the
        crash); people go ahead in parallel. Returns the tasks handling them."""
        tasks = []
        for data, since in pending:
            try:
                event = event_from_json(data)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("journalled event cannot be read, skipped: %s", exc)
                continue
            tasks.append(self.runner.resume(event.identity, functools.partial(self._patiently, event, since, retry)))
        return tasks

    async def _patiently(self, event: ChatEvent, since: float, retry: float) -> None:
        while True:
            try:
                await self._one(event, since)
                return
            except (LmsUnavailable, LmsError) as exc:
                log.warning("resuming %s event %s: %s; trying again", event.identity, event.event_id, exc)
                await asyncio.sleep(retry)
            except Exception:
                log.exception("resuming %s event %s failed", event.identity, event.event_id)
                return

    async def watch(self, live: Callable[[], Awaitable[list[str]]], every: float) -> None:
        """With replicas (the singleton "resume"): every ``every`` seconds, finish the
        events of replicas no longer alive (each claimed by this one first)."""
        while True:
            await self.run(await self.store.claim_unfinished(await live()))
            await asyncio.sleep(every)

    async def _one(self, event: ChatEvent, since: float) -> None:
        platform = event.identity.platform
        link = await self.store.link_for(event.identity)
        if (
            isinstance(event, MessageEvent)
            and link is not None
            and link.active
            and await self._arrived(link, event, since)
        ):
            log.info("resumed event %s had reached Pluto before the restart: not sent again", event.event_id)
            await self.store.finish_event(platform, event.event_id)
            return
        answer = await self.inbound.handle(event)
        await self.store.finish_event(platform, event.event_id, keep=answer is not None and answer.keep_event)
        log.info("resumed %s event %s from before the restart", platform.value, event.event_id)
        if answer is not None and link is not None:
            delivery = notice(link, answer.html)
            delivery.payload["actions"] = [dataclasses.asdict(a) for a in answer.actions]
            await self.store.enqueue([delivery])
            self.wake_dispatcher()

    async def _arrived(self, link: Link, event: MessageEvent, since: float) -> bool:
        """Whether the message reached Pluto before the crash (a room's is then recorded as
        that room's echo: it is not posted back into it)."""
        if event.is_private:
            return await self.relay.arrived(link, event, since)
        rooms = self.inbound.rooms
        return rooms is not None and await rooms.arrived(event, since)
