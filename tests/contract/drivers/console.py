"""The console: the person types on the bridge's standard input and reads its output."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.e2e.harness import BridgeProcess, bridge_config

from .base import SAM, Arrived, ChatDriver

_BLOCK = re.compile(r"^--- #(\d+)(?: \(updated\))? ---$")
_CHOICES = re.compile(r"^\[1\] .*\(/press \d+ N \[reason\]\)$")
_CHOICE = re.compile(r"\[\d+\] (.+?)(?=\s{2,}\[\d+\]|\s{3}\(/press)")


class ConsoleDriver(ChatDriver):
    """The console adapter, chatting with one person (Sam)."""

    name = "console"
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

    async def press(self, person: str, message: Arrived, label: str) -> None:
        await self._bridge.type(f"/press {message.ref} {message.buttons.index(label) + 1}")

    async def command(self, person: str, text: str) -> list[str]:
        mark = len(self.arrived(person))
        await self._bridge.type(f"/{text}")
        return await self.answers_after(person, mark)

    def arrived(self, person: str) -> list[Arrived]:
        """Each ``--- #N ---`` block (a post, ref N; an ``(updated)`` block replaces it where
        it stood) and each ``[bridge]`` line (an answer)."""
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
        for line in [*self.earlier, *self._bridge.out, "[end]"]:
            header = _BLOCK.match(line)
            if number is not None and (header or line.startswith(("[bridge] ", "[end]", "("))):
                close()
                number = None
            if header or line.startswith("("):
                answer = None
            if header:
                number, lines, choices = header.group(1), [], ()
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
