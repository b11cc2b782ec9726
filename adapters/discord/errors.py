"""discord.py / aiohttp failures as the ``bridge.ports`` exceptions."""

import asyncio
import contextlib

import aiohttp
import discord

from bridge.ports import DeliveryError, PermanentError, RateLimited, RecipientUnreachable, TransientError

CANNOT_MESSAGE_USER = 50007  # Discord: "Cannot send messages to this user" (closed DMs, no shared guild)
UNKNOWN_USER = 10013


def _retry_after_header(exc: discord.HTTPException) -> float:
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        return float(exc.response.headers.get("Retry-After", 1.0))
    return 1.0


def map_error(exc: BaseException) -> DeliveryError:
    """Translate a discord.py / aiohttp failure into the adapter contract's exceptions."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, discord.RateLimited):
        return RateLimited(exc.retry_after, f"discord: retry after {exc.retry_after:.2f}s")
    if isinstance(exc, discord.HTTPException):
        reason = f"discord {exc.status} (code {exc.code}): {exc.text}"
        if exc.status == 429:
            # discord.py raises a plain HTTPException for 429s without Discord's headers
            # (Cloudflare): treat as a pause for the whole bot.
            return RateLimited(_retry_after_header(exc), reason, scope_all=True)
        if exc.code in (CANNOT_MESSAGE_USER, UNKNOWN_USER):
            return RecipientUnreachable(reason)
        if exc.status >= 500:
            return TransientError(reason)
        return PermanentError(reason)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return TransientError(f"discord connection failed: {exc!r}")
    return PermanentError(f"discord: unexpected {exc!r}")
