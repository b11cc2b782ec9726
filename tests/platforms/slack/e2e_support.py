"""The Slack side of end-to-end runs: the real ``pluto-bridge run`` process, with only Slack
enabled, against the sandbox LMS and the sandbox Slack (in HTTP or Socket Mode), and what
the people in Slack see and do."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.slack import SandboxSlack
from tests.e2e.harness import BridgeProcess, bridge_config, sign_in
from tests.support import until

SECRET = "e2e-signing-secret"
T1, T2 = "T0ONE", "T0TWO"
TOKENS = {T1: "xoxb-e2e-one", T2: "xoxb-e2e-two"}
SAM, ALEX, KIM = "U0SAM", "U0ALEX", "U0KIM"  # Sam and Alex in T1, Kim in T2
LINK_URL = re.compile(r"http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+")


def shown(message: Mapping[str, Any]) -> str:
    """What Slack draws for a message: its section blocks' text, else its ``text``."""
    sections = [b["text"]["text"] for b in message.get("blocks") or [] if b.get("type") == "section"]
    return "\n".join(sections) if sections else str(message.get("text") or "")



def new_sandbox(**kwargs: Any) -> SandboxSlack:
    """The sandbox Slack at its real limits with two workspaces: Sam and Alex in T1, Kim in T2."""
    return populate(SandboxSlack(signing_secret=SECRET, **kwargs))


def populate(slack: Any) -> Any:
    """Two workspaces in ``slack`` (a sandbox, or a ``Remote`` of one in another process):
    Sam and Alex in T1, Kim in T2; events signed with ``SECRET``."""
    slack.signing_secret = SECRET
    slack.add_team(T1, TOKENS[T1], name="one")
    slack.add_team(T2, TOKENS[T2], name="two")
    slack.add_user(T1, SAM, "sam", display_name="Sam", real_name="Sam Mentee")
    slack.add_user(T1, ALEX, "alex", real_name="Alex Mentee")
    slack.add_user(T2, KIM, "kim", display_name="Kim")
    return slack


def slack_config(
    tmp: Path, lms_url: str, slack: SandboxSlack, mode: str, workspaces: Mapping[str, str] = TOKENS
) -> tuple[Path, int]:
    """A bridge config with only Slack enabled (console off); returns (path, web port)."""
    section: dict[str, Any] = {
        "enabled": True,
        "mode": mode,
        "api_base_url": slack.api_url,
        "workspaces": dict(workspaces),
    }
    if mode == "socket":  # as deployed: an app-level token and no signing secret
        section["app_token"] = slack.app_token
    else:
        section["signing_secret"] = SECRET
    return bridge_config(tmp, lms_url, console={"enabled": False}, slack=section)


class SlackChat:
    """The people in Slack, talking to one running bridge process through the sandbox."""

    def __init__(self, slack: SandboxSlack, process: BridgeProcess, mode: str, web_port: int) -> None:
        self.slack = slack
        self.process = process
        self.mode = mode
        self.web_port = web_port

    @classmethod
    async def start(cls, slack: SandboxSlack, config: Path, web_port: int, mode: str) -> SlackChat:
        """Run the bridge and wait until its Slack adapter is ready for events."""
        if mode == "socket":
            slack.push_mode = "socket"
        else:
            slack.push_mode = "http"
            slack.bridge_url = f"http://127.0.0.1:{web_port}/slack/events"
        process = await BridgeProcess(config).start()
        chat = cls(slack, process, mode, web_port)
        try:
            await until(lambda: chat._started(), 60, "the Slack adapter to start")
            if mode == "socket":
                await slack.wait_socket()
        except BaseException:
            await process.stop()
            raise
        return chat

    def _started(self) -> bool:
        if self.process.proc is not None and self.process.proc.returncode is not None:
            raise AssertionError("bridge exited:\n" + "\n".join(self.process.err[-30:]))
        return any("slack adapter started" in line for line in self.process.err)

    async def stop(self) -> None:
        """Stop the process (SIGTERM)."""
        await self.process.stop()

    # --- what people see ----------------------------------------------------------------

    def dm(self, team: str, user: str) -> list[dict[str, Any]]:
        """Every message in the person's DM with the bot (threads included), oldest first."""
        return list(self.slack.dm(team, user).messages)

    def seen(self, team: str, user: str) -> list[str]:
        """What the person sees in the DM, message by message."""
        return [shown(m) for m in self.dm(team, user)]

    async def wait_message(self, team: str, user: str, needle: str, within: float = 30.0) -> dict[str, Any]:
        """The first DM message showing ``needle``, once it has arrived."""
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            found[:] = [m for m in self.dm(team, user) if needle in shown(m)]
            return bool(found)

        await until(arrived, within, f"{needle!r} in the DM of {user}; it shows {self.seen(team, user)}")
        return found[0]

    # --- what people do ------------------------------------------------------------------

    async def command(self, team: str, user: str, text: str) -> list[dict[str, Any]]:
        """``/pluto <text>`` in the person's DM; returns what the bot answered through the
        command's response_url (once it answered)."""
        rid, result = await self.slack.post_slash_command(team, user, text)
        assert result.status == 200, result.body
        await until(lambda: self.slack.responses[rid], 30, f"an answer to /pluto {text}")
        return self.slack.responses[rid]

    async def say(
        self,
        team: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        typed: bool = True,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> str:
        """The person writes in their DM (in a thread with ``thread_ts``); returns the event id."""
        event = self.slack.user_message(team, user, text, typed=typed, thread_ts=thread_ts)
        event_id, result = await self.slack.sign_and_post_event(team, event, event_id=event_id, retry_num=retry_num)
        assert result.status == 200, result.body
        return event_id

    async def link(self, team: str, user: str, username: str, password: str = "Passw0rd!") -> dict[str, Any]:
        """The real flow: ``/pluto link`` -> a sign-in URL in chat -> the form -> confirmation."""
        answers = await self.command(team, user, "link")
        match = LINK_URL.search(" ".join(str(a.get("text")) for a in answers))
        assert match is not None, answers
        async with aiohttp.ClientSession() as http:
            async with http.post(match.group(0), data=sign_in(username, password)) as resp:
                assert resp.status == 200, await resp.text()
        return await self.wait_message(team, user, "Linked to Pluto as")
