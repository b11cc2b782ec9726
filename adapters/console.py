"""An interactive terminal chat for one chat user: the simplest adapter, for trying it out.

What arrives is printed with a short number; what the person types goes to the core:

* plain text: a message to their current Pluto conversation;
* ``/reply N text``: an answer to message ``#N``'s conversation;
* ``/press N K [REASON]``: choice ``K`` of message ``#N``'s buttons (with a reason, for
  decisions that take one);
* ``/link``, ``/to NAME``, ... : the bridge's commands (``/help`` lists them).

Console rooms (group rooms without a platform): a room is a named channel that several
console people see. ``#ROOM PERSON: LINE`` is PERSON typing LINE there (text, a command,
``/reply N text``, ``/edit N text``); ``#ROOM +PERSON`` and ``#ROOM -PERSON`` join and
leave; ``#ROOM !remove`` and ``#ROOM !add`` take the bot out and back. ``@PERSON: LINE`` is
another console person typing in their own private chat with the bot. What the bot posts
in a room shows as ``#ROOM| ...`` lines; what only another person sees as ``@PERSON| ...``.
"""

from __future__ import annotations

import asyncio
import functools
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
    RoomAddress,
    RoomChange,
    RoomEvent,
    SentRef,
)
from bridge.ports import Adapter, EventSink, PermanentError, RoomUnavailable
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
    capabilities = Capabilities(markup=Markup.PLAIN, max_text=4000, max_actions=9, private_replies=True, rooms=True)
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
        self._rooms: dict[str, set[str]] = {}  # console room -> who is in it
        self._bot_out: set[str] = set()  # rooms the bot was removed from

    def _event_fields(self, person: ChatIdentity | None = None, in_room: str | None = None) -> _EventFields:
        who = person or self.identity
        return {
            "identity": who,
            "event_id": uuid.uuid4().hex,
            "room": in_room or ROOM,
            "display_name": self.display_name if who == self.identity else who.user_id.capitalize(),
            "is_private": in_room is None,
        }

    def _person(self, name: str) -> ChatIdentity:
        return ChatIdentity(Platform.CONSOLE, "", name.strip())

    def _room(self, name: str) -> RoomAddress:
        return RoomAddress(Platform.CONSOLE, "", name, name=f"#{name}")

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
        if text.startswith("#"):
            return self._parse_room(text[1:])
        if text.startswith("@") and ":" in text:
            who, _, rest = text[1:].partition(":")
            return self._parse_private(rest.strip(), self._person(who))
        return self._parse_private(text, self.identity)

    def _parse_room(self, text: str) -> ChatEvent | None:
        """``ROOM PERSON: LINE``, ``ROOM +PERSON``, ``ROOM -PERSON``, ``ROOM !remove|!add``."""
        name, _, rest = text.partition(" ")
        room = self._room(name)
        people = self._rooms.setdefault(name, set())
        rest = rest.strip()
        if rest in ("!remove", "!add"):
            (self._bot_out.add if rest == "!remove" else self._bot_out.discard)(name)
            change = RoomChange.BOT_REMOVED if rest == "!remove" else RoomChange.BOT_ADDED
            return RoomEvent(**self._event_fields(in_room=name), shared=room, change=change)
        if rest[:1] in "+-" and rest[1:].strip():
            person = self._person(rest[1:])
            (people.add if rest[0] == "+" else people.discard)(person.user_id)
            change = RoomChange.MEMBER_JOINED if rest[0] == "+" else RoomChange.MEMBER_LEFT
            return RoomEvent(**self._event_fields(person, name), shared=room, change=change)
        who, _, typed = rest.partition(":")
        if not who.strip() or not typed.strip():
            self._write(f"(type #{name} PERSON: TEXT)")
            return None
        person = self._person(who)
        people.add(person.user_id)
        if name in self._bot_out:
            return None  # the bot is not in the room: it hears nothing there
        fields = self._event_fields(person, name)
        typed = typed.strip()
        word, _, args = typed.partition(" ")
        if word in ("/reply", "/edit"):
            number, _, body = args.strip().partition(" ")
            ref = self._message_id(number.lstrip("#"))
            if word == "/edit":
                return RoomEvent(**fields, shared=room, change=RoomChange.EDITED)
            return MessageEvent(**fields, shared=room, text=body, reply_to=ref)
        if typed.startswith("/"):
            return CommandEvent(**fields, shared=room, text=typed[1:])
        return MessageEvent(**fields, shared=room, text=typed)

    def _parse_private(self, text: str, person: ChatIdentity) -> ChatEvent | None:
        """A line typed by ``person`` in their private chat with the bot."""
        if not text:
            return None
        fields = self._event_fields(person)
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
        await self._runner.submit(Interaction(event, answer=functools.partial(self._show_reply, event.identity)))

    def _to(self, person: ChatIdentity, text: str) -> None:
        """Print what only ``person`` sees (the console's own user reads unprefixed lines)."""
        if person == self.identity:
            self._write(text)
        else:
            self._write("\n".join(f"@{person.user_id}| {line}" for line in text.split("\n")))

    async def _show_reply(self, person: ChatIdentity, reply: Reply | None) -> None:
        """Answers print as ``[bridge]`` lines; one with buttons ends as a numbered message
        (its last text), so ``/press`` works on it as on any other."""
        texts = list(reply.texts) if reply is not None else []
        choices = reply.actions if reply is not None and texts else ()
        for text in texts[:-1] if choices else texts:
            self._to(person, f"[bridge] {text}")
        if choices:
            await self.send(Destination(person), Post(text=texts[-1], actions=choices))

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
        if dest.identity.platform is not Platform.CONSOLE:
            raise PermanentError(f"the console cannot reach {dest.identity}")
        number = str(next(self._numbers))
        ref = self._message_id(number)
        self._actions[ref] = [a.id for a in post.actions if a.url is None]
        self._to(dest.identity, self._format(number, post))
        return SentRef(ROOM, ref, post.thread)

    # --- console rooms ------------------------------------------------------------------

    async def send_to_room(self, room: RoomAddress, post: Post, author: str) -> SentRef:
        if room.room_id in self._bot_out:
            raise RoomUnavailable("the bot was removed from the room")
        number = str(next(self._numbers))
        ref = self._message_id(number)
        lines = [f"--- #{number} from {author} ---", post.text]
        lines += [f"{a.label}: {a.url}" for a in post.actions if a.url is not None]
        self._write("\n".join(f"#{room.room_id}| {line}" for line in "\n".join(lines).split("\n")))
        return SentRef(room.room_id, ref)

    async def tell_in_room(self, room: RoomAddress, identity: ChatIdentity, post: Post) -> bool:
        self._to(identity, f"[bridge] {post.text}")
        return True

    async def room_members(self, room: RoomAddress) -> list[ChatIdentity] | None:
        return [self._person(p) for p in sorted(self._rooms.get(room.room_id, ()))]

    async def can_manage(self, room: RoomAddress, identity: ChatIdentity) -> bool | None:
        return identity.user_id in self._rooms.get(room.room_id, ())  # any member, as on Slack

    async def room_problem(self, room: RoomAddress) -> str | None:
        return "the bot was removed from the room" if room.room_id in self._bot_out else None

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        session, _, number = ref.message_id.partition(".")
        if session != self._session:
            raise PermanentError("message from an earlier console session")
        self._actions[ref.message_id] = [a.id for a in post.actions if a.url is None]
        self._to(
            dest.identity,
            self._format(number, post).replace(f"--- #{number} ---", f"--- #{number} (updated) ---", 1),
        )
