"""Store of bulk messages from chat: each job and each recipient's state.

A job is a ``draft`` until its sender confirms, then ``running`` until every recipient is
settled (``done``) or the sender cancels (``cancelled``). A recipient goes ``pending`` ->
``sending`` (written before the LMS call) -> ``sent`` | ``refused`` (with Pluto's reason),
or ``cancelled`` when the job stops first. A recipient left ``sending`` by a process that
died is checked in the LMS before anything is sent again. Works on any ``Store`` (its
engine and write lock), apart from its hot path.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Table, Text, bindparam, delete, func, insert, select, update

from bridge.store.schema import metadata
from bridge.store.store import Store

OPEN = ("draft", "running")

bulk_jobs = Table(
    "bulk_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lms_user_id", Integer, nullable=False, index=True),
    Column("link_id", Integer, nullable=False),  # the chat the sender asked from: progress goes there
    Column("course_id", Integer, nullable=False),
    Column("course_name", String(255), nullable=False),
    Column("audience", String(255), nullable=False),  # "everyone" | 'group "X"' | 'role "student"'
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),  # draft | running | done | cancelled
    Column("total", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("reported", Integer, nullable=False, default=0),  # recipients settled at the last progress shown
)

bulk_recipients = Table(
    "bulk_recipients",
    metadata,
    Column("job_id", Integer, primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("fullname", String(255), nullable=False),
    Column("state", String(16), nullable=False),  # pending | sending | sent | refused | cancelled
    Column("reason", Text, nullable=False, default=""),
    Column("since", Float),  # when the send began (``sending``) or settled
)


@dataclass(frozen=True, slots=True)
class BulkJob:
    """A bulk message as stored."""

    id: int
    lms_user_id: int
    link_id: int
    course_id: int
    course_name: str
    audience: str
    text: str
    status: str
    total: int
    created_at: float
    started_at: float | None
    reported: int


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient of a job and what became of them."""

    user_id: int
    fullname: str
    state: str
    reason: str
    since: float | None


class BulkBusy(Exception):
    """The person already has a bulk message running: one at a time."""


def _job(r: Any) -> BulkJob:
    return BulkJob(
        r.id,
        r.lms_user_id,
        r.link_id,
        r.course_id,
        r.course_name,
        r.audience,
        r.text,
        r.status,
        r.total,
        r.created_at,
        r.started_at,
        r.reported,
    )


async def save_draft(
    store: Store,
    *,
    lms_user_id: int,
    link_id: int,
    course_id: int,
    course_name: str,
    audience: str,
    text: str,
    recipients: Sequence[tuple[int, str]],
) -> BulkJob:
    """A new draft for the person (replacing an earlier draft); ``BulkBusy`` while one of
    theirs is running."""
    async with store._write() as conn:
        running = (
            await conn.execute(
                select(bulk_jobs.c.id).where(bulk_jobs.c.lms_user_id == lms_user_id, bulk_jobs.c.status == "running")
            )
        ).first()
        if running is not None:
            raise BulkBusy(f"bulk message {running.id} is still running")
        old = [
            r.id
            for r in await conn.execute(
                select(bulk_jobs.c.id).where(bulk_jobs.c.lms_user_id == lms_user_id, bulk_jobs.c.status == "draft")
            )
        ]
        if old:
            await conn.execute(delete(bulk_recipients).where(bulk_recipients.c.job_id.in_(old)))
            await conn.execute(delete(bulk_jobs).where(bulk_jobs.c.id.in_(old)))
        result = await conn.execute(
            insert(bulk_jobs).values(
                lms_user_id=lms_user_id,
                link_id=link_id,
                course_id=course_id,
                course_name=course_name,
                audience=audience,
                text=text,
                status="draft",
                total=len(recipients),
                created_at=time.time(),
                reported=0,
            )
        )
        job_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        if recipients:
            await conn.execute(
                insert(bulk_recipients),
                [
                    {
                        "job_id": job_id,
                        "user_id": uid,
                        "position": n,
                        "fullname": name,
                        "state": "pending",
                        "reason": "",
                    }
                    for n, (uid, name) in enumerate(recipients)
                ],
            )
        row = (await conn.execute(select(bulk_jobs).where(bulk_jobs.c.id == job_id))).one()
    return _job(row)


async def job(store: Store, job_id: int) -> BulkJob | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(bulk_jobs).where(bulk_jobs.c.id == job_id))).first()
    return _job(row) if row is not None else None


