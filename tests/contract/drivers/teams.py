"""Teams: the sandbox Bot Connector at Teams' limits posts signed activities to the bridge's
/api/messages; the person's personal chat is what the connector stores."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from adapters.teams.cards import REASON_INPUT_ID
from sandbox.lms import SandboxLMS
from sandbox.teams import CARD_CONTENT_TYPE, SandboxTeams, TeamsUser
from tests.platforms.teams.conftest import TeamsChat, start_bridge, teams_bridge_config, visible

from .base import ALEX, SAM, Arrived, ChatDriver

NAMES = {SAM: "Sam Mentee", ALEX: "Alex Mentee", "rory": "Rory Outsider", "ivy": "Ivy"}
# A group chat with the app added and its resource-specific consent granted (every message
# reaches the bot); the app is installed in everyone's personal chat too (private answers).
ROOMS = {"cohort": "19:cohort@thread.v2"}
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"  # an invoke answered with text


class TeamsDriver(ChatDriver):
    """Teams, the app installed for Sam in a personal chat."""

    name = "teams"
    rooms = True

    def __init__(self, lms: SandboxLMS, tmp: Path) -> None:
        super().__init__(lms, tmp)
        self.sandbox = SandboxTeams(enforce_limits=True)
        self.chat: TeamsChat | None = None
        self.users: dict[str, TeamsUser] = {}
        self._answers: dict[str, list[Arrived]] = {}  # person -> message answers to presses

    async def start(self) -> None:
        await self.sandbox.start()
        self.config, self.port = teams_bridge_config(self.tmp, self.lms.url, self.sandbox)
        self.bridge = await start_bridge(self.config, self.port, self.sandbox)
        self.chat = TeamsChat(self.sandbox, self.bridge, self.port)
        for room, chat_id in ROOMS.items():
            self.sandbox.add_group_chat(chat_id, room.capitalize())
        for person, name in NAMES.items():
            user = self.users[person] = self.sandbox.add_user(name)
            await self.chat.install(user)
            # The install is greeted: wait for it, so that it is not taken for a later answer.
            await self.wait_for(partial(self.sandbox.messages_in, self._chat.room(user)), "the greeting at install")

    async def restart(self, while_down: Callable[[], object]) -> None:
        assert self.bridge is not None
        await self.bridge.stop()
        while_down()
        self.bridge = await start_bridge(self.config, self.port, self.sandbox)
        self.chat = TeamsChat(self.sandbox, self.bridge, self.port)

    async def stop(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()
        await self.sandbox.stop()

    @property
    def _chat(self) -> TeamsChat:
        assert self.chat is not None
        return self.chat

    async def link(self, person: str, username: str) -> None:
        await self._chat.link(self.users[person], username)

    async def write(self, person: str, text: str) -> None:
        await self._chat.say(self.users[person], text)

    async def reply(self, person: str, to: Arrived, text: str) -> None:
        await self._chat.say(self.users[person], text, reply_to_id=to.ref)

    async def press(self, person: str, message: Arrived, label: str, reason: str | None = None) -> None:
        inputs = {REASON_INPUT_ID: reason} if reason is not None else None  # the card's reason field
        press = self.sandbox.button_press(self.users[person], message.ref, label, inputs)
        status, body = await self.sandbox.push(press)
        assert status == 200 and body["statusCode"] == 200, (status, body)
        if body.get("type") == MESSAGE_RESPONSE:  # Teams shows it beside the pressed card
            self._answers.setdefault(person, []).append(Arrived(str(body.get("value") or ""), None))
        elif body.get("type") == CARD_CONTENT_TYPE:  # Teams draws it in place of the pressed card
            self._answers.setdefault(person, []).append(Arrived(card_text(body["value"]), None))

    async def see_privately(self, person: str, needle: str) -> Arrived:
        """As the base, but a message in the chat wins over the same words answered to a
        press: a press's answer returns before the card posted with it (buttons) is stored."""
        found = await super().see_privately(person, needle)
        if found.ref is not None:
            return found
        try:
            return await self.see(person, needle, within=5)
        except AssertionError:
            return found  # only the press's answer says it

    def private(self, person: str) -> list[Arrived]:
        """The person's 1:1 chat with the bot and the answers shown to their presses."""
        return self.arrived(person) + self._answers.get(person, [])

    async def command(self, person: str, text: str) -> list[str]:
        mark = len(self.arrived(person))
        await self._chat.say(self.users[person], text)  # Teams has no slash: "to Maya"
        return await self.answers_after(person, mark)

    def arrived(self, person: str) -> list[Arrived]:
        return [_arrived(a) for a in self.sandbox.messages_in(self._chat.room(self.users[person]))]

    def throttle(self, person: str, sends: int, retry_after: int) -> None:
        room = self._chat.room(self.users[person])
        self.sandbox.fail_next(429, count=sends, method="POST", conversation=room, retry_after=retry_after)

    def refused(self, person: str) -> int:
        room = self._chat.room(self.users[person])
        return sum(1 for r in self.sandbox.requests if r.status == 429 and r.conversation == room)

    # --- group rooms ----------------------------------------------------------------------

    async def _push(self, activity: dict[str, Any] | None) -> None:
        if activity is None:
            return  # Teams would not deliver it to the bot
        status, body = await self.sandbox.push(activity)
        assert status in (200, 202), (status, body)

    async def link_person(self, person: str, username: str) -> None:
        await self.link(person, username)

    async def room_write(self, room: str, person: str, text: str) -> None:
        await self._push(self.sandbox.room_message(self.users[person], ROOMS[room], text))

    async def room_reply(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self._push(self.sandbox.room_message(self.users[person], ROOMS[room], text, reply_to_id=to.ref))

    async def room_edit(self, room: str, person: str, to: Arrived, text: str) -> None:
        await self._push(self.sandbox.room_edit(self.users[person], ROOMS[room], str(to.ref), text))

    async def room_command(self, room: str, person: str, text: str) -> None:
        """``room`` to the bot: an @mention of it in the chat."""
        await self._push(self.sandbox.room_message(self.users[person], ROOMS[room], text, mention_bot=True))

    async def join(self, room: str, person: str) -> None:
        self.sandbox.join_room(ROOMS[room], self.users[person])

    async def remove_bot(self, room: str) -> None:
        for activity in self.sandbox.bot_membership(ROOMS[room], self.users[SAM], added=False):
            await self._push(activity)

    async def add_bot(self, room: str) -> None:
        for activity in self.sandbox.bot_membership(ROOMS[room], self.users[SAM], added=True):
            await self._push(activity)

    def room_posts(self, room: str) -> list[Arrived]:
        """The bot's posts in the chat; the author's header line on a line of its own."""
        return [_arrived(a, lines=True) for a in self.sandbox.messages_in(ROOMS[room])]

    def room_sends(self, room: str) -> tuple[list[float], int]:
        sent = [
            r.at
            for r in self.sandbox.requests
            if r.method == "POST" and r.conversation == ROOMS[room] and r.status == 201
        ]
        return sent, self.sandbox.throttled

    def room_floor(self, posts: int) -> float:
        """The least time Teams' per-conversation windows allow for ``posts`` sends."""
        return floor_seconds(posts, self.sandbox.limits)


def floor_seconds(posts: int, windows: tuple[tuple[int, float], ...]) -> float:
    """When the last of ``posts`` sends may go at the earliest, each window of (count,
    seconds) holding at most count sends (sent as early as every window allows)."""
    times: list[float] = []
    for n in range(posts):
        at = 0.0
        for count, seconds in windows:
            if n >= count:
                at = max(at, times[n - count] + seconds)
        times.append(at)
    return times[-1] if times else 0.0


def _arrived(activity: dict[str, Any], *, lines: bool = False) -> Arrived:
    text = str(activity.get("text") or "")
    if lines:  # paragraphs as lines: the author's header line apart from the message
        shown = "\n".join(re.sub(" {2,}", " ", visible(p)).strip() for p in re.split(r"</p>\s*<p>", text))
    else:
        shown = re.sub(" {2,}", " ", visible(text)).strip()
    return Arrived(shown.strip(), activity["id"], _card_buttons(activity), activity)


def card_text(card: Any) -> str:
    """The words an Adaptive Card shows (its text blocks and text runs), in order."""
    if isinstance(card, list):
        return "".join(card_text(item) for item in card)
    if not isinstance(card, dict):
        return ""
    own = str(card.get("text") or "") if card.get("type") in ("TextBlock", "TextRun") else ""
    return own + "".join(card_text(card.get(key)) for key in ("body", "inlines", "items") if key in card)


def _card_buttons(message: dict[str, Any]) -> tuple[str, ...]:
    """Titles of the card's buttons that come back to the bot (links left out)."""
    cards = [a["content"] for a in message.get("attachments") or [] if a.get("contentType") == CARD_CONTENT_TYPE]
    return tuple(b["title"] for card in cards for b in card.get("actions", []) if b.get("type") != "Action.OpenUrl")
