"""The dispatcher: delivers the durable outbox, lane by lane.

Each lane (one person's chat on one platform) has its own worker, so a throttled or
failing destination never holds up the others. Within a lane deliveries go strictly in
order. Pacing comes from the adapter's declared ``Capabilities`` (sliding windows per
room and per platform, ``bridge.pacing``). Chunks already acknowledged are recorded before the
next one goes, so a retry or a restart never sends them twice.

With several replicas on one database (issue 20) a lane is sent by the replica holding its
lease (``bridge.leases``): taken when the lane has work, renewed while it is sent, and
every mark written under it is checked against its fencing token. A dead replica's lanes
are taken over once their leases expire, and their deliveries left "sending" are settled
by the new holder (``recover``) before it sends anything else of the lane.

Transient failures (429, 5xx, time-outs) are retried with back-off for up to
``outbox.give_up_after`` seconds from the first failure in a row, however many tries that
takes; permanent ones fail at once. A delivery that dies is told to its person: a notice
in the same lane ("1 message from Maya could not be delivered", Open in Pluto).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bridge.config import OutboxSettings
from bridge.leases import Leases, SoleLeases
from bridge.log_format import link_context
from bridge.metrics import Metrics
from bridge.model import ChatIdentity, ItemKind, Platform, Post, SentRef
from bridge.pacing import SlidingWindow, turn, windows
from bridge.ports import (
    Adapter,
    DeliveryError,
    PermanentError,
    RateLimited,
    RecipientUnreachable,
)
from bridge.posts import map_entries, render_post
from bridge.retry import AnswerDelivery, RetryPolicy
from bridge.router import lane_of, told_unshowable
from bridge.store.leases import Fence, LeaseLost
from bridge.store.records import Delivery, DeliveryStatus, Link, LinkStatus
from bridge.store.store import Store

if TYPE_CHECKING:
    from bridge.rooms.lanes import RoomLanes

log = logging.getLogger(__name__)

LANE_LEASE = "lane:"  # a lane's lease is named after it
LANE_BATCH = 50  # deliveries read per query; each is still sent strictly in order

UnreachableHook = Callable[[Link, str], Awaitable[None]]


class Dropped(Exception):
    """The delivery left the queue while it waited for its turn (its person unlinked, or
    their chat became unreachable): it is not sent."""


class Dispatcher:
    """Sends pending deliveries through the adapters."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[Platform, Adapter],
        settings: OutboxSettings,
        on_unreachable: UnreachableHook | None = None,
        metrics: Metrics | None = None,
        lms_url: str | None = None,
        rooms: RoomLanes | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.rooms = rooms  # room posts (bridge.rooms.lanes): deliveries whose link_id names a room link
        self.store = store
        self.leases = leases or SoleLeases(store, "local", 0)
        self._standby: set[Platform] = set()  # platforms another replica runs (singletons)
        self.adapters = dict(adapters)
        self.settings = settings
        self.policy = RetryPolicy(settings.give_up_after, settings.backoff_initial, settings.backoff_max)
        self.on_unreachable = on_unreachable
        self.lms_url = lms_url
        self._wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._room_limits: dict[str, list[SlidingWindow]] = {}
        self._overall = {p: windows(a.capabilities.overall) for p, a in self.adapters.items()}
        self._paused_until: dict[Platform, float] = {}  # monotonic time a platform-wide 429 ends
        self._throttled: dict[str, int] = {}  # lane -> 429s in a row
        self._stopping = False
        self._in_flight: set[asyncio.Task[Any]] = set()  # lanes between "sending" and "sent"

    def standby(self, platform: Platform, standing_by: bool = True) -> None:
        """Leave the platform's lanes to the replica running its adapter (a singleton
        connection elected elsewhere), or take them up again."""
        if standing_by:
            self._standby.add(platform)
        else:
            self._standby.discard(platform)
        self.wake()

    def wake(self) -> None:
        """New deliveries were queued: look for work now rather than at the next tick."""
        self._wake.set()

    async def run(self, tick: float = 1.0) -> None:
        """Settle sends a crash interrupted, then start a worker for every lane with pending
        work, until cancelled."""
        sole = self.leases.sole
        try:
            if sole:  # the only process: every lane's unrecorded sends are its own to settle
                await self.recover()
            while not self._stopping:
                lanes = await self.store.pending_lanes(sending=not sole)
                elsewhere = await self.leases.others(LANE_LEASE) if lanes else set()
                for platform, lane in lanes:
                    if lane in self._lanes or f"{LANE_LEASE}{lane}" in elsewhere:
                        continue
                    if Platform(platform) not in self.adapters or Platform(platform) in self._standby:
                        continue
                    fence = await self.leases.acquire(f"{LANE_LEASE}{lane}")
                    if fence is None:
                        continue  # another replica took it since
                    self._lanes[lane] = asyncio.create_task(self._drain(lane, fence), name=f"lane {lane}")
                    self._lanes[lane].add_done_callback(self._lane_done)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), tick)
                except TimeoutError:
                    pass
        finally:
            await self.stop()

    async def recover(self, lane: str | None = None, fence: Fence | None = None) -> None:
        """Deliveries left "sending" by a process that died (of every lane, or of ``lane``
        whose lease ``fence`` this replica has just taken): recorded as sent when the
        platform shows them arrived, else queued again (counted: a possible duplicate)."""
        for delivery in await self.store.deliveries(status=DeliveryStatus.SENDING, lane=lane):
            adapter = self.adapters.get(delivery.platform)
            link = await self.store.link_by_id(delivery.link_id)
            if adapter is None or link is None:
                await self.store.requeue(delivery.id, fence=fence)  # decided when it is attempted
                continue
            refs = list(delivery.refs)
            found: SentRef | None = None
            if delivery.payload.get("kind") != "edit":  # an edit is the same when repeated
                posts, thread = await self._posts(adapter, link, delivery)
                post = posts[len(refs)] if len(refs) < len(posts) else None
                if post is not None:
                    try:
                        found = await adapter.find_sent(
                            link.destination, self._in_thread(post, thread), delivery.sending_at or 0.0
                        )
                    except DeliveryError as exc:
                        log.warning("could not look for delivery %s on %s: %s", delivery.id, delivery.platform, exc)
            if found is None:
                if delivery.payload.get("kind") != "edit":
                    self.metrics.resends.labels(delivery.platform.value).inc()
                    log.info("delivery %s may have arrived before the crash; sending it again", delivery.id)
                await self.store.requeue(delivery.id, fence=fence)
                continue
            refs.append({"room": found.room, "message_id": found.message_id, "thread": found.thread})
            log.info("delivery %s had arrived before the crash: recorded, not sent again", delivery.id)
            if len(refs) < len(posts):
                await self.store.requeue(delivery.id, refs, fence=fence)
            else:
                await self._record(adapter, link, delivery, refs, thread, fence)

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        for lane, running in list(self._lanes.items()):
            if running is task:
                del self._lanes[lane]
        if not task.cancelled() and task.exception() is not None:
            log.error("lane worker failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Stop every lane. A lane in the middle of a send is let finish it and record it
        (up to ``outbox.stop_grace`` seconds): cancelled there, a graceful stop would leave
        the delivery "sending" and the next start would send it again."""
        self._stopping = True
        tasks = list(self._lanes.values())
        for task in tasks:
            if task not in self._in_flight:
                task.cancel()
        busy = [task for task in tasks if task in self._in_flight]
        if busy:
            await asyncio.wait(busy, timeout=self.settings.stop_grace)
        for task in busy:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, lane: str, fence: Fence | None = None) -> None:
        """Send the lane's deliveries in order while this replica holds its lease (``fence``,
        taken here when not given)."""
        if fence is None and (fence := await self.leases.acquire(f"{LANE_LEASE}{lane}")) is None:
            return  # another replica sends this lane
        try:
            if not fence.sole:  # a dead holder's unrecorded sends are settled first, in order
                await self.recover(lane, fence)
            while not self._stopping and self.leases.holds(fence):
                batch = await self.store.lane_batch(lane, LANE_BATCH)
                if not batch:
                    break
                links: dict[int, Link | None] = {}  # read once per batch: one query, one token decrypt
                for delivery in batch:
                    if self._stopping or not self.leases.holds(fence):
                        return
                    delay = delivery.next_attempt_at - time.time()
                    if delay > 0:
                        # Waiting keeps the lane's order; other lanes have their own workers.
                        await asyncio.sleep(min(delay, 5.0))
                        break  # re-read: the row may have changed meanwhile
                    if not await self._attempt(delivery, links, fence):
                        break  # not sent: re-read before going on, so the order holds
        except LeaseLost:
            log.warning("lane %s: its lease passed to another replica, which sends it from here", lane)
            return
        # Done with the lane for now: the next replica with work for it may take it at once.
        await self.leases.release(fence)

    async def _attempt(self, delivery: Delivery, links: dict[int, Link | None], fence: Fence | None = None) -> bool:
        """Try one delivery; True when it left the pending state (sent or dead). ``links``
        holds the links this batch has read, kept up to date with what the sends change."""
        if delivery.room_link_id is not None:
            if self.rooms is None:
                await self.store.mark_dead(delivery.id, "rooms are not enabled")
                return True
            return await self.rooms.attempt(delivery, self._paced, fence)
        adapter = self.adapters[delivery.platform]
        if delivery.link_id not in links:
            links[delivery.link_id] = await self.store.link_by_id(delivery.link_id)
        link = links[delivery.link_id]
        if link is None:
            await self.store.mark_dead(delivery.id, "the chat link was removed", fence)
            return True
        if link.status == LinkStatus.INACTIVE:
            await self.store.mark_dead(delivery.id, f"recipient unreachable: {link.status_reason}", fence)
            return True
        outcomes = self.metrics.deliveries
        platform = delivery.platform.value
        try:
            links[link.id] = await self._send(adapter, link, delivery, fence)
            outcomes.labels(platform, "sent").inc()
            lms_time = delivery.payload.get("lms_time")
            if isinstance(lms_time, int | float) and lms_time > 0:
                self.metrics.delivery_latency.labels(platform).observe(max(0.0, time.time() - lms_time))
            self._throttled.pop(delivery.lane, None)
            return True
        except Dropped:
            return True  # unlinked or unreachable since the batch was read: not sent
        except LeaseLost:
            raise  # another replica has the lane: nothing more is written here
        except RateLimited as exc:
            if self._out_of_time(delivery):
                await self._give_up(link, delivery, f"still rate limited: {exc.reason}", fence)
                return True
            outcomes.labels(platform, "rate_limited").inc()
            throttled = self._throttled[delivery.lane] = self._throttled.get(delivery.lane, 0) + 1
            wait = self.policy.throttled_wait(exc, throttled)
            if exc.scope_all:
                self.pause(delivery.platform, exc.retry_after)
            log.info("lane %s rate limited for %.1fs", delivery.lane, wait)
            await self.store.reschedule(
                delivery.id,
                at=time.time() + wait,
                error=f"rate limited: {exc.reason}",
                count_attempt=False,
                fence=fence,
            )
            return False
        except RecipientUnreachable as exc:
            outcomes.labels(platform, "dead").inc()
            log.warning("link %s unreachable: %s", link.identity, exc.reason, extra=link_context(link))
            await self.store.mark_dead(delivery.id, f"recipient unreachable: {exc.reason}", fence)
            await self.store.set_link_status(link.id, LinkStatus.INACTIVE, exc.reason)
            links[link.id] = replace(link, status=LinkStatus.INACTIVE, status_reason=exc.reason)
            if self.on_unreachable is not None:
                await self.on_unreachable(link, exc.reason)
            return True
        except PermanentError as exc:
            log.warning("delivery %s failed for good: %s", delivery.id, exc.reason, extra=link_context(link))
            await self._give_up(link, delivery, exc.reason, fence)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # transient by default: timeouts, 5xx, unknown SDK errors
            attempts = delivery.attempts + 1
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            if self._out_of_time(delivery):
                log.warning(
                    "delivery %s dead after %d attempts: %s", delivery.id, attempts, reason, extra=link_context(link)
                )
                await self._give_up(link, delivery, f"gave up after {attempts} attempts: {reason}", fence)
                return True
            outcomes.labels(platform, "retry").inc()
            backoff = self.policy.backoff(attempts, exc)
            await self.store.reschedule(
                delivery.id, at=time.time() + backoff, error=reason, count_attempt=True, fence=fence
            )
            return False

    def _out_of_time(self, delivery: Delivery) -> bool:
        """Failing for longer than ``give_up_after`` (counted from the first failure in a row)."""
        return self.policy.out_of_time(delivery.failing_since)

    async def _give_up(self, link: Link, delivery: Delivery, reason: str, fence: Fence | None = None) -> None:
        """The delivery is dead: recorded, counted, and its person told at the next chance
        (a notice behind it in the lane; a notice about a notice is never sent)."""
        self.metrics.deliveries.labels(delivery.platform.value, "dead").inc()
        await self.store.mark_dead(delivery.id, reason, fence)
        told = told_unshowable(link, delivery.payload, reason, self.lms_url, key=f"undelivered:{delivery.id}")
        if told is None:
            return
        await self.store.enqueue([told])
        self.wake()

    @contextlib.asynccontextmanager
    async def _paced(
        self, platform: Platform, lane: str, *, counts_until: float = 0.0, opens_room: bool = False
    ) -> AsyncIterator[None]:
        """Wait until one more post fits the platform's limits for this chat and overall,
        and hold that place while the block sends it (two places overall when the adapter
        opens the person's room first)."""
        adapter = self.adapters[platform]
        pause = self._paused_until.get(platform, 0.0) - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        room_limits = self._room_limits.get(lane)
        if room_limits is None:
            caps = adapter.capabilities
            # A shared room may have its own limit (Telegram: 20 a minute per group).
            pace = caps.room_pace if lane.startswith("room|") and caps.room_pace else caps.per_room
            room_limits = self._room_limits[lane] = windows(pace)
        overall = self._overall[platform] * (2 if opens_room and adapter.capabilities.opens_room else 1)
        async with turn((*room_limits, *overall), counts_until=counts_until):
            yield

    def pause(self, platform: Platform, seconds: float) -> None:
        """The whole bot is over ``platform``'s limit (a platform-wide 429): every lane of
        it, and every answer, waits ``seconds``."""
        resume = time.monotonic() + seconds
        self._paused_until[platform] = max(self._paused_until.get(platform, 0.0), resume)
        log.warning("%s: every send paused for %.1fs (platform-wide rate limit)", platform.value, seconds)

    def _answer_turn(self, identity: ChatIdentity) -> contextlib.AbstractAsyncContextManager[None]:
        """The next turn of the person's chat pacing, ahead of deliveries still queued in
        their lane (the lane's worker waits for its own turn in the same windows)."""
        if identity.platform not in self.adapters:
            return contextlib.nullcontext()
        return self._paced(identity.platform, lane_of(identity))

    def answers(self) -> AnswerDelivery:
        """Answers to people as front-of-lane deliveries: paced with their lane, retried
        with this dispatcher's policy (``bridge.retry``)."""
        return AnswerDelivery(self.policy, self._answer_turn, self.pause)

    async def _edit(self, adapter: Adapter, link: Link, delivery: Delivery, fence: Fence | None) -> None:
        """Update the copies of an earlier delivery (an item handled: buttons retired)."""
        target = await self.store.delivery_by_id(int(delivery.payload["target"]))
        if target is None or not target.refs:
            await self.store.mark_sent(delivery, [], [], fence)
            return
        # An item handled retires its buttons; an item upgraded (alert to task) carries new ones.
        actions = delivery.payload.get("actions") or []
        posts = render_post({"html": delivery.payload["html"], "actions": actions}, adapter)
        if not adapter.capabilities.edits:
            # The platform cannot change a sent message: the outcome follows as a new one.
            for post in posts:
                async with self._paced(delivery.platform, delivery.lane):
                    await adapter.send(link.destination, post)
            await self.store.mark_sent(delivery, [], [], fence)
            return
        refs = target.refs
        # The buttons sit on the last chunk; when the chunking still matches, update each.
        pairs = list(zip(refs, posts, strict=False)) if len(posts) == len(refs) else [(refs[-1], posts[-1])]
        for ref, post in pairs:
            async with self._paced(delivery.platform, delivery.lane):
                await adapter.edit(link.destination, SentRef(ref["room"], ref["message_id"], ref.get("thread")), post)
        await self.store.mark_sent(delivery, [], [], fence)

    async def _posts(self, adapter: Adapter, link: Link, delivery: Delivery) -> tuple[list[Post], str | None]:
        """The delivery's posts as the adapter sends them, and the thread they go into."""
        conversation_id = delivery.payload.get("conversation_id")
        thread = None
        if adapter.capabilities.threads and conversation_id is not None:
            thread = await self.store.thread_of(link.id, int(conversation_id))
        try:
            posts = render_post(delivery.payload, adapter)
        except Exception as exc:  # the renderers are total; should one still fail, only this item is lost
            log.exception("delivery %s (%s) could not be rendered", delivery.id, delivery.item_key)
            raise PermanentError(f"could not be rendered: {type(exc).__name__}: {exc}") from exc
        return posts, thread

    @staticmethod
    def _in_thread(post: Post, thread: str | None) -> Post:
        return post if thread is None else Post(post.text, post.fallback, post.actions, post.reply_to, thread)

    async def _send(self, adapter: Adapter, link: Link, delivery: Delivery, fence: Fence | None) -> Link:
        """Send every chunk not sent yet and record the delivery; returns the link as the
        send left it (current conversation, room)."""
        payload = delivery.payload
        if payload.get("kind") == "edit":
            await self._edit(adapter, link, delivery, fence)
            return link
        conversation_id = payload.get("conversation_id")
        posts, thread = await self._posts(adapter, link, delivery)
        current = (int(conversation_id) if conversation_id is not None else None, payload.get("peer_id"))
        if (
            payload.get("kind") == ItemKind.MESSAGE.value
            and conversation_id is not None
            and not delivery.refs
            and current != (link.current_conversation_id, link.current_peer_id)
        ):
            # Before the send: the person may answer the moment it shows up.
            await self.store.set_current(link.id, int(conversation_id), payload.get("peer_id"))
            link = replace(link, current_conversation_id=int(conversation_id), current_peer_id=payload.get("peer_id"))
        refs = list(delivery.refs)
        dest = link.destination
        lane = asyncio.current_task()
        try:
            for post in posts[len(refs) :]:
                async with self._paced(delivery.platform, delivery.lane, opens_room=not dest.room):
                    if self._stopping:
                        raise asyncio.CancelledError  # not begun: the next start sends it
                    if fence is not None and not self.leases.holds(fence):
                        # Not renewed in time (this process stalled): the platform cannot
                        # check a fencing token, so nothing goes out once in doubt.
                        raise LeaseLost(fence)
                    # Nothing else is awaited between this mark, the send and the record after
                    # it: a crash in that window is settled by ``recover`` at the next start.
                    if lane is not None:
                        self._in_flight.add(lane)
                    if not await self.store.mark_sending(delivery.id, fence):
                        raise Dropped  # unlinked or unreachable since the batch was read
                    ref = await adapter.send(dest, self._in_thread(post, thread))
                refs.append({"room": ref.room, "message_id": ref.message_id, "thread": ref.thread})
                if len(refs) < len(posts):  # more to come: a retry must not resend this one
                    await self.store.record_part(delivery.id, refs, fence)
            return await self._record(adapter, link, delivery, refs, thread, fence)
        finally:
            if lane is not None:
                self._in_flight.discard(lane)

    async def _record(
        self,
        adapter: Adapter,
        link: Link,
        delivery: Delivery,
        refs: list[dict[str, Any]],
        thread: str | None,
        fence: Fence | None = None,
    ) -> Link:
        """Every chunk arrived: the delivery is sent, its copies mapped to the item (so a
        reply to any copy routes to its conversation). Returns the link with its room."""
        conversation_id = delivery.payload.get("conversation_id")
        entries = map_entries(delivery, link.lms_user_id, link.identity.platform, link.identity.workspace, refs)
        await self.store.mark_sent(delivery, refs, entries, fence)
        first = SentRef(refs[0]["room"], refs[0]["message_id"], refs[0]["thread"])
        if adapter.capabilities.threads and conversation_id is not None and thread is None:
            await self.store.set_thread(link.id, int(conversation_id), first.message_id)
        if link.room != first.room:
            await self.store.set_link_room(link.id, first.room)
            link = replace(link, room=first.room)
        return link
