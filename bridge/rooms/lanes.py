"""Room posts from the outbox: each room is one lane, in order, paced by the platform's
room limits (``Capabilities.room_pace``, else ``per_room``), with the author's name.

The dispatcher hands every delivery whose ``link_id`` names a room link here. A room the
bot cannot post into any more pauses its link; the room's posts wait, uncounted as
failures, and go when the room is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager

from bridge.config import OutboxSettings
from bridge.model import Platform
from bridge.ports import Adapter, PermanentError, RateLimited, RoomUnavailable
from bridge.posts import map_entries, render_post
from bridge.retry import RetryPolicy
from bridge.store.leases import Fence
from bridge.store.records import Delivery, RoomLink, RoomStatus
from bridge.store.store import Store

log = logging.getLogger(__name__)

PAUSED_RECHECK = 5.0  # seconds between two looks at a paused room's lane
AUTHOR_ROOM = 300  # of a post's length, kept for the author's name a platform puts on top

Paced = Callable[[Platform, str], AbstractAsyncContextManager[None]]
Pauser = Callable[[RoomLink, str], Awaitable[None]]


class RoomLanes:
    """Sends room deliveries; answers like ``Dispatcher._attempt``: True when the delivery
    left the queue (sent or dead), False when it waits (the lane re-reads before going on)."""

    def __init__(
        self, store: Store, adapters: Mapping[Platform, Adapter], settings: OutboxSettings, pause: Pauser
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.settings = settings
        self.policy = RetryPolicy(settings.give_up_after, settings.backoff_initial, settings.backoff_max)
        self.pause = pause

    async def attempt(self, delivery: Delivery, paced: Paced, fence: Fence | None = None) -> bool:
        """Try one room delivery; ``fence``: the room lane's lease, as for a person's lane (its
        marks raise ``LeaseLost`` once another replica holds it, so one replica posts)."""
        assert delivery.room_link_id is not None
        rl = await self.store.room_link_by_id(delivery.room_link_id)
        if rl is None or rl.status not in (RoomStatus.ACTIVE, RoomStatus.PAUSED):
            await self.store.mark_dead(delivery.id, "the room was unlinked", fence)
            return True
        if rl.status is RoomStatus.PAUSED:
            await self.store.postpone(delivery.id, time.time() + PAUSED_RECHECK, f"room paused: {rl.reason}", fence)
            return False
        adapter = self.adapters[delivery.platform]
        try:
            await self._send(adapter, rl, delivery, paced, fence)
            return True
        except RoomUnavailable as exc:
            await self.pause(rl, exc.reason)
            await self.store.postpone(delivery.id, time.time() + PAUSED_RECHECK, f"room paused: {exc.reason}", fence)
            return False
        except RateLimited as exc:
            await self.store.reschedule(
                delivery.id,
                at=time.time() + exc.wait(1),
                error=f"rate limited: {exc.reason}",
                count_attempt=False,
                fence=fence,
            )
            return False
        except PermanentError as exc:
            log.warning("room post %s to %s failed for good: %s", delivery.id, rl.room, exc.reason)
            await self.store.mark_dead(delivery.id, exc.reason, fence)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # transient by default, as for private chats
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            if self.policy.out_of_time(delivery.failing_since):
                await self.store.mark_dead(delivery.id, f"gave up: {reason}", fence)
                return True
            backoff = self.policy.backoff(delivery.attempts + 1, exc)
            await self.store.reschedule(
                delivery.id, at=time.time() + backoff, error=reason, count_attempt=True, fence=fence
            )
            return False

    async def _send(
        self, adapter: Adapter, rl: RoomLink, delivery: Delivery, paced: Paced, fence: Fence | None
    ) -> None:
        posts = render_post(delivery.payload, adapter, AUTHOR_ROOM)
        author = str(delivery.payload.get("author") or "")
        refs = list(delivery.refs)
        for post in posts[len(refs) :]:
            async with paced(delivery.platform, delivery.lane):
                if not await self.store.mark_sending(delivery.id, fence):
                    return  # dropped meanwhile (the room was unlinked)
                ref = await adapter.send_to_room(rl.room, post, author)
            refs.append({"room": ref.room, "message_id": ref.message_id, "thread": ref.thread})
            if len(refs) < len(posts):
                await self.store.record_part(delivery.id, refs, fence)
        entries = map_entries(delivery, 0, rl.room.platform, rl.room.workspace, refs)
        await self.store.mark_sent(delivery, refs, entries, fence)
