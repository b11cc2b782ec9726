"""``pluto-bridge status``: one screen for the operator, or JSON for scripts.

It reads the store (the running bridge's heartbeat, links, the outbox) and probes the LMS
itself, so it answers the same whether the bridge runs (SQLite in WAL mode lets it read
meanwhile) or not. Exit code 0 when all is well; 1 when the bridge is not running, the LMS
does not answer, or an adapter is not connected.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bridge.config import PLATFORMS, Settings
from bridge.health import HEARTBEAT_EVERY, PROBE_TIMEOUT
from bridge.lms.client import SITE_INFO, LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.operator import Echo, ago, open_store
from bridge.store import operations

STALE_AFTER = 3 * HEARTBEAT_EVERY  # a heartbeat older than this: the bridge is not running


async def probe_lms(settings: Settings) -> dict[str, Any]:
    """Whether the LMS answers a web-service call, and how fast (any answer counts)."""
    started = time.monotonic()
    token = settings.lms.token.get_secret_value() if settings.lms.token else ""
    async with LmsClient(settings.lms.url, service=settings.lms.service, timeout=PROBE_TIMEOUT, retries=0) as client:
        try:
            await client.call(token, SITE_INFO)
        except LmsUnavailable as exc:
            return {"up": False, "problem": str(exc)}
        except LmsError:
            pass  # it answered
    return {"up": True, "seconds": round(time.monotonic() - started, 3)}


def _bridge_state(runtime: dict[str, tuple[dict[str, Any], float]], now: float) -> dict[str, Any]:
    value, written = runtime.get("bridge", ({}, 0.0))
    running = bool(value.get("running")) and now - written < STALE_AFTER
    return {
        "running": running,
        "pid": value.get("pid"),
        "heartbeat_at": written or None,
        "started_at": value.get("started_at"),
        "adapters": value.get("adapters", {}) if running else {},
        "last_poll_at": value.get("last_poll_at"),
        "poll_cycles": value.get("poll_cycles"),
        "lms_down_since": value.get("lms_down_since") if running else None,
    }


async def gather(settings: Settings) -> dict[str, Any]:
    """Everything ``status`` shows, as a JSON-ready dict."""
    async with open_store(settings) as store:
        counts, runtime = await asyncio.gather(operations.counts(store), operations.runtime_state(store))
    lms = await probe_lms(settings)
    now = time.time()
    bridge = _bridge_state(runtime, now)
    enabled = [name for name in PLATFORMS if getattr(settings, name).enabled]
    adapters = {name: bridge["adapters"].get(name, "not running") for name in enabled}
    push, push_at = runtime.get("push", ({"state": "not configured"}, None))
    problems = []
    if not bridge["running"]:
        problems.append("the bridge is not running")
    if not lms["up"]:
        problems.append(f"LMS unreachable: {lms['problem']}")
    problems += [f"{name}: {state}" for name, state in adapters.items() if bridge["running"] and state != "connected"]
    return {
        "ok": not problems,
        "problems": problems,
        "bridge": bridge,
        "lms": {"url": settings.lms.url, **lms},
        "adapters": adapters,
        "links": counts.links,
        "backlog": counts.backlog,
        "oldest_pending_at": counts.oldest_pending,
        "dead": counts.dead,
        "push": {**push, "updated_at": push_at},
        "now": now,
    }


def _counts(values: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(values.items())) if values else "none"


def render(state: dict[str, Any]) -> list[str]:
    """The status screen, a line per fact."""
    now = state["now"]
    bridge = state["bridge"]
    lines = ["Pluto Bridge status"]
    if bridge["running"]:
        lines.append(f"  bridge:      running (pid {bridge['pid']}, heartbeat {ago(bridge['heartbeat_at'], now)})")
    else:
        seen = f"last seen {ago(bridge['heartbeat_at'], now)}" if bridge["heartbeat_at"] else "never ran on this store"
        lines.append(f"  bridge:      NOT RUNNING ({seen})")
    lms = state["lms"]
    lms_line = f"up ({lms['seconds']}s)" if lms["up"] else f"UNREACHABLE: {lms['problem']}"
    lines.append(f"  LMS:         {lms['url']} {lms_line}")
    for name, adapter in state["adapters"].items():
        lines.append(f"  {name + ':':<12} {adapter}")
    lines.append(f"  last poll:   {ago(bridge['last_poll_at'], now)}")
    lines.append(f"  links:       {_counts(state['links'])}")
    oldest = f" (oldest queued {ago(state['oldest_pending_at'], now)})" if state["oldest_pending_at"] else ""
    lines.append(f"  backlog:     {_counts(state['backlog'])}{oldest}")
    dead = _counts(state["dead"])
    hint = "  (pluto-bridge deliveries list --dead)" if state["dead"] else ""
    lines.append(f"  dead:        {dead}{hint}")
    push = state["push"]
    lines.append(f"  push:        {push.get('state', 'unknown')}")
    lines += [f"  problem:     {p}" for p in state["problems"]]
    return lines


async def show_status(settings: Settings, echo: Echo, *, as_json: bool) -> int:
    """``pluto-bridge status [--json]``; returns the exit code."""
    state = await gather(settings)
    if as_json:
        echo(json.dumps(state, indent=2))
    else:
        for line in render(state):
            echo(line)
    return 0 if state["ok"] else 1
