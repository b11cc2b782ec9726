"""What ``find``, ``to`` and ``msg`` remember per link: the last numbered list, and a `to`
that found nobody (bridge.inbound.people).

Kept in the store, so "to 2" still means the second of the list shown before a restart, and a
line typed right after a failed ``to`` is held on any replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Float, Integer, Table, Text, select

from bridge.store.core import StoreCore
from bridge.store.schema import metadata

people_choices = Table(
    "people_choices",
    metadata,
    Column("link_id", Integer, primary_key=True),
    Column("choices", JSON, nullable=False),  # the last numbered list: [[conversation, peer, name], ...]
    Column("failed_to", Text),  # the NAME of a `to` that found nobody; the next plain line is held
    Column("updated_at", Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Target:
    """Where plain text can go: a conversation, a person (whose private conversation may not
    exist yet: the first send creates it), or both for a known private conversation."""

    conversation_id: int | None
    peer_id: int | None
    name: str

    def to_json(self) -> list[Any]:
        return [self.conversation_id, self.peer_id, self.name]

    @classmethod
    def from_json(cls, data: list[Any]) -> Target:
        conversation, peer, name = data
        return cls(conversation, peer, str(name))


@dataclass(frozen=True, slots=True)
class PeopleState:
    """A link's last numbered list and its failed ``to`` (None when the last one found someone)."""

    choices: tuple[Target, ...] = ()
    failed_to: str | None = None


class PeopleMemory:
    """Queries on ``people_choices``, on the store's engine and write queue."""

    def __init__(self, store: StoreCore) -> None:
        self.store = store

    async def state(self, link_id: int) -> PeopleState:
        """The link's list and failed ``to``; empty when nothing was listed yet."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(people_choices).where(people_choices.c.link_id == link_id))).first()
        if row is None:
            return PeopleState()
        return PeopleState(tuple(Target.from_json(c) for c in row.choices or []), row.failed_to)

    async def listed(self, link_id: int, choices: list[Target]) -> None:
        """A new numbered list was shown: numbers now mean its entries."""
        await self._set(link_id, {"choices": [c.to_json() for c in choices]})

    async def failed(self, link_id: int, name: str | None) -> None:
        """A ``to NAME`` found nobody (``name``), or the person chose somewhere (None)."""
        await self._set(link_id, {"failed_to": name})

    async def _set(self, link_id: int, values: dict[str, Any]) -> None:
        row = {"link_id": link_id, "choices": [], "failed_to": None, **values, "updated_at": time.time()}
        async with self.store._write() as conn:
            await self.store._upsert(conn, people_choices, row, ("link_id",), (*values, "updated_at"))
