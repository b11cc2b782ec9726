"""``pluto-bridge demo``: the whole bridge on embedded defaults, against the sandbox LMS.

It starts the seeded sandbox Pluto LMS on 127.0.0.1, the bridge on SQLite in a temporary
folder, and the console adapter as mentee Sam; signs Sam in through the bridge's own
sign-in page; then lets the mentor write. Lines starting ``[Pluto LMS]`` show the LMS
side as it changes. ``--scripted`` plays a walkthrough and exits 0 when every step was
seen on both sides.
"""

from __future__ import annotations

import asyncio
import re
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol, cast

import aiohttp

from bridge.adapter_registry import adapter_factory
from bridge.app import Bridge
from bridge.config import load_settings
from bridge.lms.client import LmsClient
from bridge.model import Platform
from bridge.store.crypto import new_key
from sandbox.lms import SandboxLMS

STEP_TIMEOUT = 20.0


class Console(Protocol):
    """What the demo uses of the console adapter beyond the adapter contract."""

    input_closed: asyncio.Event

    async def type_line(self, line: str) -> None:
        """Feed one line as if the person typed it."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Transcript:
    """Everything the console showed, so the walkthrough can wait for what it expects."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.lines: list[str] = []
        self.echo = echo
        self._changed = asyncio.Event()

    def write(self, text: str) -> None:
        self.lines.append(text)
        self.echo(text)
        self._changed.set()

    async def wait_for(self, pattern: str, timeout: float = STEP_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.S)
        while True:
            for line in self.lines:
                match = regex.search(line)
                if match:
                    return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the console never showed {pattern!r}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass


class LmsWatcher:
    """Prints new messages of the watched LMS conversations as the LMS stores them."""

    def __init__(self, lms: SandboxLMS, names: dict[int, str], echo: Callable[[str], None]) -> None:
        self.lms = lms
        self.names = names
        self.echo = echo
        self.seen: set[int] = set()
        self.conversations: dict[int, str] = {}

    def watch(self, conversation_id: int, title: str) -> None:
        """Show this conversation's messages from now on (and the ones already there)."""
        self.conversations[conversation_id] = title

    def scan(self) -> None:
        for conversation_id, title in self.conversations.items():
            for message in self.lms.messages_in(conversation_id):
                if message["id"] not in self.seen:
                    self.seen.add(message["id"])
                    author = self.names.get(message["useridfrom"], f"user {message['useridfrom']}")
                    self.echo(f"[Pluto LMS] {title} | {author}: {message['text']}")

    async def run(self) -> None:
        while True:
            self.scan()
            await asyncio.sleep(0.2)

    async def wait_for(self, conversation_id: int, author_id: int, text: str, timeout: float = STEP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(m["useridfrom"] == author_id and m["text"] == text for m in self.lms.messages_in(conversation_id)):
                self.scan()
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the LMS never stored {text!r} in conversation {conversation_id}")


async def _sign_in(url: str, username: str, password: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data={"username": username, "password": password, "confirm": "yes"}) as resp,
    ):
        body = await resp.text()
        if resp.status != 200 or "Linked" not in body:
            raise RuntimeError(f"sign-in page answered {resp.status}")


