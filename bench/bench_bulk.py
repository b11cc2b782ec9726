"""Benchmark: time to send one bulk message to 1,000 recipients, against the least time the
configured LMS request rate allows, printed side by side.

The real bulk runner (store, batches, pacing, per-recipient states, progress notices queued)
against the sandbox LMS, which counts every web-service call. The least time is what the
rate alone imposes: ``ceil(recipients / batch_size)`` send calls, the first at once and one
more every ``1 / requests_per_second`` seconds.
Run: .venv/bin/python bench/bench_bulk.py [RECIPIENTS, default 1000]
"""

from __future__ import annotations

import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

from bridge.bulk.progress import Progress
from bridge.bulk.runner import BulkRunner
from bridge.config import BulkSettings
from bridge.lms.client import LmsClient
from bridge.model import ChatIdentity, Platform
from bridge.store import bulk_jobs
from bridge.store.crypto import new_key
from bridge.store.store import Store
from sandbox.lms import SandboxLMS

SEND = "core_message_send_instant_messages"
CONFIGS = ((2.0, 25), (10.0, 25), (5.0, 100))  # (requests_per_second, batch_size); the first is the default


async def measure(recipients: int, rate: float, batch: int) -> tuple[float, int, int]:
    """(seconds, send calls, messages in Pluto) for one bulk message to ``recipients``."""
    lms = SandboxLMS()
    await lms.start()
    tmp = Path(tempfile.mkdtemp())
    store = await Store.open(f"sqlite+aiosqlite:///{tmp / 'b.db'}", new_key())
    try:
        course = lms.create_course("BIG101", "Big course")
        teacher = lms.create_user("teacher", firstname="Tess", lastname="Teacher")
        lms.enrol(course, teacher, "editingteacher")
        people = []
        for n in range(recipients):
            uid = lms.create_user(f"s{n}", firstname="Student", lastname=str(n))
            lms.enrol(course, uid, "student")
            people.append((uid, f"Student {n}"))
        link = await store.save_link(
            ChatIdentity(Platform.TELEGRAM, "", "1"),
            lms_user_id=teacher,
            lms_username="teacher",
            lms_fullname="Tess Teacher",
            token=lms.issue_token(teacher),
            room="1",
            address=None,
        )
        job = await bulk_jobs.save_draft(
            store,
            lms_user_id=teacher,
            link_id=link.id,
            course_id=course,
            course_name="Big course",
            audience="everyone",
            text="Exam moved to Friday.",
            recipients=people,
        )
        await bulk_jobs.start(store, job.id)
        settings = BulkSettings(requests_per_second=rate, batch_size=batch)
        async with LmsClient(lms.url, timeout=120) as client:
            runner = BulkRunner(store, client, settings, Progress(store, {Platform.TELEGRAM: True}))
            sends_before = sum(1 for c in lms.calls if c.function == SEND)
            started = time.perf_counter()
            await runner.process(job.id)
            seconds = time.perf_counter() - started
        sends = sum(1 for c in lms.calls if c.function == SEND) - sends_before
        counts = await bulk_jobs.counts(store, job.id)
        return seconds, sends, counts["sent"]
    finally:
        await store.close()
        await lms.stop()


async def main(recipients: int) -> None:
    print(f"bulk message to {recipients} recipients (sandbox LMS, SQLite store)")
    print(f"{'rate/s':>7}{'batch':>7}{'calls':>7}{'least (s)':>11}{'measured (s)':>14}{'overhead':>10}{'sent':>7}")
    for rate, batch in CONFIGS:
        calls = math.ceil(recipients / batch)
        least = (calls - 1) / rate
        seconds, sends, sent = await measure(recipients, rate, batch)
        over = f"{(seconds - least) / least * 100:+.0f} %" if least else "n/a"
        print(f"{rate:>7.1f}{batch:>7}{sends:>7}{least:>11.2f}{seconds:>14.2f}{over:>10}{sent:>7}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
