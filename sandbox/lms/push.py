"""The airnotifier message output (``message_airnotifier``), as Moodle 4.5 runs it.

For every message or notification routed to the Mobile output, for every device the
recipient registered (``core_user_add_user_device``) under ``airnotifiermobileappname``,
Moodle first makes sure the device's push id is known to AirNotifier (``POST
{url}:{port}/tokens/{pushid}`` with form field ``device``, once per device; a device whose
registration fails is skipped and tried again with the next message), then POSTs JSON
``{device, token, extra}`` to ``{url}:{port}/api/v2/push/`` with headers ``X-AN-APP-NAME``
and ``X-AN-APP-KEY``, waiting 2 s at most (lms-api.md 3.5;
``message/output/airnotifier/message_output_airnotifier.php`` and ``classes/manager.php``).
Muted conversations and self-conversations are not pushed; a type is pushed only while the
recipient has its Mobile output on (moodle-4.5-observed.md item 28). Nothing is sent until
the five site settings are all set (``manager::is_system_configured``).
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
from .state import TYPE_SELF, Device, Message, Notification, State

MOBILE_APP_ID = "com.moodle.moodlemobile"
TIMEOUT = 2.0  # CURLOPT_TIMEOUT and CURLOPT_CONNECTTIMEOUT: pushes block the sender
PAYLOAD_CAP = 4000  # bytes of json_encode($extra): Firebase's 4 KB limit
VIEW_NOTIFICATION = "Tap to view"  # get_string('view_notification', 'message_airnotifier')
# Encrypted pushes drop these (they would not fit 4 KB once encrypted).
DROPPED_WHEN_ENCRYPTED = ("usertoid", "replyto", "replytoname", "siteshortname", "customdata", "contexturlname")
ENCRYPTED_FIELDS = ("userfromfullname", "userfromid", "sitefullname", "smallmessage", "subject", "contexturl")


@dataclass
class Push:
    """One POST the sandbox made (or tried): its target, headers, body and outcome.

    ``kind`` is ``"push"`` (``/api/v2/push/``, JSON body) or ``"token"`` (``/tokens/{pushid}``,
    form body)."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int | None = None
    error: str | None = None
    kind: str = "push"
    answer: Any = None


