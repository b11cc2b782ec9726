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

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._logged = float("-inf")

    def before(self, people: int, reads: int, interval: float, rate: float | None) -> None:
        """Say so when the due people cannot fit one interval at the LMS request budget
        (``reads``: of messages and of notifications, about one call each; ``rate``:
        ``lms.max_requests_per_second``, None or 0 for none)."""
        self.metrics.poll_due.set(people)
        if rate and reads / rate > interval:
            need = f"{people} people due need about {reads / rate:.0f}s at lms.max_requests_per_second = {rate:g}"
            self._overrun(interval, need)

    def after(self, seconds: float, people: int, interval: float) -> None:
        """The cycle took ``seconds`` to read ``people``."""
        self.metrics.poll_cycle_seconds.set(seconds)
        if seconds > interval:
            self.metrics.poll_overruns.inc()
            self._overrun(interval, f"the last cycle read {people} people in {seconds:.1f}s")

    def _overrun(self, interval: float, why: str) -> None:
        now = time.monotonic()
        if now - self._logged >= OVERRUN_LOG_EVERY:
            self._logged = now
            log.warning(
                "poll cycles do not fit lms.poll_interval (%gs): %s; people are read late "
                "(raise lms.max_requests_per_second or lms.idle_poll_interval)",
                interval,
                why,
            )