async def open_job_of(store: Store, lms_user_id: int, status: str | None = None) -> BulkJob | None:
    """The person's draft or running job (only of ``status`` when given)."""
    wanted = (status,) if status else OPEN
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(
                select(bulk_jobs)
                .where(bulk_jobs.c.lms_user_id == lms_user_id, bulk_jobs.c.status.in_(wanted))
                .order_by(bulk_jobs.c.id.desc())
            )
        ).first()
    return _job(row) if row is not None else None


async def running_jobs(store: Store) -> list[BulkJob]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(bulk_jobs).where(bulk_jobs.c.status == "running"))).all()
    return [_job(r) for r in rows]


async def start(store: Store, job_id: int) -> bool:
    """Draft -> running; False when it is no draft any more (a second confirm)."""
    async with store._write() as conn:
        result = await conn.execute(
            update(bulk_jobs)
            .where(bulk_jobs.c.id == job_id, bulk_jobs.c.status == "draft")
            .values(status="running", started_at=time.time())
        )
    return bool(result.rowcount)


async def cancel(store: Store, job_id: int) -> bool:
    """Stop a draft or running job: recipients not yet sent to are ``cancelled`` (one being
    sent to now stays ``sending`` for the runner to settle). False if it was not open."""
    async with store._write() as conn:
        result = await conn.execute(
            update(bulk_jobs)
            .where(bulk_jobs.c.id == job_id, bulk_jobs.c.status.in_(OPEN))
            .values(status="cancelled", finished_at=time.time())
        )
        if not result.rowcount:
            return False
        await conn.execute(
            update(bulk_recipients)
            .where(bulk_recipients.c.job_id == job_id, bulk_recipients.c.state == "pending")
            .values(state="cancelled", since=time.time())
        )
    return True


async def finish(store: Store, job_id: int) -> None:
    """Running -> done (a cancelled job stays cancelled)."""
    async with store._write() as conn:
        await conn.execute(
            update(bulk_jobs)
            .where(bulk_jobs.c.id == job_id, bulk_jobs.c.status == "running")
            .values(status="done", finished_at=time.time())
        )


async def set_reported(store: Store, job_id: int, settled: int) -> None:
    async with store._write() as conn:
        await conn.execute(update(bulk_jobs).where(bulk_jobs.c.id == job_id).values(reported=settled))


async def recipients(store: Store, job_id: int, states: Iterable[str] | None = None, limit: int = 0) -> list[Recipient]:
    """Recipients in their order, only those in ``states`` when given, at most ``limit``."""
    query = select(bulk_recipients).where(bulk_recipients.c.job_id == job_id).order_by(bulk_recipients.c.position)
    if states is not None:
        query = query.where(bulk_recipients.c.state.in_(tuple(states)))
    if limit:
        query = query.limit(limit)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Recipient(r.user_id, r.fullname, r.state, r.reason, r.since) for r in rows]


async def claim(store: Store, job_id: int, user_ids: Sequence[int]) -> list[int]:
    """Mark pending recipients ``sending`` before their send, while the job still runs;
    returns those claimed (none once the job was cancelled)."""
    now = time.time()
    async with store._write() as conn:
        status = (await conn.execute(select(bulk_jobs.c.status).where(bulk_jobs.c.id == job_id))).scalar()
        if status != "running":
            return []
        rows = await conn.execute(
            select(bulk_recipients.c.user_id).where(
                bulk_recipients.c.job_id == job_id,
                bulk_recipients.c.user_id.in_(tuple(user_ids)),
                bulk_recipients.c.state == "pending",
            )
        )
        claimed = [r.user_id for r in rows]
        if claimed:
            await conn.execute(
                update(bulk_recipients)
                .where(bulk_recipients.c.job_id == job_id, bulk_recipients.c.user_id.in_(claimed))
                .values(state="sending", since=now)
            )
    return claimed


async def settle(store: Store, job_id: int, outcomes: Mapping[int, tuple[str, str]]) -> None:
    """Record each recipient's (state, reason), all in one statement (executemany)."""
    if not outcomes:
        return
    statement = (
        update(bulk_recipients)
        .where(bulk_recipients.c.job_id == job_id, bulk_recipients.c.user_id == bindparam("b_user"))
        .values(state=bindparam("b_state"), reason=bindparam("b_reason"), since=time.time())
    )
    rows = [{"b_user": uid, "b_state": state, "b_reason": reason} for uid, (state, reason) in outcomes.items()]
    async with store._write() as conn:
        await conn.execute(statement, rows)


async def counts(store: Store, job_id: int) -> Counter[str]:
    """How many recipients are in each state."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(bulk_recipients.c.state, func.count())
            .where(bulk_recipients.c.job_id == job_id)
            .group_by(bulk_recipients.c.state)
        )
        return Counter({r[0]: int(r[1]) for r in rows})
