"""Per-key rate limits: a token bucket per key that says how long to wait when empty."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class KeyLimits:
    """``rate_per_minute`` requests a minute per key, in bursts of up to that many.

    aiolimiter waits for capacity; an HTTP API must answer at once with 429 and say when
    to come back (``Retry-After``), so this bucket reports the wait instead. In memory:
    each bridge replica counts its own requests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, at)

    def take(self, key_id: int, rate_per_minute: int) -> int:
        """Take one request from the key's bucket: 0 when allowed, else the whole seconds
        to wait before the next one will be."""
        capacity = float(max(rate_per_minute, 1))
        per_second = capacity / 60.0
        now = self._clock()
        tokens, at = self._buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * per_second)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0
        self._buckets[key_id] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / per_second))
