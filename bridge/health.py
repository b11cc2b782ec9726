"""What ``/healthz``, ``/readyz`` and ``/metrics`` answer, and the bridge's heartbeat.

Liveness (``/healthz``): the process answers and none of its loops (dispatcher, intake,
housekeeping) has died; a failure here means "restart me". Readiness (``/readyz``): the LMS
answers, every adapter is connected, the store takes a write, and polling is not failing
the same way again and again; a failure means "do not
count on me now" and names what is wrong. Both answer 200 or 503 with a JSON body.

The same facts go to the store every few seconds (``runtime`` key ``bridge``), so that
``pluto-bridge status`` in another process can show them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from bridge import __version__
from bridge.lms.client import SITE_INFO, LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.metrics import Metrics
from bridge.model import Platform
from bridge.ports import Adapter
from bridge.starts import AdapterStarts
from bridge.store import operations
from bridge.store.store import Store

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0  # seconds a readiness check waits for the LMS or the store
LMS_PROBE_TTL = 5.0  # a probe's answer is reused this long (probes come every few seconds)
HEARTBEAT_EVERY = 5.0


READY_STATES = ("connected", "standby")


class Health:
    """The checks, over the running bridge's parts."""

    def __init__(
        self,
        store: Store,
        client: LmsClient,
        adapters: Mapping[Platform, Adapter],
        tasks: Callable[[], Sequence[asyncio.Task[None]]],
        metrics: Metrics,
        pipeline_state: Callable[[], dict[str, Any]],
        lms_token: str | None = None,
        starts: AdapterStarts | None = None,
    ) -> None:
        self.store = store
        self.starts = starts
        self.client = client
        self.adapters = adapters
        self.tasks = tasks
        self.metrics = metrics
        self.pipeline_state = pipeline_state
        self.lms_token = lms_token
        self.started_at = time.time()
        self._lms_probe: tuple[float, str | None] | None = None

    def liveness(self) -> dict[str, Any]:
        """Loops that stopped (each one runs until the bridge stops)."""
        problems = []
        for task in self.tasks():
            if task.done():
                failure = None if task.cancelled() else task.exception()
                problems.append(f"{task.get_name()} loop stopped" + (f": {failure!r}" if failure else ""))
        uptime = round(time.time() - self.started_at, 1)
        # Push state rides along: a site that stopped pushing is polled, not dead (issue 18).
        return {"ok": not problems, "problems": problems, "uptime": uptime, "push": self.pipeline_state().get("push")}

    async def lms_problem(self) -> str | None:
        """None when the LMS answers a web-service call (any answer, even a refusal of the
        token, shows it is up); else what went wrong. Cached for a few seconds."""
        now = time.monotonic()
        if self._lms_probe is not None and now - self._lms_probe[0] < LMS_PROBE_TTL:
            return self._lms_probe[1]
        problem: str | None = None
        try:
            await asyncio.wait_for(self.client.call(self.lms_token or "", SITE_INFO), PROBE_TIMEOUT)
        except LmsUnavailable as exc:
            problem = f"LMS unreachable: {exc}"
        except TimeoutError:
            problem = f"LMS unreachable: no answer within {PROBE_TIMEOUT:.0f}s"
        except LmsError:
            pass  # it answered
        self._lms_probe = (now, problem)
        return problem

    async def store_problem(self) -> str | None:
        """None when the store takes a write."""
        try:
            await asyncio.wait_for(operations.put_runtime(self.store, "probe", {"at": time.time()}), PROBE_TIMEOUT)
        except TimeoutError:
            return f"store not writable: no write within {PROBE_TIMEOUT:.0f}s"
        except Exception as exc:
            return f"store not writable: {exc}"
        return None

    async def adapter_states(self) -> dict[str, str]:
        """Platform -> ``connected`` or what is wrong (``connecting``, ``failing: why``)."""
        states = {}
        for platform, adapter in self.adapters.items():
            if self.starts is not None:
                states[platform.value] = await self.starts.state(platform)
            else:
                states[platform.value] = await adapter.health_problem() or "connected"
        return states

    async def readiness(self) -> dict[str, Any]:
        """Every check, and the problems (empty when ready)."""
        lms, store, adapters = await asyncio.gather(self.lms_problem(), self.store_problem(), self.adapter_states())
        problems = [p for p in (lms, store) if p]
        # Standby: another replica holds the platform's one connection (a singleton); fine here.
        problems += [
            f"{platform}: {state}" for platform, state in adapters.items() if state.split(":")[0] not in READY_STATES
        ]
        state = self.pipeline_state()
        if state.get("polling", "ok") != "ok":
            problems.append(f"polling degraded: {state['polling']}")
        return {
            "ok": not problems,
            "problems": problems,
            "lms": "up" if lms is None else "unreachable",
            "store": "writable" if store is None else "not writable",
            "adapters": adapters,
            **state,
        }

    async def heartbeat(self) -> None:
        """Record the bridge's state in the store for ``pluto-bridge status``."""
        await operations.put_runtime(
            self.store,
            "bridge",
            {
                "pid": os.getpid(),
                "version": __version__,
                "started_at": self.started_at,
                "running": True,
                "adapters": await self.adapter_states(),
                **self.pipeline_state(),
            },
        )

    async def stopped(self) -> None:
        """The bridge stops cleanly: say so, so ``status`` does not wait for the heartbeat to age."""
        await operations.put_runtime(
            self.store, "bridge", {"pid": os.getpid(), "started_at": self.started_at, "running": False}
        )

    async def refresh_metrics(self) -> None:
        """Set the gauges that come from the store, just before a scrape."""
        counts = await operations.counts(self.store)
        self.metrics.set_store_gauges([p.value for p in self.adapters], counts.backlog, counts.dead, counts.links)
        self.metrics.set_adapter_states(await self.adapter_states())


def operator_routes(health: Health) -> list[web.RouteDef]:
    """``/healthz``, ``/readyz`` and ``/metrics``: on the main server, or on their own
    (``web.management_listen``)."""

    def answer(body: dict[str, Any]) -> web.Response:
        return web.json_response(body, status=200 if body["ok"] else 503)

    async def healthz(request: web.Request) -> web.Response:
        return answer(health.liveness())

    async def readyz(request: web.Request) -> web.Response:
        return answer(await health.readiness())

    async def metrics(request: web.Request) -> web.Response:
        await health.refresh_metrics()
        return web.Response(body=health.metrics.render(), content_type="text/plain", charset="utf-8")

    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]


async def beat(health: Health, every: float = HEARTBEAT_EVERY) -> None:
    """Heartbeat loop, until cancelled; a failed beat (store busy) is logged, not fatal."""
    while True:
        try:
            await health.heartbeat()
        except Exception as exc:
            log.warning("could not record the heartbeat for `pluto-bridge status`: %s", exc)
        await asyncio.sleep(every)

