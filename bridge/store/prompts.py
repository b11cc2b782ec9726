"""Open reason prompts: a decision that waits for the reason its person types.

Where a platform asks for the reason with a message of its own (Telegram's ForceReply), the
decision waits here, keyed by that question, until the person replies to it. Kept in the
store, so a reason typed after a restart still decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Column, Float, PrimaryKeyConstraint, String, Table, delete, insert, null, select, update

from bridge.model import ChatIdentity, SentRef
from bridge.store.core import StoreCore
from bridge.store.schema import metadata, processed_events

KEEP_FOR = 7 * 86400  # seconds a prompt stays answerable (and an answered one known as such)

reason_prompts = Table(
    "reason_prompts",
    metadata,
    Column("platform", String(16), nullable=False),
    Column("room", String(255), nullable=False),
    Column("message_id", String(255), nullable=False),  # the question the bridge asked
    Column("workspace", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),  # whose prompt it is
    Column("action_id", String(255), nullable=False),  # the decision waiting for its reason
    Column("created_at", Float, nullable=False),
    Column("answered_at", Float),
    PrimaryKeyConstraint("platform", "room", "message_id"),
)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A decision waiting for a reason; ``answered`` once a reply took it."""

    action_id: str
    answered: bool


class Prompts:
    """Queries on ``reason_prompts``, on the store's engine and write queue (``StoreCore``:
    the ``Store`` facade or any of its table groups)."""

    def __init__(self, store: StoreCore) -> None:
        self.store = store

    async def open(self, identity: ChatIdentity, question: SentRef, action_id: str, event_id: str) -> None:
        """Remember that ``question`` (sent to ``identity``) asks the reason for ``action_id``;
        in the same transaction, the inbound event ``event_id`` that opened it is finished
        (a crash leaves either both or neither, and a resumed event opens it again)."""
        now = time.time()
        key = (
            (reason_prompts.c.platform == identity.platform.value)
            & (reason_prompts.c.room == question.room)
            & (reason_prompts.c.message_id == question.message_id)
        )
        async with self.store._write() as conn:
            await conn.execute(delete(reason_prompts).where((reason_prompts.c.created_at < now - KEEP_FOR) | key))
            await conn.execute(
                update(processed_events)
                .where(
                    (processed_events.c.platform == identity.platform.value)
                    & (processed_events.c.event_id == event_id)
                )
                .values(status="done", processed_at=int(now), event=null())
            )
            await conn.execute(
                insert(reason_prompts).values(
                    platform=identity.platform.value,
                    room=question.room,
                    message_id=question.message_id,
                    workspace=identity.workspace,
                    user_id=identity.user_id,
                    action_id=action_id,
                    created_at=now,
                )
            )

    async def take(self, identity: ChatIdentity, room: str, message_id: str) -> Prompt | None:
        """The prompt ``message_id`` in ``room`` if it is ``identity``'s, marked answered (a
        second reply gets it with ``answered`` set); None for any other message."""
        key = (
            (reason_prompts.c.platform == identity.platform.value)
            & (reason_prompts.c.room == room)
            & (reason_prompts.c.message_id == message_id)
            & (reason_prompts.c.workspace == identity.workspace)
            & (reason_prompts.c.user_id == identity.user_id)
        )
        async with self.store._write() as conn:
            row = (await conn.execute(select(reason_prompts).where(key))).first()
            if row is None:
                return None
            if row.answered_at is None:
                await conn.execute(update(reason_prompts).where(key).values(answered_at=time.time()))
        return Prompt(row.action_id, answered=row.answered_at is not None)
