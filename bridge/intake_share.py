"""Which linked people this replica reads from the LMS (issue 20).

Every replica beats its heart in the ``replicas`` table (``Leases.run``); those seen within
the lease time are alive. Each person is read by one of them: the one that scores highest
for the person's id (rendezvous hashing), so when a replica comes or goes only the people
that were or become its own move. Each cycle starts from the live replicas read afresh:
for one cycle after a change two replicas may both read a person, which queues nothing
twice (deliveries are unique per item and link, items per person and key).

A push reaching any replica is read there at once (``Pipeline.read_now``), owner or not:
the same unique keys make that safe, and it saves a hop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from bridge.leases import Leases


def score(replica: str, key: int | str) -> int:
    """The replica's weight for a person's id or another key (stable across processes and hosts)."""
    digest = hashlib.blake2b(f"{replica}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(replicas: list[str], key: int | str) -> str:
    """The replica that reads the person (or the group) ``key`` among ``replicas`` (not empty)."""
    return max(replicas, key=lambda replica: score(replica, key))


class IntakeShare:
    """This replica's share of the people, recomputed from the live replicas."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self.live: list[str] = [leases.holder]

    async def mine(self, lms_user_ids: Iterable[int]) -> list[int]:
        """The people of ``lms_user_ids`` this replica reads this cycle."""
        people = list(lms_user_ids)
        if self.leases.sole:
            return people
        live = await self._live()
        return [uid for uid in people if owner(live, uid) == self.leases.holder]

    async def groups(self, conversation_ids: Iterable[int]) -> list[int]:
        """The linked group conversations this replica reads for their rooms this cycle (one
        replica per group, as for people; keyed apart from the people's ids)."""
        groups = list(conversation_ids)
        if self.leases.sole:
            return groups
        live = await self._live()
        return [cid for cid in groups if owner(live, f"group:{cid}") == self.leases.holder]

    async def _live(self) -> list[str]:
        """The live replicas, read afresh (this one among them)."""
        live = await self.leases.live()
        if self.leases.holder not in live:  # its first heartbeat is not written yet
            live.append(self.leases.holder)
        self.live = live
        return live
