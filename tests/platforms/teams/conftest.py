"""Fixtures for the Teams adapter tests: the sandbox Bot Connector and a bot served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.teams import TeamsAdapter
from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.teams import SandboxTeams, TeamsUser
from tests.e2e.harness import BridgeProcess, bridge_config, sign_in
from tests.platforms.teams.sandbox_tokens import connections_for
from tests.sink import RecordingSink


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxTeams]:
    sb = SandboxTeams(enforce_limits=False)
    await sb.start()
    yield sb
    await sb.stop()


def make_adapter(sb: SandboxTeams) -> TeamsAdapter:
    """An adapter pointed at the sandbox (token endpoint + JWKS; serviceUrl comes from activities)."""
    return TeamsAdapter(
        app_id=sb.app_id,
        app_password=sb.app_password,
        tenant_id=sb.tenant_id,
        connections=connections_for(sb),
        jwks_url=sb.jwks_url,
        service_url=sb.service_url,
        timeout=10.0,
    )


@dataclass
class Bot:
    adapter: TeamsAdapter
    sink: RecordingSink
    server: TestServer


@pytest.fixture
async def bot(sandbox: SandboxTeams) -> AsyncIterator[Bot]:
    adapter = make_adapter(sandbox)
    app = web.Application()
    app.add_routes(adapter.web_routes())
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    sink = RecordingSink()
    await adapter.start(sink)
    sandbox.bot_endpoint = str(server.make_url("/api/messages"))
    yield Bot(adapter, sink, server)
    await adapter.stop()
    await adapter.stop()  # safe twice
    await server.close()


# --- end to end: the real bridge process with only Teams enabled -------------------------


def visible(html_text: str) -> str:
    """What a person reads of a Teams HTML message: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", html_text))


class TeamsChat:
    """The sandbox Teams and one running bridge, seen from the people in the chats."""

    def __init__(self, sandbox: SandboxTeams, bridge: BridgeProcess, port: int) -> None:
        self.sandbox = sandbox
        self.bridge = bridge
        self.port = port

    def texts(self, user: TeamsUser) -> list[str]:
        """The HTML texts the bot posted into ``user``'s personal chat, in order."""
        return [str(a.get("text") or "") for a in self.sandbox.messages_in(self.room(user))]

    def room(self, user: TeamsUser) -> str:
        return self.sandbox.personal_conversation(user).id

    async def wait_for_text(
        self, user: TeamsUser, needle: str, *, after: int = 0, limit: float = 15.0
    ) -> str:
        """The first text (from index ``after``) containing ``needle``, once it arrives."""

        def found() -> str | None:
            return next((t for t in self.texts(user)[after:] if needle in t), None)

        await self.sandbox.wait_until(lambda: found() is not None, limit)
        text = found()
        assert text is not None
        return text

    async def until(self, predicate: Callable[[], bool], limit: float = 15.0) -> None:
        """Wait for a condition elsewhere (the LMS), failing with the bridge's last words."""
        deadline = asyncio.get_running_loop().time() + limit
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out; bridge stderr:\n" + "\n".join(self.bridge.err[-20:]))
            await asyncio.sleep(0.05)

    async def say(self, user: TeamsUser, text: str, *, reply_to_id: str | None = None) -> None:
        """``user`` writes in the personal chat; the bridge's /api/messages must accept it."""
        status, body = await self.sandbox.push(self.sandbox.message(user, text, reply_to_id=reply_to_id))
        assert status in (200, 202), (status, body)

    async def install(self, user: TeamsUser) -> None:
        """The app is installed for ``user``: Teams sends installationUpdate, then
        conversationUpdate with the bot among the members added."""
        for activity in (self.sandbox.installation_update(user), self.sandbox.conversation_update(user)):
            status, body = await self.sandbox.push(activity)
            assert status in (200, 202), (status, body)

    async def linked(self, name: str, username: str) -> TeamsUser:
        """A new Teams user with the app installed, linked to ``username``."""
        user = self.sandbox.add_user(name)
        await self.install(user)
        await self.link(user, username)
        return user

    async def link(self, user: TeamsUser, username: str, password: str = "Passw0rd!") -> None:
        """The real flow: ``link`` typed -> sign-in URL in chat -> form posted -> confirmation."""
        mark = len(self.texts(user))
        await self.say(user, "link")
        text = await self.wait_for_text(user, "/link/", after=mark)
        url = re.search(r"http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+", text)
        assert url is not None, text
        async with aiohttp.ClientSession() as http, http.post(
            url.group(0), data=sign_in(username, password)
        ) as resp:
            assert resp.status == 200, await resp.text()
        await self.wait_for_text(user, "Linked to Pluto as", after=mark)