async def run_demo(*, scripted: bool, echo: Callable[[str], None] = print) -> int:
    """Run the demo; returns the process exit code."""
    lms = SandboxLMS(site_name="Pluto LMS (demo sandbox)")
    seed = lms.seed_demo()
    await lms.start()
    names = {
        uid: name
        for uid, name in (
            (seed.mentor_id, "Maya Mentor"),
            (seed.mentee1_id, "Sam Mentee"),
            (seed.mentee2_id, "Alex Mentee"),
        )
    }
    transcript = Transcript(echo)
    adapter = adapter_factory(Platform.CONSOLE)(
        user_id="sam",
        display_name="Sam (console)",
        lines=_no_input() if scripted else None,
        write=transcript.write,
    )
    console = cast(Console, adapter)

    async def type_line(line: str) -> None:
        echo(f"you> {line}")
        await console.type_line(line)

    workdir = Path(tempfile.mkdtemp(prefix="pluto-bridge-demo-"))
    port = _free_port()
    settings = load_settings(
        None,
        lms={"url": lms.url, "poll_interval": 1.0},
        store={"url": f"sqlite+aiosqlite:///{workdir / 'bridge.sqlite3'}", "token_key": new_key()},
        web={"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
        console={"enabled": True},
    )
    bridge = Bridge(settings, adapters={Platform.CONSOLE: adapter})
    watcher = LmsWatcher(lms, names, echo)
    tasks: list[asyncio.Task[None]] = []
    try:
        echo(f"Sandbox Pluto LMS at {lms.url}; bridge store in {workdir}")
        await bridge.start()
        echo("You are Sam Mentee's chat. Signing Sam in through the bridge's sign-in page...")
        await type_line("/link")
        url = (await transcript.wait_for(r"(http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+)")).group(1)
        await _sign_in(url, "mentee1", seed.passwords["mentee1"])
        await transcript.wait_for(r"Linked to Pluto as Sam Mentee")
        direct = lms.post_message(seed.mentor_id, seed.mentee1_id, "Welcome, Sam! How is the first module going?")
        watcher.watch(direct["conversationid"], "Maya Mentor <-> Sam Mentee")
        watcher.watch(seed.group_conversation_id, "Cohort A (group)")
        watcher.scan()
        tasks.append(asyncio.create_task(watcher.run()))
        await transcript.wait_for(r"Welcome, Sam!")
        await _showcase(lms, seed.mentor_id, seed.mentee1_id, seed.mentee2_id, seed.group_conversation_id)
        group = await transcript.wait_for(r"--- #(\d+) ---\nMaya Mentor · Cohort A")
        alert = await transcript.wait_for(r"--- #(\d+) ---\n[^#]*Essay 1 is due tomorrow[^#]*\[1\] Mark read")
        await transcript.wait_for(r"Contact request from Alex Mentee[^#]*\[1\] Accept\s+\[2\] Decline")
        await type_line("/to Maya Mentor")  # the group message made Cohort A current
        await transcript.wait_for(r"What you write now goes to Maya Mentor")
        if not scripted:
            echo(
                "Type a line to answer Maya; /reply N TEXT answers message #N, /press N K presses its "
                "button K (/help lists every command; Ctrl-D quits)."
            )
            await _interactive(lms, console, seed.mentor_id, seed.mentee1_id, direct["conversationid"])
            return 0
        reply = "Going well, thanks! I have a question about module 2."
        await type_line(reply)
        await watcher.wait_for(direct["conversationid"], seed.mentee1_id, reply)
        group_reply = "Friday works for me."
        await type_line(f"/reply {group.group(1)} {group_reply}")
        await watcher.wait_for(seed.group_conversation_id, seed.mentee1_id, group_reply)
        await type_line(f"/press {alert.group(1)} 1")
        await transcript.wait_for(r"Essay 1 is due tomorrow.*Marked read by Sam Mentee")
        echo(
            "Demo complete: a private and a group message, an alert and a task reached the chat; "
            "the replies and the button press are in the LMS."
        )
        return 0
    except (TimeoutError, RuntimeError) as exc:
        echo(f"demo failed: {exc}")
        return 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bridge.stop()
        await lms.stop()


async def _showcase(lms: SandboxLMS, mentor: int, sam: int, alex: int, group_conversation: int) -> None:
    """What else reaches a chat besides a private message: a group conversation's message, an
    alert with a button, and a task to decide (Alex's contact request: Accept or Decline)."""
    lms.post_to_conversation(mentor, group_conversation, "Cohort A: our call moves to Friday.")
    lms.notify(
        sam,
        subject="Essay 1 is due tomorrow",
        text="Submit by 17:00.",
        component="mod_assign",
        eventtype="assign_notification",
        contexturl=f"{lms.url}/mod/assign/view.php?id=5",
    )
    async with LmsClient(lms.url) as client:
        await client.call(
            lms.issue_token(alex), "core_message_create_contact_request", userid=alex, requesteduserid=sam
        )


async def _no_input() -> AsyncIterator[str]:
    """Scripted mode types through ``type_line``; standard input stays untouched."""
    await asyncio.Event().wait()
    yield ""  # pragma: no cover - never reached


async def _interactive(lms: SandboxLMS, console: Console, mentor_id: int, mentee_id: int, conversation_id: int) -> None:
    """Until the person ends the input (Ctrl-D): the mentor answers each new chat message."""
    answered = {m["id"] for m in lms.messages_in(conversation_id)}

    async def mentor() -> None:
        while not console.input_closed.is_set():
            for m in lms.messages_in(conversation_id):
                if m["id"] not in answered and m["useridfrom"] == mentee_id:
                    answered.add(m["id"])
                    sent = lms.post_message(mentor_id, mentee_id, f"Thanks Sam, noted: \u201c{m['text'][:200]}\u201d")
                    answered.add(sent["msgid"])
            await asyncio.sleep(0.5)

    task = asyncio.create_task(mentor())
    await console.input_closed.wait()
    await task
