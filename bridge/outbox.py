"""The dispatcher: delivers the durable outbox, lane by lane.

Each lane (one person's chat on one platform) has its own worker, so a throttled or
failing destination never holds up the others. Within a lane deliveries go strictly in
order. Pacing comes from the adapter's declared ``Capabilities`` (aiolimiter leaky
buckets per room and per platform). Chunks already acknowledged are recorded before the
next one goes, so a retry or a restart never sends them twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiolimiter import AsyncLimiter

from adapters.base import Adapter, PermanentError, RateLimited, RecipientUnreachable, TransientError
from bridge.config import OutboxSettings
from bridge.log_format import link_context
from bridge.metrics import Metrics
from bridge.model import ItemKind, Pace, Platform, Post, SentRef
from bridge.render import render, to_plain
from bridge.router import actions_of
from bridge.store.records import Delivery, Link, MapEntry
from bridge.store.store import Store

log = logging.getLogger(__name__)

LANE_BATCH = 50  # deliveries read per query; each is still sent strictly in order
EMPTY_ITEM = "<p><i>(no text: open it in Pluto)</i></p>"

UnreachableHook = Callable[[Link, str], Awaitable[None]]
DeadHook = Callable[[Link, Delivery, str], Awaitable[None]]  # a delivery was given up, and why


def _limiters(paces: tuple[Pace, ...]) -> list[AsyncLimiter]:
    return [AsyncLimiter(p.count, p.seconds) for p in paces]


def render_post(payload: Mapping[str, Any], adapter: Adapter) -> list[Post]:
    """The payload as the adapter's posts: rendered, cut to its limit, buttons on the last."""
    caps = adapter.capabilities
    html = str(payload["html"])
    # An item with no visible text (an image without alt text, say) still shows up.
    chunks = render(html, caps.markup, caps.max_text, caps.measure) or render(
        EMPTY_ITEM, caps.markup, caps.max_text, caps.measure
    )
    fallback = to_plain(html)
    actions = actions_of(payload)[: caps.max_actions]
    posts = [Post(text=chunk, fallback=fallback if len(chunks) == 1 else "") for chunk in chunks]
    posts[-1] = Post(text=posts[-1].text, fallback=posts[-1].fallback, actions=actions)
    return posts


