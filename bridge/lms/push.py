"""Real-time wake-ups: the bridge as an AirNotifier server for Moodle's ``message_airnotifier``.

Moodle POSTs ``{airnotifierurl}:{airnotifierport}/tokens/{pushid}`` once per device (form field
``device``) and then ``.../api/v2/push/`` (JSON ``{device, token, extra}``) for every message
or notification routed to the Mobile output, with headers ``X-AN-APP-NAME`` and
``X-AN-APP-KEY``, waiting 2 s at most while the sender waits too (lms-api.md 3.5). The
receiver answers at once; a push is only a wake-up for the link whose push id it names: the
pushed text is never used, the person is read from the LMS as before, at once, and again
once the LMS's held-back second has passed (moodle-4.5-observed.md item 5).

Polling stays the safety net: people with a device the LMS accepted are read on push plus a
slow sweep (``push.sweep_interval`` for people with recent activity, stretching to
``push.idle_sweep_interval`` for the others); everyone else, and everyone while pushes have
stopped arriving, is polled (``bridge.poll_cadence``). Pushes count as stopped when none
arrived for ``push.stale_after`` seconds while a sweep found something new.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from bridge.config import PushSettings
from bridge.lms.devices import DeviceRegistry
from bridge.metrics import Metrics
from bridge.poll_cadence import share

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024  # Moodle caps its payload at 4 KB of extra; anything far larger is not Moodle
# Moodle puts ":{port}" right after whatever airnotifierurl holds, so the port lands in the path.
PORT = r"{port:(:\d{1,5})?}"
FOLLOW_UP_MARGIN = 0.05  # seconds past the LMS's next whole second
HELD_BACK = 2.1  # seconds: the pipeline's HELD_BACK_MARGIN plus a little, for unsynchronised clocks
PROBES_KEPT = 256  # unknown push ids remembered for `check --push`
PROBE_PREFIX = "check-"  # push ids of `check --push`'s probe devices


class PushMonitor:
    """Whether pushes work for the site, and so who is polled when (the pipeline's schedule)."""

    def __init__(
        self, settings: PushSettings, devices: DeviceRegistry, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.devices = devices
        self.clock = clock
        # waiting: enabled, nothing from the site yet, so everyone is polled; ok; stopped.
        self.state = "waiting" if settings.enabled else "off"
        self.last_push: float | None = None
        self.since = clock()
        self.pushes = 0
        self._trusted_since = self.since
        self._last_read: dict[int, float] = {}
        self._last_active: dict[int, float] = {}  # a push for them, or a sweep that found something

    @property
    def trusted(self) -> bool:
        """Pushes arrive: people with a device are read on push plus the sweep."""
        return self.state == "ok"

    def heard(self) -> None:
        """An authenticated push or device registration arrived from the site."""
        self.last_push = self.clock()
        self.pushes += 1
        if self.state == "waiting":
            log.info("first push from the LMS: pushed people are now read on push plus a sweep")
        elif self.state == "stopped":
            log.warning("pushes from the LMS arrive again: back to reading on push")
        if self.state != "ok":
            self._trusted_since = self.last_push
        self.state = "ok"

    def active(self, lms_user_id: int) -> None:
        """Something arrived for the person: swept at ``sweep_interval`` for a while."""
        self._last_active[lms_user_id] = self.clock()

    def covers(self, lms_user_id: int) -> bool:
        """Whether the person is read on push plus the sweep (else polled)."""
        return self.trusted and lms_user_id in self.devices.covered_users()

    def _sweep_gap(self, lms_user_id: int) -> float:
        """Recently active people are swept every ``sweep_interval``, idle ones every
        ``idle_sweep_interval`` (never more often than active ones)."""
        busy, idle = self.settings.sweep_interval, self.settings.idle_sweep
        last = self._last_active.get(lms_user_id)
        return busy if last is not None and self.clock() - last < idle else idle

    def read(self, lms_user_id: int) -> None:
        """The person was just read (on push or by a poll): their sweep starts over."""
        self._last_read[lms_user_id] = self.clock()

    def due(self, lms_user_id: int) -> bool:
        """Whether the regular poll reads this person now (the pipeline asks every cycle)."""
        if not self.covers(lms_user_id):
            return True
        gap = self._sweep_gap(lms_user_id)
        last = self._last_read.get(lms_user_id, float("-inf"))
        if last <= self._trusted_since:
            # Everyone was polled until pushes were trusted: spread the first sweeps over one
            # gap (a stable share per person) so that they do not all fall in one cycle.
            last = self._trusted_since - share(lms_user_id) * gap
        return self.clock() - last >= gap

    def polled(self, lms_user_id: int, queued: int) -> None:
        """A poll read the person and queued ``queued`` deliveries."""
        self.read(lms_user_id)
        if queued:
            self.active(lms_user_id)
        if not queued or not self.trusted or lms_user_id not in self.devices.covered_users():
            return
        quiet = self.clock() - (self.last_push if self.last_push is not None else self.since)
        if quiet >= self.settings.stale_after:
            self.state = "stopped"
            log.warning(
                "pushes from the LMS stopped: none for %.0fs while the sweep found new items; "
                "everyone is polled at the base interval until pushes arrive again "
                "(see `pluto-bridge check --push`)",
                quiet,
            )

    def health(self) -> dict[str, object]:
        """What ``/healthz`` shows under ``push``."""
        age = None if self.last_push is None else round(self.clock() - self.last_push, 1)
        return {
            "state": self.state,
            "last_push_age": age,
            "pushes": self.pushes,
            "devices": len(self.devices.covered_users()),
        }


class PushWakeups:
    """Reads a pushed person at once, coalescing bursts, and again once the LMS's current
    second (whose messages it holds back) has passed."""

    def __init__(
        self,
        read_soon: Callable[[int], None],
        read_now: Callable[[int], Awaitable[int]],
        monitor: PushMonitor,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.read_soon = read_soon
        self.read_now = read_now
        self.monitor = monitor
        self.wall = wall
        self._reading: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        # Follow-up reads already planned, per person, by tenth of a second: a burst of
        # pushes plans each moment once.
        self._planned: dict[int, dict[int, asyncio.TimerHandle]] = {}

    def wake(self, lms_user_id: int) -> None:
        """A push named this person: read them now (or right after the read in flight), just
        past the next whole second, and once the held-back margin is over."""
        self.read_soon(lms_user_id)
        self.monitor.active(lms_user_id)
        self._start(lms_user_id)
        now = self.wall()
        for delay in (int(now) + 1 + FOLLOW_UP_MARGIN - now, HELD_BACK):
            self._plan(lms_user_id, now + delay, delay)

    def _plan(self, lms_user_id: int, at: float, delay: float) -> None:
        planned = self._planned.setdefault(lms_user_id, {})
        slot = int(at * 10)
        if slot in planned:
            return

        def fire() -> None:
            planned.pop(slot, None)
            if not planned:
                self._planned.pop(lms_user_id, None)
            self._start(lms_user_id)

        planned[slot] = asyncio.get_running_loop().call_later(delay, fire)

    def _start(self, lms_user_id: int) -> None:
        if lms_user_id in self._reading:
            self._again.add(lms_user_id)  # coalesce: one more read after this one, however many pushes
            return
        task = asyncio.get_running_loop().create_task(self._read(lms_user_id))
        self._reading[lms_user_id] = task
        task.add_done_callback(partial(self._done, lms_user_id))

    def _done(self, lms_user_id: int, _task: asyncio.Task[None]) -> None:
        self._reading.pop(lms_user_id, None)

    async def _read(self, lms_user_id: int) -> None:
        while True:
            self._again.discard(lms_user_id)
            try:
                await self.read_now(lms_user_id)
            except Exception:  # a wake-up must never kill the loop; the sweep is the safety net
                log.exception("read on push of LMS user %s failed", lms_user_id)
            self.monitor.read(lms_user_id)
            if lms_user_id not in self._again:
                return

    async def close(self) -> None:
        """Cancel planned and running reads."""
        for planned in self._planned.values():
            for handle in planned.values():
                handle.cancel()
        self._planned.clear()
        tasks = list(self._reading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class PushReceiver:
    """The two AirNotifier endpoints Moodle calls, plus a probe for ``check --push``."""

    def __init__(
        self,
        settings: PushSettings,
        devices: DeviceRegistry,
        monitor: PushMonitor,
        wake: Callable[[int], None],
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.devices = devices
        self.monitor = monitor
        self.wake = wake
        self.metrics = metrics
        self.unknown: dict[str, float] = {}  # push id -> last seen (bounded), for the probe
        self._tasks: set[asyncio.Task[Any]] = set()

    def routes(self) -> list[web.RouteDef]:
        """Routes under ``push.path_prefix`` (with or without Moodle's ``:{port}``)."""
        prefix = self.settings.path_prefix
        return [
            web.post(prefix + PORT + "/api/v2/push/", self.push),
            web.post(prefix + PORT + "/api/v2/push", self.push),
            web.post(prefix + PORT + "/tokens/{pushid}", self.token),
            web.get(prefix + PORT + "/probe/{pushid}", self.probe),
        ]

    def _authorised(self, request: web.Request) -> bool:
        key = self.settings.access_key.get_secret_value() if self.settings.access_key else ""
        name_ok = hmac.compare_digest(request.headers.get("X-AN-APP-NAME", ""), self.settings.app_name)
        key_ok = hmac.compare_digest(request.headers.get("X-AN-APP-KEY", "").encode(), key.encode())
        return self.settings.enabled and bool(key) and name_ok and key_ok

    def _refuse(self, request: web.Request) -> web.Response:
        self.metrics.push_ignored.labels("refused").inc()
        log.warning(
            "push refused from %s: wrong X-AN-APP-NAME or X-AN-APP-KEY (compare the site's "
            "airnotifierappname and airnotifieraccesskey with [push] app_name and access_key)",
            request.remote,
        )
        return web.json_response({"error": "unauthorised"}, status=401)

    async def push(self, request: web.Request) -> web.Response:
        """``/api/v2/push/``: wake the link the push id names; never read the pushed text."""
        if not self._authorised(request):
            return self._refuse(request)
        if request.content_length is not None and request.content_length > MAX_BODY:
            self.metrics.push_ignored.labels("malformed").inc()
            return web.json_response({"error": "payload too large"}, status=413)
        try:
            body = json.loads(await request.content.read(MAX_BODY + 1) or b"null")
        except ValueError:
            body = None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            self.metrics.push_ignored.labels("malformed").inc()
            return web.json_response({"error": "a JSON body with a token is required"}, status=400)
        self.monitor.heard()
        device = self.devices.lookup(token)
        if device is None:
            self._unknown(token)
            return web.json_response({"status": "ignored"}, status=202)
        self.metrics.push_wakeups.inc()
        self.wake(device.lms_user_id)
        return web.json_response({"status": "ok"}, status=202)

    async def token(self, request: web.Request) -> web.Response:
        """``/tokens/{pushid}``: the site registers a push id before its first push to it."""
        if not self._authorised(request):
            return self._refuse(request)
        push_id = request.match_info["pushid"]
        self.monitor.heard()
        device = self.devices.lookup(push_id)
        if device is None:
            self._unknown(push_id)
            if push_id.startswith(PROBE_PREFIX):
                return web.json_response({"status": "ok"})
            # Not "ok": Moodle then skips this device rather than pushing to it for nothing.
            return web.json_response({"status": "unknown device"}, status=404)
        # Stored in the background: the site waits for this answer.
        task = asyncio.get_running_loop().create_task(self.devices.site_registered(device))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"status": "token exists" if device.site_registered_at else "ok"})

    async def probe(self, request: web.Request) -> web.Response:
        """For ``check --push``: has a push for this (unknown) push id arrived?"""
        if not self._authorised(request):
            return self._refuse(request)
        push_id = request.match_info["pushid"]
        return web.json_response({"seen": push_id in self.unknown, "state": self.monitor.state})

    def _unknown(self, push_id: str) -> None:
        self.metrics.push_ignored.labels("unknown_device").inc()
        log.info("push for an unknown device ignored")
        self.unknown[push_id] = time.monotonic()
        while len(self.unknown) > PROBES_KEPT:
            self.unknown.pop(next(iter(self.unknown)))
