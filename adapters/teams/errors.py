"""Teams connector (SDK / aiohttp) failures as the ``bridge.ports`` exceptions."""

from __future__ import annotations

import random
from collections.abc import Mapping

import aiohttp

from bridge.ports import DeliveryError, PermanentError, RateLimited, RecipientUnreachable, TransientError


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The Retry-After header in seconds, if Teams sent one."""
    value = (headers or {}).get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return None


def map_error(exc: BaseException) -> DeliveryError:
    """Translate an SDK/aiohttp failure into the adapter contract's exceptions."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiohttp.ClientResponseError):
        status = exc.status
        wait = _retry_after(exc.headers)
        if status == 429:
            if wait is None:
                # Microsoft asks for exponential back-off with jitter when no Retry-After is
                # given: this is the first step, the core doubles it while throttling lasts.
                return RateLimited(1.0 + random.uniform(0, 1.0), "Teams throttled this conversation (429)", given=False)
            return RateLimited(wait, "Teams throttled this conversation (429)")
        if status in (412, 502, 504) or status >= 500:
            return TransientError(f"Teams answered {status}", retry_after=wait or 0.0)
        if status == 403:
            return RecipientUnreachable("the Pluto app is not installed for this person (403)")
        if status == 404:
            return RecipientUnreachable("conversation gone (404)")
        if status == 413:
            return PermanentError("message too large for Teams (413)")
        return PermanentError(f"Teams refused the request ({status})")
    if isinstance(exc, (aiohttp.ClientError, TimeoutError, ConnectionError)):
        return TransientError(f"Teams unreachable: {type(exc).__name__}")
    return PermanentError(f"Teams call failed: {type(exc).__name__}: {exc}")
