"""An integer-second clock that tests can freeze and advance."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock seconds, or a frozen second that only moves when told to.

    Moodle stores ``timecreated`` with one-second resolution; freezing lets tests put
    several messages in the same second and exercise the ``now - 1`` cap.
    """

    def __init__(self) -> None:
        self._frozen: int | None = None

    def now(self) -> int:
        """The current second (the frozen one while frozen)."""
        return self._frozen if self._frozen is not None else int(time.time())

    @property
    def frozen(self) -> bool:
        """Whether the clock is frozen."""
        return self._frozen is not None

    def freeze(self, at: int | None = None) -> None:
        """Stop the clock at ``at``, or at the current second."""
        self._frozen = int(time.time()) if at is None else int(at)

    def advance(self, seconds: int) -> None:
        """Move a frozen clock forward by ``seconds``."""
        if self._frozen is None:
            raise RuntimeError("Clock.advance() needs a frozen clock; call freeze() first")
        self._frozen += int(seconds)

    def unfreeze(self) -> None:
        """Let the clock follow real time again."""
        self._frozen = None
