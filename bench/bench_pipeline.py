"""Benchmark: LMS to chat throughput and memory of the core, against the sandbox LMS.

N people each receive M messages in the LMS; one poll cycle reads them, routes them,
stores them with the cursors, and the dispatcher delivers them to a platform that
answers at once (no pacing), so the figure is the bridge's own cost. The baseline is
the bare LMS reading a minimal poller does (the same web-service calls, no store, no
routing, no rendering). Run: .venv/bin/python bench/bench_pipeline.py [PEOPLE] [MESSAGES]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.model import Capabilities, ChatIdentity, Destination, Markup, Platform, Post, SentRef
from bridge.outbox import Dispatcher
from bridge.ports import Adapter, EventSink
from bridge.store.crypto import new_key
from bridge.store.store import Store
from sandbox.lms import SandboxLMS


class InstantPlatform(Adapter):
    """A platform that accepts every post at once: measures the bridge, not a network."""

    platform = Platform.TELEGRAM
    capabilities = Capabilities(markup=Markup.TELEGRAM_HTML, max_text=4096)

    def __init__(self, expected: int) -> None:
        self.count = 0
        self.expected = expected
        self.all_sent = asyncio.Event()

    async def start(self, sink: EventSink) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, dest: Destination, post: Post) -> SentRef:
        self.count += 1
        if self.count >= self.expected:
            self.all_sent.set()
        return SentRef(dest.identity.user_id, str(self.count))

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        return None


async def baseline(lms: SandboxLMS, tokens: dict[int, str]) -> float:
    """The LMS reading alone: conversations, then each conversation's messages."""
    started = time.perf_counter()
    async with LmsClient(lms.url) as client:
        api = LmsApi(client)
        for uid, token in tokens.items():
            for conv in await api.conversations(token, uid, 20):
                if conv.latest_id is not None:
                    await api.conversation_messages(token, uid, conv.id, 0)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Run:
    """One pass: seconds per stage, the bare poller's seconds, peak traced memory."""

    read: float
    dispatch: float
    bare: float
    peak: int


async def one_pass(people: int, messages: int, *, trace_memory: bool) -> Run:
    """Seed, link, poll once and dispatch everything; memory tracing slows Python down, so
    the timed pass and the memory pass are separate runs of the same work."""
    lms = SandboxLMS()
    seed = lms.seed_demo()
    await lms.start()
    tmp = Path(tempfile.mkdtemp())
    settings = load_settings(
        None, lms={"url": lms.url}, store={"url": f"sqlite+aiosqlite:///{tmp / 'b.db'}", "token_key": new_key()}
    )
    store = await Store.open(settings.store.url, settings.store.token_key.get_secret_value())
    total = people * messages
    platform = InstantPlatform(total)
    tokens: dict[int, str] = {}
    async with LmsClient(lms.url) as client:
        dispatcher = Dispatcher(store, {Platform.TELEGRAM: platform}, settings.outbox)
        pipeline = build_pipeline(settings, store, client, wake_dispatcher=dispatcher.wake)
        for n in range(people):
            uid = lms.create_user(f"learner{n}", firstname="Learner", lastname=str(n))
            lms.enrol(seed.course_id, uid)
            tokens[uid] = lms.issue_token(uid)
            await store.save_link(ChatIdentity(Platform.TELEGRAM, "", str(1000 + n)), lms_user_id=uid,
                                  lms_username=f"learner{n}", lms_fullname=f"Learner {n}", token=tokens[uid],
                                  room=str(1000 + n), address=None)
            await pipeline.baseline(tokens[uid], uid)
        for uid in tokens:
            for m in range(messages):
                lms.post_message(seed.mentor_id, uid, f"Message {m}: <b>keep going</b> & see the course page.")
        lms.clock.freeze(lms.clock.now() + 1)  # past the LMS's held-back current second
        if trace_memory:
            tracemalloc.start()
        started = time.perf_counter()
        queued = await pipeline.poll_once()
        read_at = time.perf_counter()
        runner = asyncio.create_task(dispatcher.run())
        await platform.all_sent.wait()
        done = time.perf_counter()
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
        tracemalloc.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        bare = await baseline(lms, tokens)
    await store.close()
    await lms.stop()
    assert queued == total, (queued, total)
    return Run(read_at - started, done - read_at, bare, peak)


async def main(people: int, messages: int) -> None:
    timed = await one_pass(people, messages, trace_memory=False)
    traced = await one_pass(people, messages, trace_memory=True)
    total = people * messages
    print(f"pipeline bench: {people} people x {messages} messages = {total} deliveries")
    print(f"{'stage':<34}{'bridge':>12}{'baseline':>12}")
    print(f"{'read LMS + route + store (s)':<34}{timed.read:>12.3f}{timed.bare:>12.3f}")
    print(f"{'dispatch to platform (s)':<34}{timed.dispatch:>12.3f}{'-':>12}")
    print(f"{'end to end (messages/s)':<34}{total / (timed.read + timed.dispatch):>12.0f}{total / timed.bare:>12.0f}")
    print(f"{'peak Python memory (MiB)':<34}{traced.peak / 2**20:>12.1f}{'-':>12}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [50, 20][len(args):])))
