"""The console: the person types on the bridge's standard input and reads its output."""

from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp

from tests.e2e.harness import BridgeProcess, bridge_config, sign_in

from .base import SAM, Arrived, ChatDriver

_BLOCK = re.compile(r"^--- #(\d+)(?: from (.+?))?(?: \(updated\))? ---$")
_ELSEWHERE = re.compile(r"^([@#])([^|\s]+)\| (.*)$")  # a room's line, or another person's
_CHOICES = re.compile(r"^\[1\] .*\(/press \d+ N \[reason\]\)$")
_CHOICE = re.compile(r"\[\d+\] (.+?)(?=\s{2,}\[\d+\]|\s{3}\(/press)")


class ConsoleDriver(ChatDriver):
    """The console adapter, chatting with one person (Sam)."""

    name = "console"
    rooms = True
    people = frozenset({SAM})

    earlier: list[str]  # what earlier processes printed (before a restart)

    async def start(self) -> None:
        self.earlier = []
        self.config, self.port = bridge_config(self.tmp, self.lms.url)
        self.bridge = await BridgeProcess(self.config).start()
        await self.bridge.expect(r"send /link", timeout=45)  # the console greets an unlinked person

    async def restart(self, while_down: Callable[[], object]) -> None:
        self.earlier += self._bridge.out
        await self._bridge.stop()
        while_down()
        self.bridge = await BridgeProcess(self.config).start()
        await self.bridge.ready(self.port)

    async def stop(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()

    @property
    def _bridge(self) -> BridgeProcess:
        assert self.bridge is not None
        return self.bridge

    async def link(self, person: str, username: str) -> None:
        await self._bridge.link(username)

    async def write(self, person: str, text: str) -> None:
        await self._bridge.type(text)

    async def reply(self, person: str, to: Arrived, text: str) -> None:
        await self._bridge.type(f"/reply {to.ref} {text}")

    async def press(self, person: str, message: Arrived, label: str, reason: str | None = None) -> None:
        given = f" {reason}" if reason is not None else ""
        await self._bridge.type(f"/press {message.ref} {message.buttons.index(label) + 1}{given}")

    async def command(self, person: str, text: str) -> list[str]:
        mark = len(self.arrived(person))
        await self._bridge.type(f"/{text}")
        return await self.answers_after(person, mark)

    def _lines(self) -> list[str]:
        return [*self.earlier, *self._bridge.out]

    def _of(self, mark: str, name: str) -> list[str]:
        """The lines only ``mark``+``name`` shows (``@alex``, ``#cohort``), unprefixed."""
        return [m.group(3) for line in self._lines() if (m := _ELSEWHERE.match(line)) and m.group(1, 2) == (mark, name)]

    def arrived(self, person: str) -> list[Arrived]:
        """Each ``--- #N ---`` block (a post, ref N; an ``(updated)`` block replaces it where
        it stood) and each ``[bridge]`` line (an answer) of the person's private chat."""
        if person != SAM:
            return self._blocks(self._of("@", person))
        return self._blocks([line for line in self._lines() if not _ELSEWHERE.match(line)])

    def room_posts(self, room: str) -> list[Arrived]:
        return self._blocks(self._of("#", room))

    async def link_person(self, person: str, username: str) -> None:
        mark = len(self._bridge.out)
        await self._bridge.type(f"@{person}: /link")
        url = (await self._bridge.expect(rf"@{person}\| .*?(http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+)", after=mark))
        async with aiohttp.ClientSession() as http:
            async with http.post(url.group(1), data=sign_in(username)) as resp:
                assert resp.status == 200, await resp.text()
        await self._bridge.expect(rf"@{person}\| Linked to Pluto as", after=mark)

    async def room_write(self, room: str, person: str, text: str) -> None:
        await self._bridge.type(f"#{room} {person}: {text}")

    async def room_reply(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self._bridge.type(f"#{room} {person}: /reply {to.ref} {text}")

    async def room_edit(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self._bridge.type(f"#{room} {person}: /edit {to.ref} {text}")

    async def room_command(self, room: str, person: str, text: str) -> None:
        await self._bridge.type(f"#{room} {person}: /{text}")

    async def join(self, room: str, person: str) -> None:
        await self._bridge.type(f"#{room} +{person}")

    async def remove_bot(self, room: str) -> None:
        await self._bridge.type(f"#{room} !remove")

    async def add_bot(self, room: str) -> None:
        await self._bridge.type(f"#{room} !add")

    async def press_privately(self, person: str, message: Arrived, label: str) -> None:
        prefix = "" if person == SAM else f"@{person}: "
        await self._bridge.type(f"{prefix}/press {message.ref} {message.buttons.index(label) + 1}")

    @staticmethod
    def _blocks(lines_in: list[str]) -> list[Arrived]:
        found: list[Arrived] = []
        at: dict[str, int] = {}  # message number -> its place in ``found``
        number: str | None = None
        lines: list[str] = []
        choices: tuple[str, ...] = ()

        def close() -> None:
            assert number is not None
            post = Arrived("\n".join(lines), number, choices)
            if number in at:
                found[at[number]] = post
            else:
                at[number] = len(found)
                found.append(post)

        answer: int | None = None  # the [bridge] answer whose further lines these are
        for line in [*lines_in, "[end]"]:
            header = _BLOCK.match(line)
            if number is not None and (header or line.startswith(("[bridge] ", "[end]", "("))):
                close()
                number = None
            if header or line.startswith("("):
                answer = None
            if header:
                number, lines, choices = header.group(1), [], ()
                if header.group(2):
                    lines.append(header.group(2))  # a room post: its author's name on top
            elif line.startswith("[bridge] "):
                answer = len(found)
                found.append(Arrived(line.removeprefix("[bridge] "), None))
            elif number is not None and _CHOICES.match(line):
                choices = tuple(_CHOICE.findall(line))
            elif number is not None:
                lines.append(line)
            elif answer is not None and line != "[end]":
                found[answer] = Arrived(found[answer].text + "\n" + line, None)
        return found
