"""What the sender sees while a bulk message goes out: one progress message edited as it
goes ("Sent 40 of 120 ..."), or, where the platform cannot edit, a new one every 25 % at
most; then a final report naming who could not be reached and Pluto's reason for each.

Everything goes through the outbox (the sender's own lane, paced like any delivery), each
under an item key that is the same when repeated, so a resumed job never shows a step twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

from bridge.model import Platform
from bridge.profile import Profile, Profiles
from bridge.render import escape
from bridge.router import lane_of
from bridge.store import bulk_jobs
from bridge.store.bulk_jobs import BulkJob
from bridge.store.records import Link, NewDelivery
from bridge.store.store import Store

QUARTERS = 4  # platforms that cannot edit get a new message per quarter done, at most


def settled(counts: Counter[str]) -> int:
    """Recipients whose outcome is known (sent, refused or not sent because cancelled)."""
    return counts["sent"] + counts["refused"] + counts["cancelled"]


def what(job: BulkJob) -> str:
    """'Mentoring 101, group "Cohort A"' as safe HTML."""
    where = escape(job.course_name)
    return where if job.audience == "everyone" else f"{where}, {escape(job.audience)}"


def progress_html(job: BulkJob, counts: Counter[str], profile: Profile, status: str | None = None) -> str:
    """The progress line; ``status`` (done, cancelled) ends it."""
    sent, refused = counts["sent"], counts["refused"]
    line = f"Sent {sent} of {job.total} · bulk message to {what(job)}"
    if refused:
        line += f" · {refused} could not be reached"
    if status == "done":
        return f"<p>{line}. Finished.</p>"
    if status == "cancelled":
        return f"<p>{line}. Cancelled: {counts['cancelled']} not sent.</p>"
    return f"<p>{line} …</p><p>Send <code>{escape(profile.command('bulk cancel'))}</code> to stop it.</p>"


def report_html(job: BulkJob, counts: Counter[str], unreached: list[bulk_jobs.Recipient], cancelled: bool) -> str:
    """The final report: totals, then each person not reached with Pluto's reason."""
    head = "Bulk message cancelled" if cancelled else "Bulk message finished"
    html = f"<p><b>{head}</b>: sent to {counts['sent']} of {job.total} people in {what(job)}.</p>"
    if counts["cancelled"]:
        html += f"<p>Not sent because you cancelled it: {counts['cancelled']}.</p>"
    if unreached:
        rows = "".join(f"<li><b>{escape(r.fullname)}</b>: {escape(r.reason)}</li>" for r in unreached)
        html += f"<p>Could not be reached ({len(unreached)}):</p><ul>{rows}</ul>"
    elif not counts["cancelled"]:
        html += "<p>Everyone was reached.</p>"
    return html


class Progress:
    """Queues the progress message, its edits and the final report into the sender's chat."""

    def __init__(
        self,
        store: Store,
        edits: Mapping[Platform, bool],
        wake_dispatcher: Callable[[], None] = lambda: None,
        profiles: Profiles | None = None,
    ) -> None:
        self.store = store
        self.profiles = profiles or Profiles()
        self.edits = dict(edits)
        self.wake_dispatcher = wake_dispatcher

    @staticmethod
    def _key(job: BulkJob, part: str) -> str:
        return f"bulk:{job.id}:{part}"

    async def _queue(self, link: Link, key: str, payload: dict[str, object]) -> None:
        delivery = NewDelivery(key, link.id, link.identity.platform, lane_of(link.identity), payload)
        await self.store.enqueue([delivery])
        self.wake_dispatcher()

    async def started(self, job: BulkJob, link: Link) -> None:
        """The progress message (once per job, however often this is called)."""
        await self._queue(
            link,
            self._key(job, "progress"),
            {"kind": "bulk", "html": progress_html(job, Counter(), self.profiles[link.identity.platform])},
        )

    async def update(self, job: BulkJob, link: Link, counts: Counter[str], status: str | None = None) -> None:
        """Show where the job is: an edit of the progress message, or on a platform that
        cannot edit, a new message when another quarter is done (and at the end)."""
        done = settled(counts)
        if status is None and done <= job.reported:
            return
        edits = self.edits.get(link.identity.platform, True)
        if not edits and (status is not None or done >= job.total):
            return  # the final report follows as a new message anyway
        if not edits and status is None and done * QUARTERS // job.total <= job.reported * QUARTERS // job.total:
            return
        html = progress_html(job, counts, self.profiles[link.identity.platform], status)
        target = await self.store.delivery_of(self._key(job, "progress"), link.id)
        if target is None:
            return
        await self._queue(
            link, self._key(job, f"at-{done}-{status or ''}"), {"kind": "edit", "target": target.id, "html": html}
        )
        await bulk_jobs.set_reported(self.store, job.id, done)

    async def report(self, job: BulkJob, link: Link, counts: Counter[str], cancelled: bool) -> None:
        """The final report (once per job)."""
        unreached = await bulk_jobs.recipients(self.store, job.id, ("refused",))
        await self._queue(
            link, self._key(job, "report"), {"kind": "bulk", "html": report_html(job, counts, unreached, cancelled)}
        )
