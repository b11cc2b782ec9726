"""The ``bulk`` command: choose a course (a group, a role), write the text, see how many
will receive it, confirm.

Forms (each platform's command form, answered privately like every command):

- ``bulk``: the courses the person may message in bulk;
- ``bulk COURSE``: that course's groups and roles, with how many people each;
- ``bulk COURSE [group NAME | role ROLE]: TEXT``: a draft; the answer says how many people
  will receive it and asks to confirm (buttons, or typed ``bulk confirm``);
- ``bulk confirm``, ``bulk cancel`` (a draft, or a message still going out), ``bulk status``.

Everything is read with the person's own token, so they see only what Pluto shows them.
"""

from __future__ import annotations

import time
from collections import Counter

from bridge.bulk import lms
from bridge.bulk.lms import Course, Participant
from bridge.bulk.progress import progress_html, what
from bridge.bulk.runner import BulkRunner
from bridge.inbound.relay import Answer
from bridge.lms.client import LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.model import Action, CommandEvent
from bridge.profile import Profile, Profiles
from bridge.render import escape
from bridge.store import bulk_jobs
from bridge.store.bulk_jobs import BulkBusy
from bridge.store.records import Link
from bridge.store.store import Store

PREFIX = "bulk"  # button ids "bulk:confirm:<job id>" and "bulk:cancel:<job id>"
MAX_BYTES = 4096  # Moodle's MESSAGE_MAX_LENGTH, counted in bytes (lms-api.md 4.2)
DRAFT_TTL = 3600  # seconds a draft may wait for its confirmation: participants change
USAGE = "bulk COURSE [group NAME | role ROLE]: TEXT"


class BadRequest(Exception):
    """What the person asked for cannot be done; the message says why, as safe HTML."""


def is_bulk_action(action_id: str) -> bool:
    """Whether a pressed button belongs to a bulk message."""
    return action_id.startswith(PREFIX + ":")


def _hint(profile: Profile, usage: str) -> str:
    return f"<code>{escape(profile.command(usage))}</code>"


def _pick_course(courses: list[Course], wanted: str) -> Course:
    key = wanted.casefold()
    for course in courses:
        if key in (course.shortname.casefold(), str(course.id), course.fullname.casefold()):
            return course
    names = ", ".join(escape(c.shortname) for c in courses) or "none"
    raise BadRequest(f"<p>You cannot message course {escape(wanted)} in bulk. Courses you can: {names}.</p>")


def _audience(words: str) -> tuple[str, str]:
    """``group Cohort A`` -> ("group", "Cohort A"); ``role student``; "" -> everyone."""
    kind, _, name = words.strip().partition(" ")
    kind = kind.casefold()
    if not kind:
        return "everyone", ""
    if kind in ("group", "role") and name.strip():
        return kind, name.strip().strip('"')
    raise BadRequest(
        f"<p>After the course, write <code>group NAME</code> or <code>role ROLE</code> (or nothing for "
        f"everyone), then a colon and your text; not {escape(words.strip())}.</p>"
    )


