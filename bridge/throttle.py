"""Failed sign-ins counted per key (Pluto username, chat identity, client address) in a
sliding window, so password guessing on the sign-in page stops after a few tries."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Throttled(Exception):
    """Too many failed sign-ins for one of the keys; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` failures per ``window`` seconds for one key of a kind."""

    count: int
    window: float


class SignInThrottle:
    """Sliding-window counters of failed sign-ins, one per (kind, key).

    ``limits`` maps a kind (``username``, ``identity``, ``address``) to its limit. Kept in
    memory: a restart forgets the counts, which costs an attacker a restart each time.
    """

    def __init__(self, limits: Mapping[str, Limit], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, kind: str, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault((kind, key), deque())
        window = self.limits[kind].window
        while times and times[0] <= now - window:
            times.popleft()
        return times

    def check(self, keys: Mapping[str, str]) -> None:
        """Raise ``Throttled`` when any key of ``keys`` (kind -> key) is at its limit."""
        now = self.clock()
        wait = 0.0
        for kind, key in keys.items():
            if not key or kind not in self.limits:
                continue
            limit = self.limits[kind]
            times = self._recent(kind, key, now)
            if len(times) >= limit.count:
                wait = max(wait, times[len(times) - limit.count] + limit.window - now)
                log.warning("sign-in refused: %s %r reached %d failed sign-ins", kind, key, limit.count)
        if wait > 0:
            raise Throttled(wait)

    def failed(self, keys: Mapping[str, str]) -> None:
        """Count one failed sign-in against every key."""
        now = self.clock()
        for kind, key in keys.items():
            if key and kind in self.limits:
                self._recent(kind, key, now).append(now)
        if len(self._failures) > 10_000:  # forget idle keys so guessing cannot fill memory
            self._failures = {k: v for k, v in self._failures.items() if self._recent(*k, now)}
