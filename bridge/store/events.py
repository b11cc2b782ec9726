"""The inbound journal: events recorded before the platform is acknowledged, marked
processed when handled (so a redelivery is not handled twice), pruned when old.

The key (platform, event id) is unique: a redelivery reaching another replica is refused by
the database like one reaching the same process. Each row names the replica handling it;
another replica resumes it only once that one is gone (``claim_unfinished``)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, null, or_, select, update

from bridge.model import ChatIdentity, Platform
from bridge.store.core import StoreCore, _now
from bridge.store.records import DeliveryStatus
from bridge.store.schema import outbox, processed_events


class EventStore(StoreCore):
    """Reads and writes of ``processed_events``; pruning of old events and deliveries."""

    async def journal_event(self, platform: Platform, event_id: str, event: dict[str, Any]) -> bool:
        """Record an inbound event durably, before the platform is acknowledged, as
        "received"; False if it was recorded before (a redelivery: not handled twice)."""
        async with self._write() as conn:
            return await self._insert_new(
                conn,
                processed_events,
                {
                    "platform": platform.value,
                    "event_id": event_id,
                    "processed_at": _now(),
                    "status": "received",
                    "event": event,
                    "received_at": time.time(),
                    "replica": self.replica_id,
                },
                ("platform", "event_id"),
            )

    async def finish_event(self, platform: Platform, event_id: str, *, keep: bool = False) -> None:
        """Handling finished: the event is not resumed. Its content is dropped (nothing a
        person wrote is kept longer than needed) unless ``keep`` (a question about it is open)."""
        values: dict[str, Any] = {"status": "done", "processed_at": _now()}
        if not keep:
            values["event"] = null()  # SQL NULL, not JSON null
        async with self._write() as conn:
            await conn.execute(
                update(processed_events)
                .where(processed_events.c.platform == platform.value, processed_events.c.event_id == event_id)
                .values(**values)
            )

    async def take_event(
        self, platform: Platform, event_id: str, owner: ChatIdentity | None = None
    ) -> tuple[dict[str, Any], float] | None:
        """The kept content of a finished event, handed out once (a second take gets None);
        with ``owner``, only to the person who did it (a forged button id names another's)."""
        where = (
            processed_events.c.platform == platform.value,
            processed_events.c.event_id == event_id,
            processed_events.c.status == "done",
            processed_events.c.event.is_not(None),
        )
        async with self._write() as conn:
            query = select(processed_events.c.event, processed_events.c.received_at).where(*where)
            row = (await conn.execute(query)).first()
            if row is None or row.event is None:
                return None
            if owner is not None and _identity(row.event) != owner:
                return None
            await conn.execute(update(processed_events).where(*where).values(event=null()))
        return dict(row.event), float(row.received_at or 0.0)

    async def unfinished_events(self) -> list[tuple[dict[str, Any], float]]:
        """Events recorded but not handled to the end (the process died), oldest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(processed_events.c.event, processed_events.c.received_at)
                    .where(processed_events.c.status == "received", processed_events.c.event.is_not(None))
                    .order_by(processed_events.c.received_at)
                )
            ).all()
        return [(dict(r.event), float(r.received_at or 0.0)) for r in rows]

    async def claim_unfinished(self, live: Collection[str]) -> list[tuple[dict[str, Any], float]]:
        """Events recorded but not handled to the end by a replica no longer among ``live``
        (it died), oldest first; each becomes this replica's (``replica_id``) to finish, so
        no other replica takes it too."""
        where = (
            processed_events.c.status == "received",
            processed_events.c.event.is_not(None),
            or_(processed_events.c.replica.is_(None), processed_events.c.replica.not_in(list(live))),
        )
        async with self._write() as conn:
            rows = (
                await conn.execute(
                    select(
                        processed_events.c.platform,
                        processed_events.c.event_id,
                        processed_events.c.event,
                        processed_events.c.received_at,
                    )
                    .where(*where)
                    .order_by(processed_events.c.received_at)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for r in rows:
                await conn.execute(
                    update(processed_events)
                    .where(processed_events.c.platform == r.platform, processed_events.c.event_id == r.event_id)
                    .values(replica=self.replica_id)
                )
        return [(dict(r.event), float(r.received_at or 0.0)) for r in rows]

    async def prune(self, *, events_older_than: int = 7 * 86400, sent_older_than: int = 30 * 86400) -> None:
        """Forget old processed-event ids and old sent deliveries."""
        now = _now()
        async with self._write() as conn:
            await conn.execute(
                delete(processed_events).where(processed_events.c.processed_at < now - events_older_than)
            )
            await conn.execute(
                delete(outbox).where(
                    or_(outbox.c.status == DeliveryStatus.SENT, outbox.c.status == DeliveryStatus.DEAD),
                    outbox.c.created_at < now - sent_older_than,
                )
            )


def _identity(event: dict[str, Any]) -> ChatIdentity | None:
    """Who did a journalled event (``bridge.journal.event_to_json``'s ``identity``)."""
    ident = event.get("identity") or {}
    try:
        return ChatIdentity(Platform(ident["platform"]), str(ident["workspace"]), str(ident["user_id"]))
    except (KeyError, ValueError):
        return None