@dataclass
class AirnotifierOutput:
    """Turns new items into push POSTs while the site's airnotifier settings are complete."""

    state: State
    site_url: Any  # a callable giving the site's base URL (known only once started)
    site_name: str
    url: str | None = None  # $CFG->airnotifierurl
    port: int = 443  # $CFG->airnotifierport
    appname: str = "commoodlemoodlemobile"  # $CFG->airnotifierappname
    accesskey: str = "sandbox-airnotifier-key"  # $CFG->airnotifieraccesskey
    mobileappid: str = MOBILE_APP_ID  # $CFG->airnotifiermobileappname
    encrypt: bool = False  # message_airnotifier/encryptnotifications
    send_unencrypted: bool = False  # encryptprocessing: ENCRYPT_UNSUPPORTED_SEND (default: do not send)
    sent: list[Push] = field(default_factory=list)
    drop_next: int = 0  # test hook: this many pushes are lost on the way (never reach the receiver)
    _known: set[Device] = field(default_factory=set)  # message_airnotifier_devices
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Moodle sends inside the request that made the item, blocking it: one item at a time.
    _order: asyncio.Lock = field(default_factory=asyncio.Lock)
    _session: aiohttp.ClientSession | None = None

    @property
    def configured(self) -> bool:
        """``manager::is_system_configured``: all five settings set."""
        return bool(self.url and self.port and self.accesskey and self.appname and self.mobileappid)

    def base(self) -> str:
        """``$CFG->airnotifierurl . ':' . $CFG->airnotifierport`` (Moodle appends the port
        to whatever the URL setting holds, path included)."""
        return f"{self.url}:{self.port}"

    def headers(self) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "X-AN-APP-NAME": self.appname,
            "X-AN-APP-KEY": self.accesskey,
        }

    def __call__(self, item: Message | Notification) -> None:
        """State listener: one task per recipient, POSTing to each of their devices in turn."""
        if not self.configured:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # items made before the server runs (seeding) are not pushed
            return
        for recipient, extra in self._payloads(item):
            if "airnotifier" not in self.state.processors_enabled(recipient, extra["component"], extra["name"]):
                continue
            if self.state.users[recipient].suspended:  # Moodle skips suspended users
                continue
            devices = [d for d in self.state.devices if d.userid == recipient and d.appid == self.mobileappid]
            if devices:
                task = loop.create_task(self._send(devices, extra))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _payloads(self, item: Message | Notification) -> list[tuple[int, dict[str, Any]]]:
        st = self.state
        base = self.site_url()
        common = {
            "processor": "moodle",
            "date": item.timecreated,
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
                "site": _site_id(base, st.users[item.useridto].username),
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
                "conversationtype": conv.type,
                "site": _site_id(base, st.users[recipient].username),
                **common,
            }
            out.append((recipient, extra))
        return out

    async def _send(self, devices: list[Device], extra: dict[str, Any]) -> None:
        # One recipient's devices in turn, as Moodle's foreach does (each POST blocks).
        async with self._order:
            await self._send_each(devices, extra)

    async def _send_each(self, devices: list[Device], extra: dict[str, Any]) -> None:
        for device in devices:
            if device not in self._known:
                # get_user_devices(): register the push id before the first push to it.
                if not await self._register(device):
                    continue
                self._known.add(device)
            if self.encrypt and not device.publickey and not self.send_unencrypted:
                continue  # ENCRYPT_UNSUPPORTED_NOT_SEND
            body_extra = dict(extra, encrypted=self.encrypt and bool(device.publickey))
            if body_extra["encrypted"]:
                for name in DROPPED_WHEN_ENCRYPTED:
                    body_extra.pop(name, None)
                for name in ENCRYPTED_FIELDS:
                    if name in body_extra:
                        # Stand-in ciphertext: the receiver cannot read it, as with sodium's sealed box.
                        body_extra[name] = hashlib.sha256(f"{device.publickey}:{body_extra[name]}".encode()).hexdigest()
            if len(json.dumps(body_extra).encode()) > PAYLOAD_CAP:
                body_extra["smallmessage"] = VIEW_NOTIFICATION
            body: dict[str, Any] = {"device": device.platform, "token": device.pushid, "extra": body_extra}
            if body_extra["encrypted"]:
                body["alert"] = None
            push = Push(f"{self.base()}/api/v2/push/", self.headers(), body)
            self.sent.append(push)
            if self.drop_next > 0:
                self.drop_next -= 1
                push.error = "dropped (test hook)"
                continue
            await self._post(push, json_body=True)

    async def _register(self, device: Device) -> bool:
        """``manager::create_token``: true when AirNotifier says ok or token exists."""
        push = Push(f"{self.base()}/tokens/{device.pushid}", self.headers(), {"device": device.platform}, kind="token")
        self.sent.append(push)
        await self._post(push, json_body=False)
        answer = push.answer if isinstance(push.answer, dict) else {}
        return answer.get("status") in ("ok", "token exists")

    async def _post(self, push: Push, *, json_body: bool) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT, connect=TIMEOUT))
        kwargs: dict[str, Any] = (
            {"data": json.dumps(push.body), "headers": push.headers}
            if json_body
            else {"data": push.body, "headers": push.headers}
        )
        try:
            async with self._session.post(push.url, **kwargs) as resp:
                push.status = resp.status
                text = await resp.text()
                with contextlib.suppress(ValueError):
                    push.answer = json.loads(text)
        except (aiohttp.ClientError, TimeoutError) as exc:  # Moodle logs and moves on
            push.error = repr(exc)

    def forget_registrations(self) -> None:
        """Empty ``message_airnotifier_devices`` (every device is registered again)."""
        self._known.clear()

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


def _site_id(wwwroot: str, username: str) -> str:
    """``md5($CFG->wwwroot . $userto->username)``: the app's key for the site account."""
    return hashlib.md5((wwwroot + username).encode()).hexdigest()


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*>", "", text)
