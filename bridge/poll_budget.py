"""Whether poll cycles fit ``lms.poll_interval``: the due people's reads against the LMS
request budget before a cycle, and the cycle's own time after it. A cycle that cannot fit
says so in the metrics and, at most every ``OVERRUN_LOG_EVERY`` seconds, in the log."""

from __future__ import annotations

import logging
import time

from bridge.metrics import Metrics

log = logging.getLogger(__name__)

OVERRUN_LOG_EVERY = 300.0  # seconds between two warnings that cycles outlast the interval


class CycleBudget:
    """The poll cycle's fit to its interval, for one pipeline."""

    def __init__(self, metrics: Metrics, interval: float, rate: float | None) -> None:
        """``interval``: ``lms.poll_interval``; ``rate``: ``lms.max_requests_per_second``
        (None or 0: no budget)."""
        self.metrics = metrics
        self.interval = interval
        self.rate = rate
        self._logged = float("-inf")

    def before(self, people: int, reads: int) -> None:
        """Say so when the due people cannot fit one interval at the LMS request budget
        (``reads``: of messages and of notifications, about one call each)."""
        self.metrics.poll_due.set(people)
        rate = self.rate
        if rate and reads / rate > self.interval:
            need = f"{reads / rate:.0f}s at lms.max_requests_per_second = {rate:g}"
            self._overrun(f"{people} people due need about {need}")

    def after(self, seconds: float, people: int) -> None:
        """The cycle took ``seconds`` to read ``people``."""
        self.metrics.poll_cycle_seconds.set(seconds)
        if seconds > self.interval:
            self.metrics.poll_overruns.inc()
            self._overrun(f"the last cycle read {people} people in {seconds:.1f}s")

    def _overrun(self, why: str) -> None:
        now = time.monotonic()
        if now - self._logged >= OVERRUN_LOG_EVERY:
            self._logged = now
            log.warning(
                "poll cycles do not fit lms.poll_interval (%gs): %s; people are read late "
                "(raise lms.max_requests_per_second or lms.idle_poll_interval)",
                self.interval,
                why,
            )
