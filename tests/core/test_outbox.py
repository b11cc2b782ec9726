"""The dispatcher with a scriptable stand-in platform: lanes, order, retry-after, dead
letters, unreachable recipients, chunks never resent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bridge.config import OutboxSettings
from bridge.model import Capabilities, ChatIdentity, Destination, Markup, Platform, Post, SentRef
from bridge.outbox import Dispatcher
from bridge.ports import Adapter, EventSink, RateLimited, RecipientUnreachable, TransientError
from bridge.router import lane_of, notice
from bridge.store import operations
from bridge.store.records import DeliveryStatus, Link, NewDelivery
from bridge.store.store import Store


class StandInPlatform(Adapter):
    """A platform whose answers the test scripts per room: failures first, then success."""

    platform = Platform.TELEGRAM
    capabilities = Capabilities(markup=Markup.PLAIN, max_text=200)

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, float]] = []
        self.failures: dict[str, list[Exception]] = {}

    async def start(self, sink: EventSink) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, dest: Destination, post: Post) -> SentRef:
        room = dest.room or dest.identity.user_id
        queue = self.failures.get(room)
        if queue:
            raise queue.pop(0)
        self.sent.append((room, post.text, time.monotonic()))
        return SentRef(room, str(len(self.sent)))

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        return None


async def make_link(store: Store, user: str, lms_id: int) -> Link:
    identity = ChatIdentity(Platform.TELEGRAM, "", user)
    return await store.save_link(
        identity,
        lms_user_id=lms_id,
        lms_username=user,
        lms_fullname=user.title(),
        token=f"tok-{user}",
        room=user,
        address=None,
    )


async def run_until(dispatcher: Dispatcher, predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    task = asyncio.create_task(dispatcher.run(tick=0.05))
    try:
        deadline = time.monotonic() + timeout
        while not await predicate():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


SETTINGS = OutboxSettings(give_up_after=0.3, backoff_initial=0.05, backoff_max=0.1)


async def test_a_throttled_lane_does_not_hold_up_another(store: Store) -> None:
    platform = StandInPlatform()
    ann, bob = await make_link(store, "ann", 1), await make_link(store, "bob", 2)
    platform.failures["ann"] = [RateLimited(3.0)]
    await store.enqueue([notice(ann, f"<p>ann {n}</p>", f"a{n}") for n in range(3)])
    await store.enqueue([notice(bob, f"<p>bob {n}</p>", f"b{n}") for n in range(3)])
    dispatcher = Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS)
    started = time.monotonic()
    await run_until(dispatcher, lambda: _count(store, DeliveryStatus.SENT, 6))
    by_room = {room: [(text, at - started) for r, text, at in platform.sent if r == room] for room in ("ann", "bob")}
    assert [t for t, _ in by_room["ann"]] == ["ann 0", "ann 1", "ann 2"]  # order kept after the wait
    assert [t for t, _ in by_room["bob"]] == ["bob 0", "bob 1", "bob 2"]
    assert by_room["ann"][0][1] >= 2.9  # retry-after honoured for ann...
    # ...while bob got everything meanwhile: all of his before ann's first (an order, not a
    # time bound: on a busy machine bob's three sends may take a while, never 3 s).
    assert by_room["bob"][-1][1] < by_room["ann"][0][1]


async def test_a_platform_wide_rate_limit_pauses_every_lane_of_that_platform(store: Store) -> None:
    platform = StandInPlatform()
    ann, bob = await make_link(store, "ann", 1), await make_link(store, "bob", 2)
    platform.failures["ann"] = [RateLimited(1.0, "global rate limit", scope_all=True)]
    await store.enqueue([notice(ann, "<p>ann 0</p>", "a0")])
    dispatcher = Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS)
    task = asyncio.create_task(dispatcher.run(tick=0.05))
    try:
        async with asyncio.timeout(10):
            while True:
                if not platform.failures["ann"]:
                    break
                await asyncio.sleep(0.01)
        limited_at = time.monotonic()
        await store.enqueue([notice(bob, "<p>bob 0</p>", "b0")])
        dispatcher.wake()
        async with asyncio.timeout(10):
            while True:
                if len(platform.sent) == 2:
                    break
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    bob_at = next(at for room, _, at in platform.sent if room == "bob")
    assert bob_at - limited_at >= 0.9  # bob's lane waited out the bot-wide limit too


async def test_a_platform_that_cannot_edit_gets_the_outcome_as_a_new_message(store: Store) -> None:
    platform = StandInPlatform()
    platform.capabilities = Capabilities(markup=Markup.PLAIN, max_text=200, edits=False)
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, "<p>Seminar booking</p>", "t1")])
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS), lambda: _count(store, DeliveryStatus.SENT, 1)
    )
    [first] = await store.deliveries(status=DeliveryStatus.SENT)
    payload = {"kind": "edit", "target": first.id, "html": "<p>Approved</p>"}
    edit = NewDelivery("edit:1", ann.id, Platform.TELEGRAM, lane_of(ann.identity), payload)
    await store.enqueue([edit])
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS), lambda: _count(store, DeliveryStatus.SENT, 2)
    )
    assert [text for _, text, _ in platform.sent] == ["Seminar booking", "Approved"]


async def test_a_guessed_retry_after_doubles_while_the_room_stays_throttled(store: Store) -> None:
    platform = StandInPlatform()
    ann = await make_link(store, "ann", 1)
    # Teams' 429 without Retry-After: the adapter's first guess, then exponential back-off.
    platform.failures["ann"] = [RateLimited(0.2, "429", given=False) for _ in range(3)]
    await store.enqueue([notice(ann, "<p>ann 0</p>", "a0")])
    started = time.monotonic()
    settings = OutboxSettings(give_up_after=60, backoff_initial=0.05, backoff_max=10.0)
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, settings), lambda: _count(store, DeliveryStatus.SENT, 1)
    )
    [(_, _, sent_at)] = platform.sent
    assert sent_at - started >= 1.3  # 0.2 + 0.4 + 0.8, where the same wait thrice would be 0.6


async def died_in_an_outage(store: Store, text: str, key: str) -> tuple[StandInPlatform, Link]:
    """ann's delivery ``key`` of ``text``, dead after HTTP 502s for longer than its budget."""
    platform = StandInPlatform()
    ann = await make_link(store, "ann", 1)
    platform.failures["ann"] = [TransientError("HTTP 502")] * 1000
    await store.enqueue([notice(ann, f"<p>{text}</p>", key)])
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS), lambda: _count(store, DeliveryStatus.DEAD, 1)
    )
    return platform, ann


