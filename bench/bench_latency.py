"""Benchmark: LMS-to-chat latency with push (AirNotifier wake-ups) and with polling alone.

The real bridge (``bridge.app.Bridge``: web server, push receiver, pipeline, dispatcher)
against the sandbox LMS, whose airnotifier output posts to the bridge in push mode, and a
platform that accepts every post at once. 200 messages to 20 people, one every 50 ms; the
latency of a message is from the LMS accepting it to the platform receiving it. Polling
runs at today's default interval (10 s). One run of each, printed side by side.
Run: .venv/bin/python bench/bench_latency.py [MESSAGES] [PEOPLE]
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import InstantPlatform

from bridge.app import Bridge
from bridge.config import load_settings
from bridge.model import ChatIdentity, Destination, Platform, Post, SentRef
from bridge.store.crypto import new_key
from sandbox.lms import SandboxLMS

KEY = "bench-airnotifier-key"
SPACING = 0.05  # seconds between two messages sent in the LMS
POLL_INTERVAL = 10.0  # lms.poll_interval's default


class TimedPlatform(InstantPlatform):
    """Notes when each numbered message reaches the platform."""

    def __init__(self, expected: int) -> None:
        super().__init__(expected)
        self.arrived: dict[int, float] = {}

    async def send(self, dest: Destination, post: Post) -> SentRef:
        for number in re.findall(r"bench-(\d+)", post.text):
            self.arrived.setdefault(int(number), time.monotonic())
        return await super().send(dest, post)


async def one_run(messages: int, people: int, *, push: bool) -> list[float]:
    """Latencies in seconds of every message, in sending order."""
    lms = SandboxLMS()
    seed = lms.seed_demo()
    await lms.start()
    tmp = Path(tempfile.mkdtemp())
    settings = load_settings(
        None,
        lms={"url": lms.url, "poll_interval": POLL_INTERVAL},
        store={"url": f"sqlite+aiosqlite:///{tmp / 'b.db'}", "token_key": new_key()},
        web={"port": 0},
        push={"enabled": push, "access_key": KEY, "app_name": "plutobridge"},
    )
    platform = TimedPlatform(messages)
    bridge = Bridge(settings, adapters={Platform.TELEGRAM: platform})
    await bridge.start()
    assert bridge.store is not None and bridge.pipeline is not None and bridge.web is not None
    uids = []
    for n in range(people):
        uid = lms.create_user(f"learner{n}", firstname="Learner", lastname=str(n))
        lms.enrol(seed.course_id, uid)
        token = lms.issue_token(uid)
        link = await bridge.store.save_link(
            ChatIdentity(Platform.TELEGRAM, "", str(1000 + n)),
            lms_user_id=uid,
            lms_username=f"learner{n}",
            lms_fullname=f"Learner {n}",
            token=token,
            room=str(1000 + n),
            address=None,
        )
        await bridge.pipeline.baseline(token, uid)
        if bridge.devices is not None:
            await bridge.devices.ensure(link)
        uids.append(uid)
    if push:
        lms.set_airnotifier(
            f"http://127.0.0.1:{bridge.web.port}/airnotifier", port=443, appname="plutobridge", accesskey=KEY
        )
    sent: dict[int, float] = {}
    for i in range(messages):
        lms.post_message(seed.mentor_id, uids[i % people], f"bench-{i} keep going")
        sent[i] = time.monotonic()
        await asyncio.sleep(SPACING)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(platform.all_sent.wait(), POLL_INTERVAL * 3)
    await bridge.stop()
    await lms.stop()
    missing = messages - len(platform.arrived)
    assert not missing, f"{missing} messages never arrived"
    return [platform.arrived[i] - sent[i] for i in range(messages)]


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


async def main(messages: int, people: int) -> None:
    pushed = await one_run(messages, people, push=True)
    polled = await one_run(messages, people, push=False)
    print(f"latency bench: {messages} messages to {people} people, one every {SPACING * 1000:.0f} ms")
    print(f"{'LMS to chat (s)':<24}{'push':>10}{f'poll {POLL_INTERVAL:.0f} s':>12}{'goal (push)':>14}")
    print(f"{'p50':<24}{quantile(pushed, 0.5):>10.2f}{quantile(polled, 0.5):>12.2f}{'<= 0.5':>14}")
    print(f"{'p99':<24}{quantile(pushed, 0.99):>10.2f}{quantile(polled, 0.99):>12.2f}{'<= 2.0':>14}")
    print(f"{'max':<24}{max(pushed):>10.2f}{max(polled):>12.2f}{'-':>14}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [200, 20][len(args) :])))
