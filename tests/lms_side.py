"""What tests do and read on the LMS side, through its own web services: another person
acting, or the person in Pluto itself (the bridge is not involved)."""

from __future__ import annotations

from typing import Any

from bridge.lms.client import LmsClient
from sandbox.lms import SandboxLMS


async def ws(lms: SandboxLMS, token: str, function: str, **params: Any) -> Any:
    """One web-service call as the token's user."""
    async with LmsClient(lms.url) as client:
        return await client.call(token, function, **params)


async def notification_ids(lms: SandboxLMS, userid: int, *, read: bool | int) -> set[int]:
    """The person's read (or unread) notifications, as the LMS's web service reports them."""
    data = await ws(
        lms,
        lms.issue_token(userid),
        "core_message_get_messages",
        useridto=userid,
        type="notifications",
        read=int(read),
        limitnum=50,
    )
    return {int(m["id"]) for m in data["messages"]}


async def unread_notification_ids(lms: SandboxLMS, userid: int) -> set[int]:
    """The person's unread notifications."""
    return await notification_ids(lms, userid, read=False)
