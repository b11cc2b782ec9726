"""Carries out confirmed bulk messages: as the sender, with their own token, one private
message per recipient through ``core_message_send_instant_messages``, in batches paced
within ``bulk.requests_per_second`` (one leaky bucket for all jobs, aiolimiter).

Pluto decides per recipient (privacy, blocks): a refusal is a normal result
(moodle-4.5-observed.md item 11) kept with Pluto's reason, retold with the person's name
(item 25). Each batch's recipients are marked ``sending`` in the store before the call;
after a crash, each of them is looked up in their conversation with the sender before
anything is sent again, and every try carries the same per-recipient ``clientmsgid``, so a
resumed job sends nobody twice. ``bulk cancel`` takes effect before the next batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiolimiter import AsyncLimiter

from bridge.bulk import lms
from bridge.bulk.progress import Progress
from bridge.config import BulkSettings
from bridge.lms.client import LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable, TokenRejected
from bridge.lms.refusals import explain_refusal
from bridge.store import bulk_jobs
from bridge.store.bulk_jobs import BulkJob, Recipient
from bridge.store.records import Link
from bridge.store.store import Store

log = logging.getLogger(__name__)

UNREACHABLE_PAUSE = 5.0  # seconds before trying a batch again when the LMS cannot be reached
MAYBE_SENT = "the bridge stopped while sending and Pluto cannot say whether it arrived; not sent again"
SIGNED_OUT = "your Pluto sign-in no longer works (send link to sign in again); not sent"


class BulkRunner:
    """Runs every confirmed job as its own task, all paced by one limiter."""

    def __init__(self, store: Store, client: LmsClient, settings: BulkSettings, progress: Progress) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.progress = progress
        # One request per 1/rate seconds, without bursts: the rate holds at any moment.
        self.limiter = AsyncLimiter(1, 1 / settings.requests_per_second)
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def submit(self, job_id: int) -> None:
        """A job was confirmed (or found running at start): carry it out."""
        if job_id in self._tasks:
            return
        task = asyncio.create_task(self._guarded(job_id), name=f"bulk job {job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def run(self) -> None:
        """Resume the jobs a previous process left running, then wait for the rest."""
        for job in await bulk_jobs.running_jobs(self.store):
            log.info("resuming bulk job %s of LMS user %s", job.id, job.lms_user_id)
            self.submit(job.id)
        try:
            await asyncio.Event().wait()
        finally:
            for task in list(self._tasks.values()):
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def wait(self, job_id: int) -> None:
        """Until the job's task ends (tests and the benchmark)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _guarded(self, job_id: int) -> None:
        while True:
            try:
                await self.process(job_id)
                return
            except LmsUnavailable as exc:  # Pluto down: wait, then go on where the store says
                log.warning("bulk job %s waits for Pluto: %s", job_id, exc)
                await asyncio.sleep(UNREACHABLE_PAUSE)
            except asyncio.CancelledError:
                raise
            except Exception:  # one broken job must not stop the others; it resumes at the next start
                log.exception("bulk job %s failed", job_id)
                return

    async def process(self, job_id: int) -> None:
        """Send to everyone still pending, batch by batch, then report."""
        job = await bulk_jobs.job(self.store, job_id)
        if job is None or job.status not in ("running", "cancelled"):
            return
        link = await self.store.link_by_id(job.link_id)
        if link is None:
            log.warning("bulk job %s: its sender's link is gone; cancelled", job.id)
            await bulk_jobs.cancel(self.store, job.id)
            return
        await self.progress.started(job, link)
        await self._settle_interrupted(job, link)
        while (job := await bulk_jobs.job(self.store, job_id)) is not None and job.status == "running":
            batch = await bulk_jobs.recipients(self.store, job.id, ("pending",), limit=self.settings.batch_size)
            if not batch:
                break
            if not await self._send(job, link, batch):
                break
            await self.progress.update(job, link, await bulk_jobs.counts(self.store, job.id))
        await self._finish(job_id, link)

    async def _settle_interrupted(self, job: BulkJob, link: Link) -> None:
        """Recipients left ``sending`` by a process that died: sent if their conversation
        with the sender shows the message, else pending again (sent at most once)."""
        for r in await bulk_jobs.recipients(self.store, job.id, ("sending",)):
            await self.limiter.acquire()
            try:
                arrived = await lms.already_sent(
                    self.client, link.token, job.lms_user_id, r.user_id, job.text, r.since or job.started_at or 0.0
                )
            except LmsUnavailable:
                raise
            except LmsError as exc:  # cannot look: report it, never send it again blindly
                log.warning("bulk job %s: cannot tell whether recipient %s got it: %s", job.id, r.user_id, exc)
                await bulk_jobs.settle(self.store, job.id, {r.user_id: ("refused", MAYBE_SENT)})
                continue
            log.info(
                "bulk job %s: recipient %s %s before the restart",
                job.id,
                r.user_id,
                "got it" if arrived else "did not get it",
            )
            await bulk_jobs.settle(self.store, job.id, {r.user_id: ("sent", "") if arrived else ("pending", "")})

    async def _send(self, job: BulkJob, link: Link, batch: Sequence[Recipient]) -> bool:
        """One batch; False when the job cannot go on (cancelled, sign-in gone)."""
        # Pace first, claim second: a cancel that lands while this batch waits its turn
        # stops it, rather than finding its recipients already claimed for sending.
        await self.limiter.acquire()
        claimed = await bulk_jobs.claim(self.store, job.id, [r.user_id for r in batch])
        if not claimed:
            return False  # cancelled meanwhile
        names = {r.user_id: r.fullname for r in batch}
        try:
            results = await lms.send_batch(self.client, link.token, job.id, [(uid, job.text) for uid in claimed])
        except TokenRejected:
            await bulk_jobs.settle(self.store, job.id, {uid: ("pending", "") for uid in claimed})
            await self._signed_out(job)
            return False
        except LmsUnavailable as exc:
            if exc.reached:  # it may have arrived: read the conversations, never resend blindly
                await self._settle_interrupted(job, link)
            else:
                await bulk_jobs.settle(self.store, job.id, {uid: ("pending", "") for uid in claimed})
            await asyncio.sleep(UNREACHABLE_PAUSE)
            return True
        except LmsError as exc:  # the whole call refused (messaging off, say): nobody got it
            reason = explain_refusal(exc.message, None)
            await bulk_jobs.settle(self.store, job.id, {uid: ("refused", reason) for uid in claimed})
            return True
        by_id = {str(r.get("clientmsgid") or ""): r for r in results}
        outcomes: dict[int, tuple[str, str]] = {}
        for uid in claimed:
            result = by_id.get(lms.client_msg_id(job.id, uid))
            refusal = lms.refusal_of(result) if result is not None else "Pluto gave no answer for this person"
            outcomes[uid] = ("sent", "") if refusal is None else ("refused", explain_refusal(refusal, names[uid]))
        await bulk_jobs.settle(self.store, job.id, outcomes)
        return True

    async def _signed_out(self, job: BulkJob) -> None:
        """The sender's token stopped working: nothing more can go as them."""
        pending = await bulk_jobs.recipients(self.store, job.id, ("pending",))
        await bulk_jobs.settle(self.store, job.id, {r.user_id: ("refused", SIGNED_OUT) for r in pending})

    async def _finish(self, job_id: int, link: Link) -> None:
        await bulk_jobs.finish(self.store, job_id)
        job = await bulk_jobs.job(self.store, job_id)
        assert job is not None
        if (await bulk_jobs.counts(self.store, job_id))["sending"]:
            await self._settle_interrupted(job, link)  # a cancel found a batch out, then the process died
            if job.status == "cancelled":
                await bulk_jobs.settle(
                    self.store,
                    job.id,
                    {
                        r.user_id: ("cancelled", "")
                        for r in await bulk_jobs.recipients(self.store, job.id, ("pending",))
                    },
                )
        counts = await bulk_jobs.counts(self.store, job_id)
        await self.progress.update(job, link, counts, job.status)
        await self.progress.report(job, link, counts, cancelled=job.status == "cancelled")
        log.info("bulk job %s %s: %s", job.id, job.status, dict(counts))
