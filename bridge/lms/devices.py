"""One push device per link, registered in the LMS with the person's own token.

``core_user_add_user_device`` with ``appid`` = the site's ``airnotifiermobileappname`` and a
random push id per link; the site's AirNotifier output then names that push id in every
push for the person (lms-api.md 3.5). The row is written before the LMS hears of the push
id, so the receiver always knows it. Registering is idempotent: a link whose device the LMS
accepted is not registered again (restarts included).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Iterable

from bridge.lms.client import LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.store.push_devices import PushDevice, PushDevices
from bridge.store.records import Link
from bridge.store.store import Store

log = logging.getLogger(__name__)

ADD = "core_user_add_user_device"
REMOVE = "core_user_remove_user_device"
PUBLIC_KEY = "core_user_update_user_device_public_key"
# What the LMS shows in the person's device list (Preferences > Notification preferences).
DEVICE_FIELDS = {"name": "Pluto Bridge", "model": "chat bridge", "platform": "android", "version": "1"}
START_CONCURRENCY = 4  # existing links at start: a few at a time, not a burst on the LMS


class DeviceRegistry:
    """Registers, removes and looks up the bridge's push devices."""

    def __init__(self, store: Store, client: LmsClient, appid: str) -> None:
        self.rows = PushDevices(store)
        self.store = store
        self.client = client
        self.appid = appid
        self._by_push_id: dict[str, PushDevice] = {}
        self._covered: set[int] | None = None  # cache: asked for every person every poll cycle
        self._locks: dict[int, asyncio.Lock] = {}  # per link: one registration at a time, no double rows

    async def load(self) -> None:
        """Read the known devices into memory (the receiver looks them up on every push)."""
        self._by_push_id = {d.push_id: d for d in await self.rows.all() if d.added_at is not None}
        self._covered = None

    def lookup(self, push_id: str) -> PushDevice | None:
        """The device named by a push, or None for an unknown push id (no I/O: pushes answer fast)."""
        return self._by_push_id.get(push_id)

    def covered_users(self) -> set[int]:
        """LMS users with at least one device the LMS accepted."""
        if self._covered is None:
            self._covered = {d.lms_user_id for d in self._by_push_id.values() if d.added_at is not None}
        return self._covered

    async def site_registered(self, device: PushDevice) -> bool:
        """The LMS registered this push id with the receiver; False when it already had."""
        if device.site_registered_at is not None:
            return False
        await self.rows.mark_site_registered(device.push_id)
        await self._refresh(device.link_id)
        return True

    async def ensure(self, link: Link) -> bool:
        """Make sure the link has a device the LMS accepted; True when this call added one."""
        async with self._locks.setdefault(link.id, asyncio.Lock()):
            current = await self.rows.of_link(link.id)
            if current is not None and current.lms_user_id == link.lms_user_id and current.appid == self.appid:
                if current.added_at is not None:
                    return False
                device = current  # written before a crash or an LMS error: try the same push id again
            else:
                push_id = secrets.token_hex(16)
                device = PushDevice(
                    link.id, link.lms_user_id, push_id, f"pluto-bridge-{push_id[:16]}", self.appid, None, None
                )
                await self.rows.create(device)
                if current is not None:
                    self._forget(current.push_id)
            self._by_push_id[device.push_id] = device
            self._covered = None
            try:
                await self.client.call(
                    link.token, ADD, appid=self.appid, pushid=device.push_id, uuid=device.uuid, **DEVICE_FIELDS
                )
            except (LmsError, LmsUnavailable) as exc:
                log.warning("push device for link %s not registered (%s); that person is polled", link.id, exc)
                return False
            await self._public_key(link.token, device)
            await self.rows.mark_added(link.id)
            await self._refresh(link.id)
            log.info("push device registered for link %s (LMS user %s)", link.id, link.lms_user_id)
            return True

    async def ensure_all(self, links: Iterable[Link]) -> int:
        """Devices for every given link that lacks one (at start); returns how many were added."""
        limit = asyncio.Semaphore(START_CONCURRENCY)

        async def one(link: Link) -> bool:
            async with limit:
                return await self.ensure(link)

        return sum(await asyncio.gather(*(one(link) for link in links)))

    async def _public_key(self, token: str, device: PushDevice) -> None:
        # Sites with encryptnotifications skip devices without a public key. The bridge never
        # decrypts (a push is only a wake-up), so any well-formed key will do.
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            await self.client.call(token, PUBLIC_KEY, uuid=device.uuid, appid=device.appid, publickey=key)
        except (LmsError, LmsUnavailable) as exc:  # older sites lack it; they do not encrypt either
            log.debug("no public key for push device of link %s: %s", device.link_id, exc)

    async def remove(self, link: Link, tokens: Iterable[str] = ()) -> None:
        """Unlink: remove the link's device from the LMS (with the link's token, else one of
        ``tokens`` of the same person) and forget it; pushes naming it become unknown."""
        device = await self.rows.of_link(link.id)
        if device is None:
            return
        await self._remove_in_lms(device, (link.token, *tokens))
        await self.rows.remove(link.id)
        self._forget(device.push_id)

    async def token_died(self, link: Link, tokens: Iterable[str] = ()) -> None:
        """The link's token was rejected: remove its device with another token of the person
        when there is one; otherwise keep the row so the next sign-in re-registers the same
        uuid (the LMS replaces that device rather than keeping two). Either way pushes
        naming it are ignored from now on."""
        device = await self.rows.of_link(link.id)
        if device is None:
            return
        if await self._remove_in_lms(device, tokens):
            await self.rows.remove(link.id)
        else:
            await self.rows.mark_not_added(link.id)
        self._forget(device.push_id)

    async def _remove_in_lms(self, device: PushDevice, tokens: Iterable[str]) -> bool:
        for token in tokens:
            try:
                await self.client.call(token, REMOVE, uuid=device.uuid, appid=device.appid)
            except (LmsError, LmsUnavailable) as exc:
                log.info("push device of link %s not removed with this token (%s)", device.link_id, exc)
                continue
            log.info("push device of link %s removed from the LMS", device.link_id)
            return True
        return False

    def _forget(self, push_id: str) -> None:
        self._by_push_id.pop(push_id, None)
        self._covered = None

    async def _refresh(self, link_id: int) -> None:
        device = await self.rows.of_link(link_id)
        if device is not None:
            self._by_push_id[device.push_id] = device
            self._covered = None
