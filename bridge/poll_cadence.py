"""How often a kind of read comes round for each person: adaptive, bounded.

A person with recent activity (something found, a push, a mark-read from chat, linking) is
read at the base interval; the longer they stay idle, the longer the gap, up to a ceiling.
Gaps carry a stable per-person spread, so that people who went idle together do not all
fall due in the same cycle again. Nothing known of a person (the process just started)
counts as idle: first reads are spread over one gap rather than all in the first cycle,
which at 10,000 people would take the request budget minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# An idle person's gap is this share of how long they have been idle (bounded by base and
# ceiling): idle 4 minutes, read every minute.
IDLE_STRETCH = 0.25
# Gaps longer than the base are shortened by up to this share, per person (a stable hash):
# people who went idle together drift apart over the cycles.
SPREAD = 0.2
GOLDEN = 0.6180339887


def share(lms_user_id: int) -> float:
    """A stable number in [0, 1) per person, evenly spread over consecutive ids."""
    return (lms_user_id * GOLDEN) % 1.0


class Cadence:
    """Per-person schedule of one kind of read (messages, notifications, push sweeps)."""

    def __init__(self, base: float, ceiling: float, clock: Callable[[], float] = time.monotonic) -> None:
        """``base``: the gap for active people; ``ceiling``: the longest gap (at least ``base``)."""
        self.base = base
        self.ceiling = max(base, ceiling)
        self.clock = clock
        self.started = clock()
        self._active: dict[int, float] = {}
        self._read: dict[int, float] = {}

    def active(self, lms_user_id: int) -> None:
        """Something happened for the person: back to the base interval."""
        self._active[lms_user_id] = self.clock()

    def read(self, lms_user_id: int) -> None:
        """The person was just read."""
        self._read[lms_user_id] = self.clock()

    def interval(self, lms_user_id: int) -> float:
        """The person's gap between two reads now."""
        idle = self.clock() - self._active.get(lms_user_id, float("-inf"))
        gap = min(self.ceiling, max(self.base, idle * IDLE_STRETCH))
        if gap <= self.base:
            return gap
        return max(self.base, gap * (1.0 - SPREAD * share(lms_user_id)))

    def due(self, lms_user_id: int) -> bool:
        """Whether the person's next read has come round."""
        gap = self.interval(lms_user_id)
        if gap <= self.base:
            return True  # active: every cycle
        last = self._read.get(lms_user_id)
        if last is None:
            return self.clock() - self.started >= share(lms_user_id) * gap
        # Half a base interval early at most: a read happens somewhere within its cycle,
        # while cycles start an interval apart.
        return self.clock() - last >= gap - self.base / 2

    def forget(self, lms_user_id: int) -> None:
        """Drop what is known of the person (unlinked)."""
        self._active.pop(lms_user_id, None)
        self._read.pop(lms_user_id, None)