async def test_transient_failures_retry_then_die_with_the_reason(store: Store) -> None:
    platform, ann = await died_in_an_outage(store, "doomed", "d1")
    platform.failures["ann"] = []  # the platform recovers; the lane goes on
    await store.enqueue([notice(ann, "<p>after</p>", "d2")])
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS), lambda: _count(store, DeliveryStatus.PENDING, 0)
    )
    dead, sent = await store.deliveries(status=DeliveryStatus.DEAD), await store.deliveries(status=DeliveryStatus.SENT)
    assert [d.item_key for d in dead] == ["d1"] and dead[0].attempts >= 2  # retried until out of time
    assert "HTTP 502" in dead[0].last_error and "attempts" in dead[0].last_error
    assert [d.item_key for d in sent] == ["d2"]  # the lane moved on


async def test_a_retried_dead_delivery_gets_a_new_time_budget(store: Store) -> None:
    platform, _ = await died_in_an_outage(store, "retried", "r1")
    [dead] = await store.deliveries(status=DeliveryStatus.DEAD)
    assert await operations.retry(store, [dead.id]) == [dead.id]  # `pluto-bridge deliveries retry`
    platform.failures["ann"] = [TransientError("HTTP 502")]  # one more failure, then it recovers
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS), lambda: _count(store, DeliveryStatus.SENT, 1)
    )
    assert [text for _, text, _ in platform.sent] == ["retried"]


