"""Fixtures: a started sandbox LMS (frozen clock, demo seed) and a small REST client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sandbox.lms import Clock, DemoSeed, SandboxLMS

T0 = 1_795_458_000  # a fixed second the frozen clock starts at


def flatten(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Encode nested arguments as PHP bracket names, booleans as 1/0."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            out += flatten(value, name)
        elif isinstance(value, list):
            out += flatten({str(i): v for i, v in enumerate(value)}, name)
        elif isinstance(value, bool):
            out.append((name, "1" if value else "0"))
        else:
            out.append((name, str(value)))
    return out


class Client:
    """Calls the sandbox over real HTTP, as any Moodle REST client would."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def raw(self, token: str, function: str, **params: Any) -> tuple[int, Any]:
        """POST to server.php; returns (HTTP status, decoded JSON)."""
        data = [("wstoken", token), ("wsfunction", function), ("moodlewsrestformat", "json")]
        data += flatten(params)
        async with self.session.post(f"{self.url}/webservice/rest/server.php", data=data) as resp:
            return resp.status, await resp.json(content_type=None)

    async def call(self, token: str, function: str, **params: Any) -> Any:
        """As ``raw``, asserting HTTP 200 (Moodle never uses another status for WS errors)."""
        status, body = await self.raw(token, function, **params)
        assert status == 200
        return body

    async def login(
        self, username: str, password: str = "Passw0rd!", service: str = "moodle_mobile_app"
    ) -> Any:
        """POST to login/token.php; returns the decoded JSON."""
        data = {"username": username, "password": password, "service": service}
        async with self.session.post(f"{self.url}/login/token.php", data=data) as resp:
            assert resp.status == 200
            return await resp.json(content_type=None)


@pytest.fixture
async def lms() -> AsyncIterator[SandboxLMS]:
    """A started sandbox with its clock frozen at ``T0``."""
    clock = Clock()
    clock.freeze(T0)
    server = SandboxLMS(clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def seed(lms: SandboxLMS) -> DemoSeed:
    """The demo course, users and group conversation."""
    return lms.seed_demo()


@pytest.fixture
async def client(lms: SandboxLMS) -> AsyncIterator[Client]:
    """An HTTP client pointed at the sandbox."""
    async with aiohttp.ClientSession() as session:
        yield Client(session, lms.url)


def is_error(body: Any, errorcode: str) -> bool:
    """Whether ``body`` is a web-service error with that code."""
    return isinstance(body, dict) and "exception" in body and body.get("errorcode") == errorcode
