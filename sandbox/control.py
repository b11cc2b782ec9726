"""Drive a sandbox that runs in a process of its own (``--control-port`` of its CLI).

A test that must keep the sandboxes out of its own process (a chaos run, where only the
bridge should compete with them for the CPU, and a crash of the test cannot take them down)
still needs to play the people and read what they see. The sandbox's CLI then also serves
this small control API on 127.0.0.1, and ``Remote`` is a stand-in for the sandbox object on
the test's side: attribute reads, attribute writes and method calls travel as JSON (a
coroutine method stays one to await), so the helpers written for an in-process sandbox work
unchanged on a ``Remote``.

Values cross as JSON: dataclasses arrive as ``types.SimpleNamespace`` (``result.status``
still reads), tuples and sets as lists, dict keys as strings. Objects that are neither
values nor methods (``lms.state``) arrive as a further ``Remote``. Test-only: anyone who
reaches the port can change the sandbox, so it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import inspect
import json
import time
import types
import urllib.error
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web

_VALUES = (str, int, float, bool, type(None), list, tuple, dict, set, frozenset, deque, bytes)


def encode(value: Any) -> Any:
    """``value`` as JSON-able data (dataclasses marked so ``Remote`` rebuilds a namespace)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__ns__": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, enum.Enum):
        return encode(value.value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | deque):
        return [encode(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def _decode_hook(obj: dict[str, Any]) -> Any:
    return types.SimpleNamespace(**obj["__ns__"]) if set(obj) == {"__ns__"} else obj


def _resolve(target: object, path: str) -> Any:
    found: Any = target
    for name in path.split("."):
        if not name or name.startswith("_"):
            raise AttributeError(f"not reachable from outside: {path!r}")
        found = getattr(found, name)
    return found


def control_app(target: object) -> web.Application:
    """The control API over ``target``: POST /get, /set and /call with a JSON body."""

    async def get(request: web.Request) -> web.Response:
        body = await request.json()
        found = _resolve(target, body["path"])
        if isinstance(found, _VALUES):
            return web.json_response({"kind": "value", "value": encode(found)})
        if inspect.iscoroutinefunction(found):
            return web.json_response({"kind": "coroutine"})
        return web.json_response({"kind": "method" if callable(found) else "object"})

    async def set_(request: web.Request) -> web.Response:
        body = await request.json()
        owner, _, name = body["path"].rpartition(".")
        setattr(_resolve(target, owner) if owner else target, name, body["value"])
        return web.json_response({"kind": "value", "value": None})

    async def call(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            result = _resolve(target, body["path"])(*body.get("args", []), **body.get("kwargs", {}))
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # the caller sees what the sandbox raised
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
        return web.json_response({"kind": "value", "value": encode(result)})

    async def ping(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/get", get)
    app.router.add_post("/set", set_)
    app.router.add_post("/call", call)
    app.router.add_get("/ping", ping)
    return app


@contextlib.asynccontextmanager
async def controlled(target: object, port: int) -> AsyncIterator[None]:
    """Serve the control API over ``target`` on 127.0.0.1:``port`` (0: not at all) while
    the block runs; the sandboxes' CLIs wrap their serving loop in it."""
    if not port:
        yield
        return
    runner = web.AppRunner(control_app(target))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"control API on http://127.0.0.1:{port}", flush=True)
    try:
        yield
    finally:
        await runner.cleanup()


class RemoteError(RuntimeError):
    """The sandbox raised this while running a call for the test."""


class Remote:
    """The test's side: stands for the sandbox object served at ``url`` (see module doc)."""

    def __init__(self, url: str, path: str = "") -> None:
        object.__setattr__(self, "_url", url.rstrip("/"))
        object.__setattr__(self, "_path", path)
        # No proxies from the environment: the sandbox is on 127.0.0.1.
        object.__setattr__(self, "_opener", urllib.request.build_opener(urllib.request.ProxyHandler({})))

    def _full(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def _post(self, route: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self._url + route, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with self._opener.open(request, timeout=120) as resp:
                return json.loads(resp.read(), object_hook=_decode_hook)
        except urllib.error.HTTPError as exc:
            raise RemoteError(exc.read().decode(errors="replace")) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        path = self._full(name)
        answer = self._post("/get", {"path": path})
        if answer["kind"] == "value":
            return answer["value"]
        if answer["kind"] == "object":
            return Remote(self._url, path)
        if answer["kind"] == "coroutine":  # awaited there, so awaitable here too
            return lambda *args, **kwargs: self.call(name, *args, **kwargs)
        return lambda *args, **kwargs: self._post("/call", {"path": path, "args": args, "kwargs": kwargs})["value"]

    def __setattr__(self, name: str, value: Any) -> None:
        self._post("/set", {"path": self._full(name), "value": value})

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call method ``name`` without blocking the test's event loop (for calls that wait,
        such as a push to the bridge)."""
        body = {"path": self._full(name), "args": args, "kwargs": kwargs}
        async with aiohttp.ClientSession() as http:
            async with http.post(self._url + "/call", json=body) as resp:
                text = await resp.text()
        if resp.status != 200:
            raise RemoteError(text)
        return json.loads(text, object_hook=_decode_hook)["value"]

    async def wait_until(self, predicate: Callable[[], Any], within: float = 10.0) -> None:
        """Poll ``predicate`` (run here, on remote reads) until it is truthy, as the
        sandboxes' own ``wait_until`` does."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox condition not reached")
            await asyncio.sleep(0.05)
