"""How often a kind of read comes round for each person: adaptive, bounded.

A person with recent activity (something found, a push, a mark-read from chat, linking) is
read at the base interval; the longer they stay idle, the longer the gap, up to a ceiling.
Each person has a stable moment within their gap, so that people who went idle together
do not fall due in the same cycle. Nothing known of a person (the process just started)
counts as idle: first reads are spread over one gap rather than all in the first cycle,
which at 10,000 people would take the request budget minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# An idle person's gap is about this share of how long they have been idle (bounded by base
# and ceiling): idle 4 minutes, read every minute.
IDLE_STRETCH = 0.25
GOLDEN = 0.6180339887


def share(lms_user_id: int) -> float:
    """A stable number in [0, 1) per person, evenly spread over consecutive ids."""
    return (lms_user_id * GOLDEN) % 1.0


class Cadence:
    """Per-person schedule of one kind of read (messages, notifications, push sweeps).

    An idle person is read once per gap, at their own moment within it (a stable share of
    the gap): however many go idle together, their reads stay spread evenly over the cycles.
    Gaps are the base doubled as often as the idle time allows, then the ceiling, so the
    moments stay put while a person's idleness grows."""

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
        stretched = (self.clock() - self._active.get(lms_user_id, float("-inf"))) * IDLE_STRETCH
        gap = self.base
        while gap < self.ceiling and gap * 2 <= stretched:
            gap *= 2
        return min(gap, self.ceiling) if stretched >= self.ceiling else gap

    def due(self, lms_user_id: int) -> bool:
        """Whether the person's next read has come round: active people every cycle, idle
        ones once their moment in the gap has passed since the last read (never read since
        the start: since the start, which spreads first reads over one gap)."""
        gap = self.interval(lms_user_id)
        if gap <= self.base:
            return True
        phase = share(lms_user_id) * gap
        last = self._read.get(lms_user_id, self.started)
        return (self.clock() + phase) // gap > (last + phase) // gap

    def forget(self, lms_user_id: int) -> None:
        """Drop what is known of the person (unlinked)."""
        self._active.pop(lms_user_id, None)
        self._read.pop(lms_user_id, None)