async def test_a_delivery_left_sending_by_a_crash_is_backlog_for_the_operator(store: Store) -> None:
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, "<p>in flight</p>", "s1")])
    [delivery] = await store.deliveries(status=DeliveryStatus.PENDING)
    await store.mark_sending(delivery.id)  # the process dies here, before the platform answers
    counts = await operations.counts(store)  # `pluto-bridge status`, the backlog gauge
    assert counts.backlog == {"telegram": 1} and counts.oldest_pending is not None
    assert [row.status for row in await operations.list_deliveries(store)] == ["sending"]


async def test_unreachable_recipient_stops_their_deliveries(store: Store) -> None:
    platform = StandInPlatform()
    ann = await make_link(store, "ann", 1)
    platform.failures["ann"] = [RecipientUnreachable("Forbidden: bot was blocked by the user")]
    await store.enqueue([notice(ann, f"<p>{n}</p>", f"u{n}") for n in range(4)])
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS), lambda: _count(store, DeliveryStatus.PENDING, 0)
    )
    assert platform.sent == []
    link = await store.link_by_id(ann.id)
    assert link is not None and link.status == "inactive" and "blocked" in link.status_reason
    assert all("blocked by the user" in d.last_error for d in await store.deliveries(status=DeliveryStatus.DEAD))


async def test_split_message_chunks_are_not_resent_after_a_failure(store: Store) -> None:
    platform = StandInPlatform()
    ann = await make_link(store, "ann", 1)
    long_html = "".join(f"<p>paragraph {n} " + "word " * 20 + "</p>" for n in range(6))
    await store.enqueue([notice(ann, long_html, "long")])
    sends = 0
    original = platform.send

    async def fail_third(dest: Destination, post: Post) -> SentRef:
        nonlocal sends
        sends += 1
        if sends == 3:
            raise TransientError("connection reset")
        return await original(dest, post)

    platform.send = fail_third  # type: ignore[method-assign]
    await run_until(
        Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS), lambda: _count(store, DeliveryStatus.SENT, 1)
    )
    texts = [t for _, t, _ in platform.sent]
    assert len(texts) == len(set(texts)) >= 3  # every chunk once, none repeated
    assert "".join(texts).count("paragraph 0") == 1 and "paragraph 5" in texts[-1]
    [delivery] = await store.deliveries(status=DeliveryStatus.SENT)
    assert len(delivery.refs) == len(texts)
    assert lane_of(ann.identity) == delivery.lane


async def test_a_person_who_unlinks_during_a_backlog_gets_nothing_after(store: Store) -> None:
    """The dispatcher reads a lane's link once per batch; a delivery dropped meanwhile (its
    person unlinked while the second message was on its way) is not sent all the same."""
    platform = StandInPlatform()
    ann = await make_link(store, "ann", 1)
    await store.enqueue([notice(ann, f"<p>backlog {n}</p>", f"b{n}") for n in range(5)])
    original = platform.send

    async def unlink_during_second(dest: Destination, post: Post) -> SentRef:
        if len(platform.sent) == 1:
            await store.delete_link(ann.identity)  # `/unlink` handled while this send is out
        return await original(dest, post)

    platform.send = unlink_during_second  # type: ignore[method-assign]
    dispatcher = Dispatcher(store, {Platform.TELEGRAM: platform}, SETTINGS)
    await asyncio.wait_for(dispatcher._drain(lane_of(ann.identity)), 10)  # the lane's worker, to its end
    assert [t for _, t, _ in platform.sent] == ["backlog 0", "backlog 1"]
    assert {d.last_error for d in await store.deliveries(status=DeliveryStatus.DEAD)} == {"unlinked"}


async def _count(store: Store, status: DeliveryStatus, n: int) -> bool:
    return len(await store.deliveries(status=status)) == n
