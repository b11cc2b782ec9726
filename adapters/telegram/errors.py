"""Telegram (PTB) exceptions as the ``bridge.ports`` failure types."""

from __future__ import annotations

import warnings

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bridge.ports import DeliveryError, PermanentError, RateLimited, RecipientUnreachable, TransientError

# Telegram's wording for people the bot can no longer reach (all arrive as 403 Forbidden,
# except a deactivated user, which some servers report as 400).
_UNREACHABLE = ("blocked by the user", "initiate conversation", "user is deactivated", "kicked")


def _map_error(exc: TelegramError) -> DeliveryError:
    """Translate a PTB exception into the contract's failure types."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():
            # PTB 22 warns that the int form will become a timedelta; both are handled here.
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value = exc.retry_after
        seconds = value if isinstance(value, int | float) else value.total_seconds()
        return RateLimited(float(seconds), str(exc))
    if isinstance(exc, Forbidden):
        return RecipientUnreachable(exc.message)
    if isinstance(exc, BadRequest) and any(s in exc.message.lower() for s in _UNREACHABLE):
        return RecipientUnreachable(exc.message)
    if isinstance(exc, BadRequest | InvalidToken | Conflict | ChatMigrated):
        return PermanentError(str(exc))
    if isinstance(exc, NetworkError):  # includes TimedOut and every 5xx
        return TransientError(str(exc))
    return PermanentError(str(exc))
