"""The airnotifier message output: per-device push POSTs for new messages and notifications.

When the site's ``airnotifierurl`` points somewhere, Moodle POSTs every message or
notification routed to the mobile output to ``{url}/api/v2/push/`` for each device the
recipient registered (``core_user_add_user_device``) under the site's mobile app id
(lms-api.md 3.5). Muted conversations are not pushed. Timeout 2 s, as Moodle's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .notices import WWWROOT
from .state import TYPE_SELF, Message, Notification, State

MOBILE_APP_ID = "com.moodle.moodlemobile"


@dataclass
class Push:
    """One POST the sandbox made (or tried): its target, headers, body and outcome."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int | None = None
    error: str | None = None


@dataclass
class AirnotifierOutput:
    """Turns new items into push POSTs while a URL is configured."""

    state: State
    site_url: Any  # a callable giving the site's base URL (known only once started)
    site_name: str
    url: str | None = None
    appname: str = "commoodlemoodlemobile"
    accesskey: str = "sandbox-airnotifier-key"
    mobileappid: str = MOBILE_APP_ID
    sent: list[Push] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    def __call__(self, item: Message | Notification) -> None:
        """State listener: schedule one POST per registered device of each recipient."""
        if self.url is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # items made before the server runs (seeding) are not pushed
            return
        for recipient, extra in self._payloads(item):
            if "airnotifier" not in self.state.processors_enabled(
                recipient, extra["component"], extra["name"]
            ):
                continue
            for device in self.state.devices:
                if device.userid == recipient and device.appid == self.mobileappid:
                    push = Push(
                        f"{self.url.rstrip('/')}/api/v2/push/",
                        {"X-AN-APP-NAME": self.appname, "X-AN-APP-KEY": self.accesskey},
                        {"device": device.platform, "token": device.pushid, "extra": extra},
                    )
                    self.sent.append(push)
                    task = loop.create_task(self._post(push))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    def _payloads(self, item: Message | Notification) -> list[tuple[int, dict[str, Any]]]:
        st = self.state
        base = self.site_url()
        common = {
            "date": item.timecreated,
            "site": hashlib.md5(base.encode()).hexdigest(),
            "sitefullname": self.site_name,
            "siteshortname": self.site_name,
            "wwwroot": base,
        }
        if isinstance(item, Notification):
            extra = {
                "userfromid": item.useridfrom,
                "userfromfullname": st.fullname(item.useridfrom),
                "usertoid": item.useridto,
                "component": item.component,
                "name": item.eventtype,
                "subject": item.subject,
                "smallmessage": _strip_tags(item.smallmessage or item.subject),
                "contexturl": (item.contexturl or "").replace(WWWROOT, base),
                "notification": 1,
                "customdata": (item.customdata or "").replace(WWWROOT, base),
                "savedmessageid": item.id,
                **common,
            }
            return [(item.useridto, extra)]
        conv = st.conversations[item.conversationid]
        if conv.type == TYPE_SELF:
            return []
        out = []
        for recipient in st.members(conv):
            if recipient == item.useridfrom or recipient in conv.muted:
                continue
            extra = {
                "userfromid": item.useridfrom,
                "userfromfullname": st.fullname(item.useridfrom),
                "usertoid": recipient,
                "component": "moodle",
                "name": "instantmessage",
                "subject": f"New message from {st.fullname(item.useridfrom)}",
                "smallmessage": _strip_tags(item.text),
                "contexturl": f"{base}/message/index.php?convid={conv.id}",
                "notification": 0,
                "customdata": json.dumps({"convid": conv.id}),
                "savedmessageid": item.id,
                "convid": conv.id,
                **common,
            }
            out.append((recipient, extra))
        return out

    async def _post(self, push: Push) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        try:
            async with self._session.post(push.url, json=push.body, headers=push.headers) as resp:
                push.status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:  # Moodle logs and moves on
            push.error = repr(exc)

    async def flush(self) -> None:
        """Wait until every scheduled POST has finished."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Cancel pending POSTs and close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*>", "", text)
