"""The bulk command and runner in-process, against the sandbox LMS and a real store: clear
answers to bad input, and progress on a platform that cannot edit (a new message per
quarter at most)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from bridge.bulk.command import BulkCommand
from bridge.bulk.progress import Progress
from bridge.bulk.runner import BulkRunner
from bridge.config import BulkSettings
from bridge.inbound.relay import Answer
from bridge.lms.client import LmsClient
from bridge.model import ChatIdentity, CommandEvent, Platform
from bridge.store import bulk_jobs
from bridge.store.crypto import new_key
from bridge.store.records import Link
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS


@dataclass
class Bench:
    lms: SandboxLMS
    seed: DemoSeed
    store: Store
    client: LmsClient


@pytest.fixture
async def bench(lms: SandboxLMS, seed: DemoSeed, store_url: str) -> AsyncIterator[Bench]:
    store = await Store.open(store_url, new_key())
    async with LmsClient(lms.url, retries=0) as client:
        yield Bench(lms, seed, store, client)
    await store.close()


async def link_of(b: Bench, username: str, platform: Platform = Platform.TELEGRAM) -> Link:
    uid = b.seed.users[username]
    return await b.store.save_link(
        ChatIdentity(platform, "", username),
        lms_user_id=uid,
        lms_username=username,
        lms_fullname=username.title(),
        token=b.lms.issue_token(uid),
        room=username,
        address=None,
    )


def command(b: Bench, edits: bool = True, batch: int = 2) -> tuple[BulkCommand, BulkRunner]:
    progress = Progress(b.store, {Platform.TELEGRAM: edits})
    runner = BulkRunner(b.store, b.client, BulkSettings(requests_per_second=100, batch_size=batch), progress)
    return BulkCommand(b.store, b.client, runner), runner


async def ask(cmd: BulkCommand, link: Link, args: str) -> str | Answer:
    event = CommandEvent(identity=link.identity, event_id="e", room=link.identity.user_id, name="bulk", args=args)
    return await cmd.run(event, link)


def html(answer: str | Answer) -> str:
    return answer.html if isinstance(answer, Answer) else answer


async def test_bad_input_gets_an_answer_naming_the_problem(bench: Bench) -> None:
    cmd, _ = command(bench)
    mentor = await link_of(bench, "mentor")
    assert "You cannot message course BIO9 in bulk. Courses you can: MENT101" in html(
        await ask(cmd, mentor, "BIO9: hi")
    )
    assert "No group Cohort Z in MENT101. Groups: Cohort A." in html(
        await ask(cmd, mentor, "MENT101 group Cohort Z: hi")
    )
    assert "Nothing to send" in html(await ask(cmd, mentor, "MENT101 group Cohort A:   "))
    assert "write <code>group NAME</code> or <code>role ROLE</code>" in html(
        await ask(cmd, mentor, "MENT101 team A: hi")
    )
    long = html(await ask(cmd, mentor, "MENT101: " + "é" * 2049))
    assert "Your text is 4098 bytes long; Pluto takes at most 4096" in long  # bytes, as Moodle counts
    assert "Nobody besides you" in html(await ask(cmd, mentor, "MENT101 role manager: hi"))
    assert "No bulk message is waiting for your confirmation" in html(await ask(cmd, mentor, "confirm"))
    # A student holds no moodle/course:bulkmessaging anywhere.
    student = await link_of(bench, "mentee1")
    assert "You teach no course in Pluto" in html(await ask(cmd, student, ""))
    assert "You cannot message course MENT101 in bulk" in html(await ask(cmd, student, "MENT101: hi"))
    assert await bulk_jobs.open_job_of(bench.store, bench.seed.mentee1_id) is None  # nothing drafted


async def test_role_filter_counts_and_confirm_sends_to_those_only(bench: Bench) -> None:
    cmd, runner = command(bench)
    mentor = await link_of(bench, "mentor")
    draft = await ask(cmd, mentor, "MENT101 role student: Quiz on Monday")
    assert isinstance(draft, Answer) and "<b>2 people</b>" in draft.html
    assert [a.label for a in draft.actions] == ["Send to 2", "Cancel"]
    await ask(cmd, mentor, "confirm")
    job = await bulk_jobs.open_job_of(bench.store, bench.seed.mentor_id)
    assert job is not None and job.status == "running"
    await runner.wait(job.id)
    for mentee in (bench.seed.mentee1_id, bench.seed.mentee2_id):
        conv = bench.lms.conversation_between(bench.seed.mentor_id, mentee)
        assert [m["text"] for m in bench.lms.messages_in(conv or 0)] == ["Quiz on Monday"]


async def progress_posts(b: Bench, edits: bool) -> list[str]:
    """Progress shown for a bulk message to 20 students in batches of 2 (10 batches)."""
    for n in range(18):
        uid = b.lms.create_user(f"s{n}", "Passw0rd!", "S", str(n))
        b.lms.enrol(b.seed.course_id, uid, "student")
    cmd, runner = command(b, edits=edits, batch=2)
    mentor = await link_of(b, "mentor")
    await ask(cmd, mentor, "MENT101 role student: hello")
    await ask(cmd, mentor, "confirm")
    job = await bulk_jobs.open_job_of(b.store, b.seed.mentor_id)
    assert job is not None
    await runner.wait(job.id)
    return [str(d.payload["html"]) for d in await b.store.deliveries(link_id=mentor.id)]


async def test_a_platform_that_cannot_edit_gets_a_message_per_quarter_at_most(bench: Bench) -> None:
    posts = await progress_posts(bench, edits=False)
    updates = [p for p in posts if p.startswith("<p>Sent ") and "Sent 0 of" not in p]
    assert [p.split(" · ")[0] for p in updates] == ["<p>Sent 6 of 20", "<p>Sent 10 of 20", "<p>Sent 16 of 20"]
    assert sum("Bulk message finished" in p for p in posts) == 1


async def test_a_platform_that_edits_sees_every_batch(bench: Bench) -> None:
    posts = await progress_posts(bench, edits=True)
    updates = [p.split(" · ")[0] for p in posts if p.startswith("<p>Sent ") and "Sent 0 of" not in p]
    assert updates == [f"<p>Sent {n} of 20" for n in range(2, 21, 2)] + ["<p>Sent 20 of 20"]


async def test_a_draft_older_than_an_hour_is_not_sent(bench: Bench) -> None:
    cmd, _ = command(bench)
    mentor = await link_of(bench, "mentor")
    await ask(cmd, mentor, "MENT101: Yesterday's plan")
    async with bench.store.engine.begin() as conn:  # the draft waited two hours
        await conn.execute(update(bulk_jobs.bulk_jobs).values(created_at=time.time() - 7200))
    answer = html(await ask(cmd, mentor, "confirm"))
    assert "more than an hour old" in answer and "nothing was sent" in answer
    assert bench.lms.conversation_between(bench.seed.mentor_id, bench.seed.mentee1_id) is None
    assert await bulk_jobs.open_job_of(bench.store, bench.seed.mentor_id) is None
