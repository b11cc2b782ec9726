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


def score(replica: str, lms_user_id: int) -> int:
    """The replica's weight for the person (stable across processes and hosts)."""
    digest = hashlib.blake2b(f"{replica}\x00{lms_user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(replicas: list[str], lms_user_id: int) -> str:
    """The replica that reads the person among ``replicas`` (not empty)."""
    return max(replicas, key=lambda replica: score(replica, lms_user_id))


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
        live = await self.leases.live()
        if self.leases.holder not in live:  # its first heartbeat is not written yet
            live.append(self.leases.holder)
        self.live = live
        me = self.leases.holder
        return [uid for uid in people if owner(live, uid) == me]
