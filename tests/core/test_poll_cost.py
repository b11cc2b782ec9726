"""What polling costs the LMS (issues 18 and 19), counted by the sandbox LMS: idle people are
read rarely and cheaply, the whole bridge keeps to its request budget, and what arrives
still reaches chat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.client import LmsClient
from bridge.model import ChatIdentity, Platform
from bridge.pipeline import Pipeline
from bridge.poll_cadence import Cadence
from bridge.store.crypto import new_key
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS
from tests.support import statements_of


class Clock:
    """The cadences' clock, moved on by hand: minutes of polling in a few real seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def link_idle(store: Store, lms: SandboxLMS, userid: int, username: str) -> None:
    """A person linked (their baseline is taken by the first poll)."""
    await store.save_link(
        ChatIdentity(Platform.TELEGRAM, "", str(userid)),
        lms_user_id=userid,
        lms_username=username,
        lms_fullname=username,
        token=lms.issue_token(userid),
        room=str(userid),
        address=None,
    )


def pipeline_for(lms: SandboxLMS, store: Store, client: LmsClient, **lms_settings: Any) -> Pipeline:
    settings = load_settings(None, lms={"url": lms.url, "retries": 0, **lms_settings}, store={"token_key": new_key()})
    pipeline = build_pipeline(settings, store, client)
    pipeline.sweep_every = 3600.0  # the unread-count gate decides, not the periodic full read
    return pipeline


def calls_since(lms: SandboxLMS, mark: int, function: str | None = None) -> int:
    return sum(1 for c in lms.calls[mark:] if function is None or c.function == function)


async def queued_texts(store: Store) -> list[str]:
    lanes = [lane for _, lane in await store.pending_lanes()]
    return [d.payload["html"] for lane in lanes for d in await store.lane_batch(lane, 50)]


async def until_queued(store: Store, pipeline: Pipeline, text: str, step: Callable[[], None] = lambda: None) -> int:
    """Poll cycles until ``text`` is queued for chat (at most 20); returns how many it took."""
    for cycle in range(1, 21):
        step()
        await pipeline.poll_once()
        if any(text in h for h in await queued_texts(store)):
            return cycle
        await asyncio.sleep(0.2)
    raise AssertionError(f"{text!r} never queued")


async def test_an_unchanged_unread_count_is_no_news(lms: SandboxLMS, seed: DemoSeed, store: Store) -> None:
    # Issue 19: someone with a message delivered to chat but unread in Pluto cost three calls
    # every cycle (the gate, the conversation list, notifications), for nothing.
    await link_idle(store, lms, seed.mentee1_id, "mentee1")
    async with LmsClient(lms.url, retries=0) as client:
        pipeline = pipeline_for(lms, store, client)
        await pipeline.poll_once()  # the baseline
        lms.post_message(seed.mentor_id, seed.mentee1_id, "hello Sam")
        await until_queued(store, pipeline, "hello Sam")
        mark = len(lms.calls)
        for _ in range(5):
            await pipeline.poll_once()
        notifications = calls_since(lms, mark, "core_message_get_messages")
        message_side = calls_since(lms, mark) - notifications
        # A new message in the same unread conversation is read (once the LMS shows it: it
        # holds back its current second, observed item 5).
        lms.post_message(seed.mentor_id, seed.mentee1_id, "are you there?")
        await until_queued(store, pipeline, "are you there?")
    assert message_side == 5  # one call per cycle for messages (was the gate and the listing)


async def test_idle_people_are_read_rarely_and_what_arrives_still_reaches_chat(
    lms: SandboxLMS, seed: DemoSeed, store: Store
) -> None:
    people = [lms.create_user(f"idle{n}", firstname="Idle", lastname=str(n)) for n in range(20)]
    for n, uid in enumerate(people):
        await link_idle(store, lms, uid, f"idle{n}")
    clock = Clock()
    async with LmsClient(lms.url, retries=0) as client:
        pipeline = pipeline_for(lms, store, client, poll_interval=10, idle_poll_interval=60)
        pipeline.message_cadence = Cadence(10, 60, clock)
        pipeline.notice_cadence = Cadence(10, 60, clock)
        for _ in range(30):  # five minutes of idle cycles: they stretch to the ceiling
            clock.now += 10
            await pipeline.poll_once()
        mark = len(lms.calls)
        for _ in range(12):  # two more minutes
            clock.now += 10
            await pipeline.poll_once()
        per_person_cycle = calls_since(lms, mark) / len(people) / 12
        # Bounded: an idle person is still read within the ceiling.
        lms.enrol(seed.course_id, people[7])  # so that Maya may write to them
        assert lms.post_message(seed.mentor_id, people[7], "still there?")["msgid"] > 0

        def tick() -> None:
            clock.now += 10

        cycles = await until_queued(store, pipeline, "still there?", tick)
        lms_reads = [c.function for c in lms.calls if c.userid == people[7]]
    assert per_person_cycle < 1, per_person_cycle  # was 2: the gate and notifications, every cycle
    assert cycles <= 6, lms_reads  # within idle_poll_interval (60 s of 10 s cycles)