class BulkCommand:
    """Answers ``bulk`` and its buttons for one person."""

    def __init__(self, store: Store, client: LmsClient, runner: BulkRunner, profiles: Profiles | None = None) -> None:
        self.store = store
        self.client = client
        self.runner = runner
        self.profiles = profiles or Profiles()

    async def run(self, event: CommandEvent, link: Link) -> str | Answer:
        """One ``bulk`` command from a linked, active person."""
        profile = self.profiles[event.identity.platform]
        args = event.args.strip()
        word = args.casefold()
        try:
            if word == "confirm":
                return await self.confirm(link, None)
            if word == "cancel":
                return await self.cancel(link, None)
            if word == "status":
                return await self.status(link)
            if not args:
                return await self._courses(profile, link)
            head, colon, text = args.partition(":")
            course_word, _, audience = head.strip().partition(" ")
            course = _pick_course(await lms.teaching(self.client, link.token, link.lms_user_id), course_word)
            if not colon:
                return await self._course_choices(profile, link, course)
            return await self._draft(profile, link, course, _audience(audience), text.strip())
        except BadRequest as exc:
            return str(exc)
        except LmsError as exc:
            return f"<p>Pluto did not allow that: {escape(exc.message)}</p>"
        except LmsUnavailable:
            return "<p>Pluto cannot be reached just now; nothing was sent. Try again in a moment.</p>"

    async def _courses(self, profile: Profile, link: Link) -> str:
        courses = await lms.teaching(self.client, link.token, link.lms_user_id)
        if not courses:
            return "<p>You teach no course in Pluto where you may message everyone at once.</p>"
        rows = "".join(f"<li><b>{escape(c.shortname)}</b>: {escape(c.fullname)}</li>" for c in courses)
        return (
            f"<p>Courses you can message in bulk:</p><ul>{rows}</ul>"
            f"<p>Send {_hint(profile, 'bulk COURSE')} to see its groups and roles, then "
            f"{_hint(profile, USAGE)}.</p>"
        )

    async def _course_choices(self, profile: Profile, link: Link, course: Course) -> str:
        people = [p for p in await lms.participants(self.client, link.token, course.id) if p.id != link.lms_user_id]
        groups = Counter(g for p in people for g in p.groups)
        roles = Counter(r for p in people for r in p.roles)
        lines = [f"<li>everyone: {len(people)}</li>"]
        lines += [f"<li>group {escape(g)}: {n}</li>" for g, n in sorted(groups.items())]
        lines += [f"<li>role {escape(r)}: {n}</li>" for r, n in sorted(roles.items())]
        example = f"bulk {course.shortname} group NAME: TEXT" if groups else f"bulk {course.shortname}: TEXT"
        return (
            f"<p><b>{escape(course.fullname)}</b> ({escape(course.shortname)}), people besides you:</p>"
            f"<ul>{''.join(lines)}</ul><p>Then send {_hint(profile, example)}.</p>"
        )

    async def _recipients(self, link: Link, course: Course, kind: str, name: str) -> tuple[str, list[Participant]]:
        group_id = None
        if kind == "group":
            known = await lms.group_ids(self.client, link.token, course.id)
            match = next((gid for g, gid in known.items() if g.casefold() == name.casefold()), None)
            if match is None:
                names = ", ".join(escape(g) for g in sorted(known)) or "none you can see"
                raise BadRequest(f"<p>No group {escape(name)} in {escape(course.shortname)}. Groups: {names}.</p>")
            name = next(g for g, gid in known.items() if gid == match)
            group_id = match
        people = await lms.participants(self.client, link.token, course.id, group_id)
        people = [p for p in people if p.id != link.lms_user_id]
        if kind == "role":
            people = [p for p in people if name.casefold() in (r.casefold() for r in p.roles)]
        label = "everyone" if kind == "everyone" else f'{kind} "{name}"'
        return label, people

    async def _draft(
        self, profile: Profile, link: Link, course: Course, audience: tuple[str, str], text: str
    ) -> str | Answer:
        if not text:
            raise BadRequest(
                f"<p>Nothing to send: write your text after the colon, as in {_hint(profile, USAGE)}.</p>"
            )
        size = len(text.encode("utf-8"))
        if size > MAX_BYTES:
            raise BadRequest(
                f"<p>Your text is {size} bytes long; Pluto takes at most {MAX_BYTES} per message. Shorten it.</p>"
            )
        label, people = await self._recipients(link, course, *audience)
        if not people:
            raise BadRequest(f"<p>Nobody besides you in {escape(course.fullname)} ({escape(label)}).</p>")
        try:
            job = await bulk_jobs.save_draft(
                self.store,
                lms_user_id=link.lms_user_id,
                link_id=link.id,
                course_id=course.id,
                course_name=course.fullname,
                audience=label,
                text=text,
                recipients=[(p.id, p.fullname) for p in people],
            )
        except BulkBusy:
            return self._busy(profile)
        n = len(people)
        html = (
            f"<p>Send this to <b>{n} {'person' if n == 1 else 'people'}</b> in {what(job)}, one private message "
            f"each, as you ({escape(link.lms_fullname)})? Pluto's rules apply to each of them; whoever it does not "
            "let you reach is listed at the end.</p>"
            f"<blockquote>{escape(text)}</blockquote>"
            f"<p>Confirm with the button or {_hint(profile, 'bulk confirm')}; {_hint(profile, 'bulk cancel')} "
            "drops it.</p>"
        )
        actions = (
            Action(f"{PREFIX}:confirm:{job.id}", f"Send to {n}", style="primary"),
            Action(f"{PREFIX}:cancel:{job.id}", "Cancel", style="danger"),
        )
        return Answer(html, actions)

    @staticmethod
    def _busy(profile: Profile) -> str:
        return (
            "<p>You have a bulk message going out already: one at a time. "
            f"{_hint(profile, 'bulk status')} shows it, {_hint(profile, 'bulk cancel')} stops it.</p>"
        )

    async def confirm(self, link: Link, job_id: int | None) -> str:
        """Start the person's draft (the one named by a button, else their latest)."""
        job = await bulk_jobs.open_job_of(self.store, link.lms_user_id, "draft")
        if job is None or (job_id is not None and job.id != job_id):
            running = await bulk_jobs.open_job_of(self.store, link.lms_user_id, "running")
            if running is not None and (job_id is None or running.id == job_id):
                return "<p>That bulk message is going out already.</p>"
            return "<p>No bulk message is waiting for your confirmation.</p>"
        if time.time() - job.created_at > DRAFT_TTL:
            await bulk_jobs.cancel(self.store, job.id)
            return (
                "<p>That draft is more than an hour old, and the course may have changed: nothing was sent. "
                "Send the bulk command again to see who would receive it now.</p>"
            )
        if not await bulk_jobs.start(self.store, job.id):
            return "<p>That bulk message is going out already.</p>"
        self.runner.submit(job.id)
        return f"<p>Sending to {job.total} people in {what(job)}. Progress follows here.</p>"

    async def cancel(self, link: Link, job_id: int | None) -> str:
        """Drop the person's draft, or stop their bulk message before its next batch."""
        job = await bulk_jobs.open_job_of(self.store, link.lms_user_id)
        if job is None or (job_id is not None and job.id != job_id):
            return "<p>No bulk message of yours is waiting or going out.</p>"
        if not await bulk_jobs.cancel(self.store, job.id):
            return "<p>That bulk message has finished already.</p>"
        if job.status == "draft":
            return "<p>Bulk message dropped; nothing was sent.</p>"
        self.runner.submit(job.id)  # the running task ends after its batch; else this reports
        return "<p>Stopping the bulk message; nobody else will get it. A report follows.</p>"

    async def status(self, link: Link) -> str:
        """Where the person's bulk message is."""
        job = await bulk_jobs.open_job_of(self.store, link.lms_user_id)
        if job is None:
            return "<p>No bulk message of yours is waiting or going out.</p>"
        if job.status == "draft":
            return f"<p>A bulk message to {job.total} people in {what(job)} waits for your confirmation.</p>"
        counts = await bulk_jobs.counts(self.store, job.id)
        return progress_html(job, counts, self.profiles[link.identity.platform])

    async def action(self, link: Link, action_id: str) -> Answer:
        """A press of Send or Cancel under a draft; the pressed message loses its buttons."""
        _, verb, number = [*action_id.split(":"), "", ""][:3]
        job_id = int(number) if number.isdigit() else -1
        html = await (self.confirm(link, job_id) if verb == "confirm" else self.cancel(link, job_id))
        job = await bulk_jobs.job(self.store, job_id)
        retired = None
        if job is not None and job.lms_user_id == link.lms_user_id:
            retired = f"<p>Bulk message to {job.total} people in {what(job)}: {escape(job.status)}.</p>"
        return Answer(html, replace_html=retired)