def teams_bridge_config(
    tmp: Path, lms_url: str, sandbox: SandboxTeams, poll_interval: float | None = None
) -> tuple[Path, int]:
    """A bridge config with only Teams enabled, pointed at ``sandbox``; sets its bot endpoint."""
    config, port = bridge_config(
        tmp,
        lms_url,
        **({"lms": {"poll_interval": poll_interval}} if poll_interval is not None else {}),
        console={"enabled": False},
        teams={
            "enabled": True,
            "app_id": sandbox.app_id,
            "app_password": sandbox.app_password,
            "tenant_id": sandbox.tenant_id,
            "jwks_url": sandbox.jwks_url,
            "graph_url": sandbox.graph_url,
        },
    )
    sandbox.bot_endpoint = f"http://127.0.0.1:{port}/api/messages"
    return config, port


async def start_bridge(config: Path, port: int, sandbox: SandboxTeams, limit: float = 45.0) -> BridgeProcess:
    """Start ``pluto-bridge run`` (with outbound tokens from ``sandbox``: ``bridge_main``)
    and wait until its web server answers /healthz (the SDK imports alone take seconds on
    a loaded machine, hence the generous ``limit``)."""
    argv = ["-m", "tests.platforms.teams.bridge_main", sandbox.token_endpoint, str(config)]
    process = await BridgeProcess(config, argv).start()
    deadline = asyncio.get_running_loop().time() + limit
    async with aiohttp.ClientSession() as http:
        while True:
            assert process.proc is not None
            if process.proc.returncode is not None:
                raise AssertionError("bridge exited at start:\n" + "\n".join(process.err[-30:]))
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return process
            except aiohttp.ClientConnectionError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                await process.stop()
                raise AssertionError("bridge web server never came up:\n" + "\n".join(process.err[-30:]))
            await asyncio.sleep(0.1)


@pytest.fixture
async def live_sandbox() -> AsyncIterator[SandboxTeams]:
    """The sandbox Bot Connector at Teams' real throttling limits."""
    sb = SandboxTeams(enforce_limits=True)
    await sb.start()
    yield sb
    await sb.stop()


@pytest.fixture
async def chat(
    lms: SandboxLMS, seed: DemoSeed, live_sandbox: SandboxTeams, tmp_path: Path
) -> AsyncIterator[TeamsChat]:
    """The real bridge process with only Teams enabled, against the seeded LMS."""
    config, port = teams_bridge_config(tmp_path, lms.url, live_sandbox)
    teams_chat = TeamsChat(live_sandbox, await start_bridge(config, port, live_sandbox), port)
    try:
        yield teams_chat
    finally:
        await teams_chat.bridge.stop()  # the one running now (a test may have restarted it)


@contextlib.asynccontextmanager
async def totara_world(
    sandbox: SandboxTeams, tmp: Path, *, task_extension: bool = True, poll_interval: float | None = None
) -> AsyncIterator[tuple[TeamsChat, SandboxLMS, DemoSeed]]:
    """A Totara-mode Pluto (with or without its task-action plugin) and the bridge, Teams only."""
    lms = SandboxLMS(mode="totara", task_extension=task_extension)
    seed = lms.seed_demo()
    await lms.start()
    try:
        config, port = teams_bridge_config(tmp, lms.url, sandbox, poll_interval)
        process = await start_bridge(config, port, sandbox)
        try:
            yield TeamsChat(sandbox, process, port), lms, seed
        finally:
            await process.stop()
    finally:
        await lms.stop()