async def test_site_info_is_asked_once_per_site_not_per_person(lms: SandboxLMS, store: Store) -> None:
    people = [lms.create_user(f"p{n}", firstname="P", lastname=str(n)) for n in range(10)]
    for n, uid in enumerate(people):
        await link_idle(store, lms, uid, f"p{n}")
    async with LmsClient(lms.url, retries=0) as client:
        await pipeline_for(lms, store, client).poll_once()
    assert calls_since(lms, 0, "core_webservice_get_site_info") == 1


async def test_a_cycle_loads_cursors_and_open_items_in_one_query_each(lms: SandboxLMS, store: Store) -> None:
    people = [lms.create_user(f"p{n}", firstname="P", lastname=str(n)) for n in range(12)]
    for n, uid in enumerate(people):
        await link_idle(store, lms, uid, f"p{n}")
    async with LmsClient(lms.url, retries=0) as client:
        pipeline = pipeline_for(lms, store, client)
        await pipeline.poll_once()  # the baselines
        with statements_of(store) as statements:
            await pipeline.poll_once()
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert sum("FROM cursors" in s for s in reads) == 1  # was one per person
    assert sum("FROM items" in s for s in reads) == 1


async def test_the_bridge_keeps_to_its_lms_request_budget(lms: SandboxLMS, store: Store) -> None:
    people = [lms.create_user(f"p{n}", firstname="P", lastname=str(n)) for n in range(15)]
    for n, uid in enumerate(people):
        await link_idle(store, lms, uid, f"p{n}")
    rate = 10
    async with LmsClient(lms.url, retries=0, max_requests_per_second=rate) as client:
        await pipeline_for(lms, store, client, max_requests_per_second=rate).poll_once()
    times = sorted(c.time for c in lms.calls)
    assert len(times) >= 30
    # A token bucket of one second's budget: no second of the LMS's log holds more than
    # the burst plus one second's rate (unlimited, all 30 came within a few milliseconds).
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 2 * rate, busiest


async def test_a_cycle_that_cannot_fit_the_budget_says_so(
    lms: SandboxLMS, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    people = [lms.create_user(f"p{n}", firstname="P", lastname=str(n)) for n in range(8)]
    for n, uid in enumerate(people):
        await link_idle(store, lms, uid, f"p{n}")
    async with LmsClient(lms.url, retries=0, max_requests_per_second=5) as client:
        pipeline = pipeline_for(lms, store, client, poll_interval=0.5, max_requests_per_second=5)
        with caplog.at_level(logging.WARNING):
            await pipeline.poll_once()
    said = [r.getMessage() for r in caplog.records if "do not fit lms.poll_interval" in r.getMessage()]
    assert said and "8 people due" in said[0]
    assert pipeline.metrics.registry.get_sample_value("pluto_bridge_poll_cycle_overruns_total") == 1


async def test_site_info_asked_with_a_dead_token_fails_only_its_owner(lms: SandboxLMS, store: Store) -> None:
    # Site info is shared by everyone; the token that happened to ask for it must not make
    # the others look signed out.
    people = [lms.create_user(f"p{n}", firstname="P", lastname=str(n)) for n in range(4)]
    for n, uid in enumerate(people):
        await link_idle(store, lms, uid, f"p{n}")
    dead = (await store.links_of_user(people[0]))[0]
    lms.expire_token(dead.token)
    async with LmsClient(lms.url, retries=0) as client:
        await pipeline_for(lms, store, client).poll_once()
    statuses = {link.lms_user_id: link.status for link in await store.all_links()}
    assert statuses == {people[0]: "needs_signin", **{uid: "active" for uid in people[1:]}}
