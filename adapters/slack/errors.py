"""Slack (slack_sdk / aiohttp) failures as the ``bridge.ports`` exceptions."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bridge.ports import DeliveryError, PermanentError, RateLimited, RecipientUnreachable, TransientError

UNREACHABLE_ERRORS = frozenset(
    {
        "channel_not_found",
        "user_not_found",
        "users_not_found",
        "account_inactive",
        "cannot_dm_bot",
        "is_archived",
        "user_disabled",
        "not_in_channel",
        "invalid_auth",
        "token_revoked",
        "no_permission",
        "team_access_not_granted",
    }
)
UNREACHABLE = (aiohttp.ClientError, asyncio.TimeoutError, OSError)  # Slack not answering at all
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})


def map_slack_error(exc: BaseException) -> DeliveryError:
    """Map a slack_sdk / aiohttp failure onto the contract's exceptions."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = getattr(resp, "status_code", 200)
        error = str(resp.get("error", "")) if hasattr(resp, "get") else ""
        headers = {str(k).lower(): v for k, v in (getattr(resp, "headers", None) or {}).items()}
        if status == 429 or error == "ratelimited":
            raw = headers.get("retry-after", "1")
            retry = raw[0] if isinstance(raw, list) else raw
            try:
                retry_after = float(retry)
            except (TypeError, ValueError):
                retry_after = 1.0
            return RateLimited(retry_after, f"slack: ratelimited (retry after {retry_after:g}s)")
        if status >= 500 or error in TRANSIENT_ERRORS:
            return TransientError(f"slack: HTTP {status} {error}".strip())
        if error in UNREACHABLE_ERRORS:
            return RecipientUnreachable(f"slack: {error}")
        if status == 403:
            return RecipientUnreachable(f"slack: HTTP 403 {error}".strip())
        return PermanentError(f"slack: {error or f'HTTP {status}'}")
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, SlackClientError, OSError)):
        return TransientError(f"slack: {type(exc).__name__}: {exc}")
    return PermanentError(f"slack: {type(exc).__name__}: {exc}")
