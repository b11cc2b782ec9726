"""An interactive terminal chat for one chat user: the simplest adapter, for trying it out.

What arrives is printed with a short number; what the person types goes to the core:

* plain text: a message to their current Pluto conversation;
* ``/reply N text``: an answer to message ``#N``'s conversation;
* ``/press N K [REASON]``: choice ``K`` of message ``#N``'s buttons (with a reason, for
  decisions that take one);
* ``/link``, ``/to NAME``, ... : the bridge's commands (``/help`` lists them).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TypedDict

from bridge.inbound.interaction import Interaction
from bridge.inbound.runner import Runner
from bridge.model import (
    ActionEvent,
    Capabilities,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    CommandSpec,
    ContactEvent,
    Destination,
    Markup,
    MessageEvent,
    Platform,
    Post,
    Reply,
    SentRef,
)
from bridge.ports import Adapter, EventSink, PermanentError
from bridge.profile import Profile

ROOM = "console"


class _EventFields(TypedDict):
    identity: ChatIdentity
    event_id: str
    room: str
    display_name: str
    is_private: bool


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on standard input.

    Read in a daemon thread: a thread of the default executor blocked in ``readline``
    would keep the process from exiting on SIGTERM.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="console stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


# The commands the console handles itself; /help lists them after the bridge's own.
CONSOLE_COMMANDS = (
    CommandSpec("reply", "reply N TEXT", "Answer the conversation of message #N"),
    CommandSpec("press", "press N K [REASON]", "Press button K of message #N (with a reason where one is asked)"),
)
OWN_NAMES = frozenset(c.name for c in CONSOLE_COMMANDS)  # each handled by ConsoleAdapter._cmd_<name>


def stdout_write(text: str) -> None:
    print(text, flush=True)


class ConsoleAdapter(Adapter):
    """Console chat for one person.

    Keyword arguments: ``user_id`` and ``display_name`` of the chat identity; ``lines``, an
    async iterator of typed lines (default: standard input); ``write``, where output goes
    (default: standard output).
    """

    platform = Platform.CONSOLE
    capabilities = Capabilities(markup=Markup.PLAIN, max_text=4000, max_actions=9, private_replies=True)
    profile = Profile(Platform.CONSOLE, "the console", capabilities, "/", CONSOLE_COMMANDS)

    def __init__(
        self,
        *,
        user_id: str = "console-user",
        display_name: str = "Console user",
        lines: AsyncIterator[str] | None = None,
        write: Callable[[str], None] = stdout_write,
    ) -> None:
        self.identity = ChatIdentity(Platform.CONSOLE, "", user_id)
        self.display_name = display_name
        self._lines = lines
        self._write = write
        # A per-run prefix keeps message ids unique across restarts; people type only the number.
        self._session = format(int(time.time() * 1000), "x")
        self._numbers = itertools.count(1)
        self._actions: dict[str, list[str]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._runner: Runner | None = None
        self.input_closed = asyncio.Event()

    def _event_fields(self) -> _EventFields:
        return {
            "identity": self.identity,
            "event_id": uuid.uuid4().hex,
            "room": ROOM,
            "display_name": self.display_name,
            "is_private": True,
        }

    async def start(self, sink: EventSink) -> None:
        self._runner = Runner.of(sink)
        self._reader = asyncio.create_task(self._read(), name="console reader")
        await self._deliver(ContactEvent(**self._event_fields()))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._runner is not None:
            await self._runner.stop(self.platform)

    def _message_id(self, number: str) -> str:
        return f"{self._session}.{number}"

    def parse(self, line: str) -> ChatEvent | None:
        """What a typed line means, or None for an empty line."""
        text = line.strip()
        if not text:
            return None
        fields = self._event_fields()
        if text.startswith("/"):
            word, _, rest = text[1:].partition(" ")
            if word.lower() in OWN_NAMES:
                handler: Callable[[str, _EventFields], ChatEvent | None] = getattr(self, f"_cmd_{word.lower()}")
                return handler(rest.strip(), fields)
            return CommandEvent(**fields, text=text[1:])  # the core parses it
        return MessageEvent(**fields, text=text)

    def _cmd_reply(self, rest: str, fields: _EventFields) -> ChatEvent | None:
        number, _, body = rest.partition(" ")
        return MessageEvent(**fields, text=body, reply_to=self._message_id(number.lstrip("#")))

    def _cmd_press(self, rest: str, fields: _EventFields) -> ChatEvent | None:
        number, _, rest = rest.partition(" ")
        choice, _, reason = rest.strip().partition(" ")
        ref = self._message_id(number.lstrip("#"))
        options = self._actions.get(ref, [])
        if not choice.isdigit() or not 1 <= int(choice) <= len(options):
            self._write(f"(message #{number} has no choice {choice or '?'})")
            return None
        return ActionEvent(
            **fields, action_id=options[int(choice) - 1], reason=reason.strip(), message=SentRef(ROOM, ref)
        )

    async def _read(self) -> None:
        lines = self._lines if self._lines is not None else stdin_lines()
        try:
            async for line in lines:
                await self.type_line(line)
        finally:
            self.input_closed.set()

    async def type_line(self, line: str) -> None:
        """Handle one line as if the person typed it."""
        event = self.parse(line)
        if event is not None:
            await self._deliver(event)

    async def _deliver(self, event: ChatEvent) -> None:
        assert self._runner is not None
        await self._runner.submit(Interaction(event, answer=self._show_reply))

    async def _show_reply(self, reply: Reply | None) -> None:
        """Answers print as ``[bridge]`` lines; one with buttons ends as a numbered message
        (its last text), so ``/press`` works on it as on any other."""
        texts = list(reply.texts) if reply is not None else []
        choices = reply.actions if reply is not None and texts else ()
        for text in texts[:-1] if choices else texts:
            self._write(f"[bridge] {text}")
        if choices:
            number = str(next(self._numbers))
            self._actions[self._message_id(number)] = [a.id for a in choices if a.url is None]
            self._write(self._format(number, Post(text=texts[-1], actions=choices)))

    def _format(self, number: str, post: Post) -> str:
        out = [f"--- #{number} ---", post.text]
        choices = [a for a in post.actions if a.url is None]
        links = [a for a in post.actions if a.url is not None]
        if choices:
            out.append(
                "  ".join(f"[{i}] {a.label}" for i, a in enumerate(choices, 1)) + f"   (/press {number} N [reason])"
            )
        out.extend(f"{a.label}: {a.url}" for a in links)
        return "\n".join(out)

    async def send(self, dest: Destination, post: Post) -> SentRef:
        if dest.identity != self.identity:
            raise PermanentError(f"the console chats with {self.identity.user_id} only")
        number = str(next(self._numbers))
        ref = self._message_id(number)
        self._actions[ref] = [a.id for a in post.actions if a.url is None]
        self._write(self._format(number, post))
        return SentRef(ROOM, ref, post.thread)

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        session, _, number = ref.message_id.partition(".")
        if session != self._session:
            raise PermanentError("message from an earlier console session")
        self._actions[ref.message_id] = [a.id for a in post.actions if a.url is None]
        self._write(self._format(number, post).replace(f"--- #{number} ---", f"--- #{number} (updated) ---", 1))
