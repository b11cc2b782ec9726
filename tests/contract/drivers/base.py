"""The verbs of a person in a chat, the same on every platform."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.lms import SandboxLMS
from tests.e2e.harness import BridgeProcess
from tests.support import WITHIN, item_number

# The people of the LMS demo seed, as each platform's drivers name their chat accounts.
SAM = "sam"  # mentee1
ALEX = "alex"  # mentee2, in the chat on every platform but the console (one person only)


@dataclass(frozen=True)
class Arrived:
    """A message the bot posted in a person's chat: what they read, and what the platform
    needs to reply to it (message id, thread ts, console number...)."""

    text: str
    ref: Any
    buttons: tuple[str, ...] = ()  # labels of the buttons that come back to the bot (not links)
    raw: Any = field(default=None, compare=False)  # the platform's own record of the message


class ChatDriver(ABC):
    """One platform's chat with the real ``pluto-bridge run`` process (only that platform
    enabled) against the sandbox LMS: a person writes, replies, runs a command and reads
    what arrived."""

    name: str
    people: frozenset[str] = frozenset({SAM, ALEX})  # who chats on this platform

    def __init__(self, lms: SandboxLMS, tmp: Path) -> None:
        self.lms = lms
        self.tmp = tmp
        self.bridge: BridgeProcess | None = None

    @abstractmethod
    async def start(self) -> None:
        """Start the platform's sandbox and the bridge; return once it takes events."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop the bridge and the sandbox."""

    @abstractmethod
    async def restart(self, while_down: Callable[[], object]) -> None:
        """Stop the bridge process (SIGTERM), call ``while_down()``, start it again on the
        same store and wait until it takes events."""

    @abstractmethod
    async def link(self, person: str, username: str) -> None:
        """The real flow: the link command in chat, the sign-in page, the confirmation."""

    @abstractmethod
    async def write(self, person: str, text: str) -> None:
        """The person writes ``text`` in their chat with the bot (no reply, no thread)."""

    @abstractmethod
    async def reply(self, person: str, to: Arrived, text: str) -> None:
        """The person answers the message ``to`` the platform's way (reply, thread...)."""

    @abstractmethod
    async def command(self, person: str, text: str) -> list[str]:
        """The person runs the bridge's command ``text`` (e.g. ``to Maya``) as the platform
        writes it; returns the answer(s) they read, once one has arrived."""

    @abstractmethod
    async def press(self, person: str, message: Arrived, label: str, reason: str | None = None) -> None:
        """The person presses the button ``label`` on ``message``, the platform's way; with
        ``reason``, they give it as the platform asks (a reason box on the message, a modal,
        a reply to the bot's question)."""

    @abstractmethod
    def arrived(self, person: str) -> list[Arrived]:
        """What the bot posted in the person's chat so far, oldest first."""

    def texts(self, person: str) -> list[str]:
        """What the person reads, message by message."""
        return [a.text for a in self.arrived(person)]

    async def see(self, person: str, needle: str, within: float = WITHIN) -> Arrived:
        """The first message showing ``needle``, once it has arrived."""
        found = await self.wait_for(
            lambda: next((a for a in self.arrived(person) if needle in a.text), None), f"{needle!r} in the chat", within
        )
        assert isinstance(found, Arrived)
        return found

    async def listed_number(self, person: str, kind: str, subject: str, within: float = WITHIN) -> str:
        """The number the ``tasks`` command gives an open item, asking again (bounded) until
        the bridge has taken it in."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (number := item_number(" ".join(listing := await self.command(person, "tasks")), kind, subject)) is None:
            assert loop.time() < deadline, f"[{self.name}] no {kind} {subject!r} in {listing}"
            await asyncio.sleep(0.3)
        return number

    async def retired(self, person: str, needle: str, outcome: str) -> Arrived:
        """The message showing ``needle``, once it was changed to show ``outcome`` with no
        button left to press twice."""
        found = await self.wait_for(
            lambda: next(
                (a for a in self.arrived(person) if needle in a.text and outcome in a.text and not a.buttons), None
            ),
            f"{needle!r} retired with {outcome!r}",
        )
        assert isinstance(found, Arrived)
        return found

    async def wait_for(self, probe: Any, what: str, within: float = WITHIN) -> Any:
        """Poll ``probe()`` until it answers something truthy; fail early (with the bridge's
        log) if the bridge exited, or after ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (found := probe()):
            proc = self.bridge.proc if self.bridge is not None else None
            exited = proc is not None and proc.returncode is not None
            if exited or loop.time() > deadline:
                log = "\n".join(self.bridge.err[-30:]) if self.bridge is not None else ""
                state = "the bridge exited" if exited else "timed out"
                raise AssertionError(
                    f"[{self.name}] {state} waiting for {what}; Sam's chat shows {self.texts(SAM)}\nbridge log:\n{log}"
                )
            await asyncio.sleep(0.05)
        return found

    # --- the platform's flood control: drivers of platforms with limits implement these ---

    def throttle(self, person: str, sends: int, retry_after: int) -> None:
        """The platform refuses the next ``sends`` posts into the person's chat with its 429
        answer, asking the bot to wait ``retry_after`` seconds (flood control on one chat)."""
        raise NotImplementedError

    def refused(self, person: str) -> int:
        """How many posts into the person's chat the platform has refused with 429."""
        raise NotImplementedError

    # --- group rooms: drivers whose platform has them set ``rooms`` and implement these ---

    rooms: bool = False
    lists_members: bool = True  # the platform tells a bot who is in a room (Telegram does not)

    def room_sends(self, room: str) -> tuple[list[float], int]:
        """When (monotonic) the platform took each post into ``room``, and how many sends
        anywhere it refused with 429; ([], 0) where the platform has no limits (console)."""
        return [], 0

    def room_floor(self, posts: int) -> float:
        """The least time the platform's limits allow for ``posts`` into one room."""
        return 0.0

    async def link_person(self, person: str, username: str) -> None:
        """Link another person's chat account (the real flow), besides Sam's."""
        raise NotImplementedError

    async def room_write(self, room: str, person: str, text: str) -> None:
        """``person`` writes ``text`` in the shared room ``room`` (joining it if need be)."""
        raise NotImplementedError

    async def room_reply(self, room: str, person: str, to: Arrived, text: str) -> None:
        """``person`` answers the room post ``to`` the platform's way."""
        raise NotImplementedError

    async def room_edit(self, room: str, person: str, to: Arrived, text: str) -> None:
        """``person`` edits a message they wrote in the room."""
        raise NotImplementedError

    async def room_command(self, room: str, person: str, text: str) -> None:
        """``person`` runs the bridge command ``text`` in the room."""
        raise NotImplementedError

    async def join(self, room: str, person: str) -> None:
        """``person`` joins the room."""
        raise NotImplementedError

    async def remove_bot(self, room: str) -> None:
        """The bot is removed from the room."""
        raise NotImplementedError

    async def add_bot(self, room: str) -> None:
        """The bot is added back to the room."""
        raise NotImplementedError

    def room_posts(self, room: str) -> list[Arrived]:
        """What the bot posted in the room, oldest first (each with its author's name)."""
        raise NotImplementedError

    def private(self, person: str) -> list[Arrived]:
        """What ``person`` alone was shown (their private chat, ephemeral answers)."""
        return self.arrived(person)

    async def see_privately(self, person: str, needle: str) -> Arrived:
        """The first thing shown to ``person`` alone with ``needle``, once there."""
        found = await self.wait_for(
            lambda: next((a for a in self.private(person) if needle in a.text), None), f"{needle!r} for {person}"
        )
        assert isinstance(found, Arrived)
        return found

    async def see_in_room(self, room: str, needle: str) -> Arrived:
        """The first post in ``room`` showing ``needle``, once there."""
        found = await self.wait_for(
            lambda: next((a for a in self.room_posts(room) if needle in a.text), None), f"{needle!r} in {room}"
        )
        assert isinstance(found, Arrived)
        return found

    async def press_privately(self, person: str, message: Arrived, label: str) -> None:
        """``person`` presses ``label`` on a message only they were shown."""
        await self.press(person, message, label)

    async def answers_after(self, person: str, mark: int) -> list[str]:
        """The messages that arrived in the chat after the first ``mark``, once there is one."""
        await self.wait_for(lambda: len(self.arrived(person)) > mark, "an answer")
        return self.texts(person)[mark:]
