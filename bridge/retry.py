"""The outbox's retry policy, one for every platform: for queued deliveries (the
dispatcher's lanes) and for answers to what a person did (``AnswerDelivery``).

- ``RateLimited``: wait as the platform says (or the adapter's guess, doubled per 429 in a
  row and capped at ``backoff_max``), not counted as an attempt;
- ``PermanentError`` (and ``RecipientUnreachable``): give up at once;
- anything else (time-outs, 5xx, unknown SDK errors): exponential back-off with jitter from
  ``backoff_initial`` to ``backoff_max``, at least the ``retry_after`` a ``TransientError``
  names;
- all of it for up to ``give_up_after`` seconds from the first failure in a row.

The defaults are ``[outbox]``'s (``bridge.config.OutboxSettings``); this module imports no
settings so that the runner, which adapters import, may use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TypeVar

from bridge.model import ChatIdentity, Platform
from bridge.ports import PermanentError, RateLimited, TransientError

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long and how often a failed send is tried again (see the module's docstring)."""

    give_up_after: float = 86400.0
    backoff_initial: float = 1.0
    backoff_max: float = 300.0

    def throttled_wait(self, exc: RateLimited, streak: int) -> float:
        """Seconds to wait after the ``streak``-th 429 in a row."""
        wait = exc.wait(streak)
        # The adapter's guess, doubled while the room stays throttled: capped.
        return wait if exc.given else min(self.backoff_max, wait)

    def backoff(self, attempts: int, exc: BaseException) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt in a row (jittered, so
        retries do not go in lock-step; at least what the platform asked for)."""
        wait = min(self.backoff_max, self.backoff_initial * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
        return max(wait, exc.retry_after) if isinstance(exc, TransientError) else wait

    def out_of_time(self, failing_since: float | None, now: float | None = None) -> bool:
        """Failing for longer than ``give_up_after`` (Unix time of the first failure in a row)."""
        if failing_since is None:
            return False
        return (time.time() if now is None else now) - failing_since >= self.give_up_after


Paced = Callable[[ChatIdentity], AbstractAsyncContextManager[None]]
PlatformPause = Callable[[Platform, float], None]


def _unpaced(identity: ChatIdentity) -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


class AnswerDelivery:
    """Answers to a person (a command's result, a reply's outcome, a reason prompt) sent
    as front-of-lane deliveries: each post takes the next turn of the person's chat pacing
    (ahead of deliveries still queued in their lane, ``paced``) and is retried with the
    outbox's policy, 429s honoured; a platform-wide 429 pauses the platform (``paused``).

    Unlike queued deliveries an answer is not stored: it belongs to the person's turn in
    the inbound runner, which holds their next event until it is shown or given up.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        paced: Paced = _unpaced,
        paused: PlatformPause | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.paced = paced
        self.paused = paused

    async def deliver(self, identity: ChatIdentity, send: Callable[[], Awaitable[_T]]) -> _T | None:
        """``send()``'s result once it succeeds; None when the answer was given up (a
        permanent failure, or failing past ``give_up_after``: logged). ``send`` raises the
        ``bridge.ports`` delivery errors, as an adapter's ``send`` does."""
        attempts = throttled = 0
        failing_since: float | None = None
        while True:
            try:
                async with self.paced(identity):
                    return await send()
            except asyncio.CancelledError:
                raise
            except PermanentError as exc:
                log.warning("answer to %s not shown: %s", identity, exc.reason)
                return None
            except RateLimited as exc:
                throttled += 1
                wait = self.policy.throttled_wait(exc, throttled)
                if exc.scope_all and self.paused is not None:
                    self.paused(identity.platform, exc.retry_after)
                reason = f"rate limited: {exc.reason}"
            except Exception as exc:  # transient by default, as for queued deliveries
                attempts += 1
                wait = self.policy.backoff(attempts, exc)
                reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            failing_since = time.time() if failing_since is None else failing_since
            if self.policy.out_of_time(failing_since, time.time() + wait):
                log.warning("answer to %s given up: %s", identity, reason)
                return None
            log.info("answer to %s retried in %.1fs: %s", identity, wait, reason)
            await asyncio.sleep(wait)