class Dispatcher:
    """Sends pending deliveries through the adapters."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[Platform, Adapter],
        settings: OutboxSettings,
        on_unreachable: UnreachableHook | None = None,
        metrics: Metrics | None = None,
        on_dead: DeadHook | None = None,
    ) -> None:
        self.on_dead = on_dead
        self.metrics = metrics or Metrics()
        self.store = store
        self.adapters = dict(adapters)
        self.settings = settings
        self.on_unreachable = on_unreachable
        self._wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._room_limits: dict[str, list[AsyncLimiter]] = {}
        self._overall = {p: _limiters(a.capabilities.overall) for p, a in self.adapters.items()}
        self._paused_until: dict[Platform, float] = {}  # monotonic time a platform-wide 429 ends
        self._throttled: dict[str, int] = {}  # lane -> 429s in a row
        self._stopping = False

    def wake(self) -> None:
        """New deliveries were queued: look for work now rather than at the next tick."""
        self._wake.set()

    async def run(self, tick: float = 1.0) -> None:
        """Start a worker for every lane with pending work, until cancelled."""
        try:
            while not self._stopping:
                for platform, lane in await self.store.pending_lanes():
                    if lane not in self._lanes and Platform(platform) in self.adapters:
                        self._lanes[lane] = asyncio.create_task(self._drain(lane), name=f"lane {lane}")
                        self._lanes[lane].add_done_callback(self._lane_done)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), tick)
                except TimeoutError:
                    pass
        finally:
            await self.stop()

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        for lane, running in list(self._lanes.items()):
            if running is task:
                del self._lanes[lane]
        if not task.cancelled() and task.exception() is not None:
            log.error("lane worker failed", exc_info=task.exception())

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._lanes.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, lane: str) -> None:
        while not self._stopping:
            batch = await self.store.lane_batch(lane, LANE_BATCH)
            if not batch:
                return
            for delivery in batch:
                delay = delivery.next_attempt_at - time.time()
                if delay > 0:
                    # Waiting keeps the lane's order; other lanes have their own workers.
                    await asyncio.sleep(min(delay, 5.0))
                    break  # re-read: the row may have changed meanwhile
                if not await self._attempt(delivery):
                    break  # not sent: re-read before going on, so the order holds

    async def _attempt(self, delivery: Delivery) -> bool:
        """Try one delivery; True when it left the pending state (sent or dead)."""
        adapter = self.adapters[delivery.platform]
        link = await self.store.link_by_id(delivery.link_id)
        if link is None:
            await self.store.mark_dead(delivery.id, "the chat link was removed")
            return True
        if link.status == "inactive":
            await self.store.mark_dead(delivery.id, f"recipient unreachable: {link.status_reason}")
            return True
        outcomes = self.metrics.deliveries
        platform = delivery.platform.value
        try:
            await self._send(adapter, link, delivery)
            outcomes.labels(platform, "sent").inc()
            lms_time = delivery.payload.get("lms_time")
            if isinstance(lms_time, int | float) and lms_time > 0:
                self.metrics.delivery_latency.labels(platform).observe(max(0.0, time.time() - lms_time))
            self._throttled.pop(delivery.lane, None)
            return True
        except RateLimited as exc:
            outcomes.labels(platform, "rate_limited").inc()
            throttled = self._throttled[delivery.lane] = self._throttled.get(delivery.lane, 0) + 1
            wait = exc.wait(throttled)
            if not exc.given:  # the adapter's guess, doubled while the room stays throttled: capped
                wait = min(self.settings.backoff_max, wait)
            if exc.scope_all:
                # The whole bot is over the platform's limit: every lane of it waits.
                resume = time.monotonic() + exc.retry_after
                self._paused_until[delivery.platform] = max(self._paused_until.get(delivery.platform, 0.0), resume)
                log.warning("%s: every send paused for %.1fs (platform-wide rate limit)", platform, exc.retry_after)
            log.info("lane %s rate limited for %.1fs", delivery.lane, wait)
            await self.store.reschedule(
                delivery.id,
                at=time.time() + wait,
                error=f"rate limited: {exc.reason}",
                count_attempt=False,
            )
            return False
        except RecipientUnreachable as exc:
            outcomes.labels(platform, "dead").inc()
            log.warning("link %s unreachable: %s", link.identity, exc.reason, extra=link_context(link))
            await self.store.mark_dead(delivery.id, f"recipient unreachable: {exc.reason}")
            await self.store.set_link_status(link.id, "inactive", exc.reason)
            if self.on_unreachable is not None:
                await self.on_unreachable(link, exc.reason)
            return True
        except PermanentError as exc:
            outcomes.labels(platform, "dead").inc()
            log.warning(
                "delivery %s (%s) failed for good: %s", delivery.id, delivery.item_key, exc.reason,
                extra=link_context(link),
            )
            await self.store.mark_dead(delivery.id, exc.reason)
            if self.on_dead is not None:
                await self.on_dead(link, delivery, exc.reason)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # transient by default: timeouts, 5xx, unknown SDK errors
            attempts = delivery.attempts + 1
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            outcomes.labels(platform, "dead" if attempts >= self.settings.max_attempts else "retry").inc()
            if attempts >= self.settings.max_attempts:
                log.warning(
                    "delivery %s dead after %d attempts: %s", delivery.id, attempts, reason, extra=link_context(link)
                )
                await self.store.mark_dead(delivery.id, f"gave up after {attempts} attempts: {reason}")
                if self.on_dead is not None:
                    await self.on_dead(link, delivery, reason)
                return True
            backoff = min(self.settings.backoff_max, self.settings.backoff_initial * 2 ** (attempts - 1))
            backoff *= random.uniform(0.5, 1.0)  # jitter: do not retry in lock-step
            if isinstance(exc, TransientError):
                backoff = max(backoff, exc.retry_after)  # at least what the platform asked for
            await self.store.reschedule(delivery.id, at=time.time() + backoff, error=reason, count_attempt=True)
            return False

    async def _paced(self, delivery: Delivery) -> None:
        adapter = self.adapters[delivery.platform]
        pause = self._paused_until.get(delivery.platform, 0.0) - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        room_limits = self._room_limits.setdefault(delivery.lane, _limiters(adapter.capabilities.per_room))
        for limiter in (*room_limits, *self._overall[delivery.platform]):
            await limiter.acquire()

    async def _edit(self, adapter: Adapter, link: Link, delivery: Delivery) -> None:
        """Update the copies of an earlier delivery (an item handled: buttons retired)."""
        target = await self.store.delivery_by_id(int(delivery.payload["target"]))
        if target is None or not target.refs:
            await self.store.mark_sent(delivery, [], [])
            return
        # An item handled retires its buttons; an item upgraded (alert to task) carries new ones.
        actions = delivery.payload.get("actions") or []
        posts = render_post({"html": delivery.payload["html"], "actions": actions}, adapter)
        if not adapter.capabilities.edits:
            # The platform cannot change a sent message: the outcome follows as a new one.
            for post in posts:
                await self._paced(delivery)
                await adapter.send(link.destination, post)
            await self.store.mark_sent(delivery, [], [])
            return
        refs = target.refs
        # The buttons sit on the last chunk; when the chunking still matches, update each.
        pairs = list(zip(refs, posts, strict=False)) if len(posts) == len(refs) else [(refs[-1], posts[-1])]
        for ref, post in pairs:
            await self._paced(delivery)
            await adapter.edit(link.destination, SentRef(ref["room"], ref["message_id"], ref.get("thread")), post)
        await self.store.mark_sent(delivery, [], [])

    async def _send(self, adapter: Adapter, link: Link, delivery: Delivery) -> None:
        payload = delivery.payload
        if payload.get("kind") == "edit":
            await self._edit(adapter, link, delivery)
            return
        conversation_id = payload.get("conversation_id")
        thread = None
        if adapter.capabilities.threads and conversation_id is not None:
            thread = await self.store.thread_of(link.id, int(conversation_id))
        try:
            posts = render_post(payload, adapter)
        except Exception as exc:  # the renderers are total; should one still fail, only this item is lost
            log.exception("delivery %s (%s) could not be rendered", delivery.id, delivery.item_key)
            raise PermanentError(f"could not be rendered: {type(exc).__name__}: {exc}") from exc
        current = (int(conversation_id) if conversation_id is not None else None, payload.get("peer_id"))
        if (
            payload.get("kind") == ItemKind.MESSAGE.value
            and conversation_id is not None
            and not delivery.refs
            and current != (link.current_conversation_id, link.current_peer_id)
        ):
            # Before the send: the person may answer the moment it shows up.
            await self.store.set_current(link.id, int(conversation_id), payload.get("peer_id"))
        refs = list(delivery.refs)
        dest = link.destination
        for post in posts[len(refs) :]:
            await self._paced(delivery)
            if thread is not None:
                post = Post(post.text, post.fallback, post.actions, post.reply_to, thread)
            ref = await adapter.send(dest, post)
            refs.append({"room": ref.room, "message_id": ref.message_id, "thread": ref.thread})
            if len(refs) < len(posts):  # more to come: a retry must not resend this one
                await self.store.record_part(delivery.id, refs)
        entries = [
            MapEntry(
                delivery.item_key,
                link.id,
                link.lms_user_id,
                int(conversation_id) if conversation_id is not None else None,
                link.identity.platform,
                link.identity.workspace,
                r["room"],
                r["message_id"],
                r["thread"],
            )
            for r in refs
        ]
        await self.store.mark_sent(delivery, refs, entries)
        first = SentRef(refs[0]["room"], refs[0]["message_id"], refs[0]["thread"])
        if adapter.capabilities.threads and conversation_id is not None and thread is None:
            await self.store.set_thread(link.id, int(conversation_id), first.message_id)
        if link.room != first.room:
            await self.store.set_link_room(link.id, first.room)
