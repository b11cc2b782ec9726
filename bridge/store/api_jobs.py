"""Store queries of the Send Message API: keys, jobs and per-recipient outcomes.

Kept apart from ``Store``'s hot path; works on any ``Store`` (its engine and write lock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge.store.schema import api_jobs, api_keys, api_recipients, links, outbox
from bridge.store.store import Store


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: never the key itself, only its hash and a prefix to name it."""

    id: int
    name: str
    prefix: str
    sender_user_id: int
    sender_username: str
    sender_fullname: str
    scopes: tuple[str, ...]
    rate_per_minute: int
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class RecipientRow:
    """One recipient of a job and what became of them so far."""

    job_id: str
    position: int
    spec: dict[str, Any]
    lms_user_id: int | None
    fullname: str
    chat: str
    chat_reason: str
    chat_after: float | None
    pluto: str
    pluto_reason: str


@dataclass(frozen=True, slots=True)
class JobRow:
    """A send request as accepted, with its recipients."""

    id: str
    key_id: int
    request: dict[str, Any]
    status: str
    created_at: float
    finished_at: float | None
    recipients: list[RecipientRow] = field(default_factory=list)


class KeyNameTaken(ValueError):
    """Another key already has this name."""


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with a different request."""


def _key(row: Any) -> ApiKey:
    return ApiKey(
        row.id,
        row.name,
        row.prefix,
        row.sender_user_id,
        row.sender_username,
        row.sender_fullname,
        tuple(row.scopes or ()),
        row.rate_per_minute,
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )


def _recipient(row: Any) -> RecipientRow:
    return RecipientRow(
        row.job_id,
        row.position,
        dict(row.spec),
        row.lms_user_id,
        row.fullname,
        row.chat,
        row.chat_reason,
        row.chat_after,
        row.pluto,
        row.pluto_reason,
    )


# --- keys ------------------------------------------------------------------------------


async def create_key(store: Store, **values: Any) -> ApiKey:
    """Store a new key (``key_hash``, ``prefix``, ``name``, sender, ``scopes``, rate)."""
    async with store._write() as conn:
        taken = (await conn.execute(select(api_keys.c.id).where(api_keys.c.name == values["name"]))).first()
        if taken is not None:
            raise KeyNameTaken(f"an API key named {values['name']!r} exists already")
        await conn.execute(insert(api_keys).values(created_at=int(time.time()), **values))
        row = (await conn.execute(select(api_keys).where(api_keys.c.name == values["name"]))).one()
    return _key(row)


async def list_keys(store: Store) -> list[ApiKey]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys).order_by(api_keys.c.id))).all()
    return [_key(r) for r in rows]


async def revoke_key(store: Store, name: str) -> bool:
    """Revoke the key named ``name``; False when there is no such live key."""
    async with store._write() as conn:
        result = await conn.execute(
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=int(time.time()))
        )
    return bool(result.rowcount)


async def live_key(store: Store, key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash, if any."""
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)))
        ).first()
    return _key(row) if row else None


async def touch_key(store: Store, key_id: int) -> None:
    async with store._write() as conn:
        await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=int(time.time())))


# --- people the store knows ---------------------------------------------------------------


async def linked_people(store: Store, field_name: str, values: list[str]) -> dict[str, tuple[int, str]]:
    """Linked Pluto users by ``id`` or ``username``: value -> (user id, full name)."""
    column = links.c.lms_user_id if field_name == "id" else links.c.lms_username
    wanted: list[Any] = [int(v) for v in values] if field_name == "id" else list(values)
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(links.c.lms_user_id, links.c.lms_username, links.c.lms_fullname).where(column.in_(wanted))
            )
        ).all()
    key = "lms_user_id" if field_name == "id" else "lms_username"
    return {str(getattr(r, key)): (int(r.lms_user_id), str(r.lms_fullname)) for r in rows}


# --- jobs ------------------------------------------------------------------------------


async def create_job(
    store: Store,
    job_id: str,
    key_id: int,
    idempotency_key: str | None,
    request_hash: str,
    request: dict[str, Any],
    specs: list[dict[str, Any]],
) -> tuple[str, bool]:
    """Record a job and its recipients in one transaction; returns (job id, created).

    With an ``idempotency_key`` that this key used before, nothing is created and the
    earlier job's id comes back (``IdempotencyConflict`` when the request differs)."""
    for _ in range(2):  # a concurrent twin wins the unique constraint: read its job then
        try:
            async with store._write() as conn:
                if idempotency_key is not None:
                    earlier = (
                        await conn.execute(
                            select(api_jobs.c.id, api_jobs.c.request_hash).where(
                                api_jobs.c.key_id == key_id, api_jobs.c.idempotency_key == idempotency_key
                            )
                        )
                    ).first()
                    if earlier is not None:
                        if earlier.request_hash != request_hash:
                            raise IdempotencyConflict("this Idempotency-Key was used with a different request")
                        return str(earlier.id), False
                await conn.execute(
                    insert(api_jobs).values(
                        id=job_id,
                        key_id=key_id,
                        idempotency_key=idempotency_key,
                        request_hash=request_hash,
                        request=request,
                        status="accepted",
                        created_at=time.time(),
                    )
                )
                await conn.execute(
                    insert(api_recipients),
                    [{"job_id": job_id, "position": n, "spec": spec} for n, spec in enumerate(specs)],
                )
            return job_id, True
        except IntegrityError:
            continue
    raise IdempotencyConflict("this Idempotency-Key is in use by a request still being recorded")


async def job(store: Store, job_id: str) -> JobRow | None:
    """The job and its recipients, in request order."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(api_jobs).where(api_jobs.c.id == job_id))).first()
        if row is None:
            return None
        rows = (
            await conn.execute(
                select(api_recipients).where(api_recipients.c.job_id == job_id).order_by(api_recipients.c.position)
            )
        ).all()
    recipients = [_recipient(r) for r in rows]
    return JobRow(row.id, row.key_id, dict(row.request), row.status, row.created_at, row.finished_at, recipients)


async def open_job_ids(store: Store) -> list[str]:
    """Jobs not finished yet (a restart resumes them), oldest first."""
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(api_jobs.c.id).where(api_jobs.c.status == "accepted").order_by(api_jobs.c.created_at)
            )
        ).all()
    return [str(r.id) for r in rows]


async def update_recipient(store: Store, job_id: str, position: int, **values: Any) -> None:
    async with store._write() as conn:
        await conn.execute(
            update(api_recipients)
            .where(api_recipients.c.job_id == job_id, api_recipients.c.position == position)
            .values(**values)
        )


async def finish_job(store: Store, job_id: str) -> None:
    async with store._write() as conn:
        await conn.execute(
            update(api_jobs).where(api_jobs.c.id == job_id).values(status="done", finished_at=time.time())
        )


async def chat_outcomes(store: Store, item_keys: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Outbox (status, last error) of each item key's deliveries."""
    if not item_keys:
        return {}
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.item_key, outbox.c.status, outbox.c.last_error).where(outbox.c.item_key.in_(item_keys))
            )
        ).all()
    found: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        found.setdefault(str(r.item_key), []).append((str(r.status), str(r.last_error)))
    return found
