"""Reaching people from chat: ``find``, ``to``, ``msg``, ``conversations`` and their buttons.

Everything goes through Pluto with the person's own token, so Pluto's rules and each
person's privacy decide who can be found and messaged. Numbered lists are remembered
(``bridge.store.people``), so ``to 2`` means the second entry of the last list shown. When a
``to`` found nobody or several, the next plain line is held and the person asked, instead of
going to the conversation that happened to be current.

The Add contact and Block buttons of a person's card go through the contacts commands'
``add_contact`` and ``block_person`` (``bridge.inbound.contacts``): one way to do each.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from bridge import notices
from bridge.inbound.answering import Answering
from bridge.inbound.parse import parsed
from bridge.inbound.relay import MAX_ACTION_ID, Answer, Relay
from bridge.inbound.targets import Targets, best, longest_name, name_of
from bridge.journal import event_from_json
from bridge.lms.api import LmsApi, Member
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.model import Action, ChatEvent, CommandEvent, MessageEvent
from bridge.profile import Profiles
from bridge.render import escape
from bridge.store.people import PeopleMemory, Target
from bridge.store.records import Link
from bridge.store.store import Store

if TYPE_CHECKING:
    from bridge.inbound.contacts import ContactCommands

log = logging.getLogger(__name__)

PEOPLE = "pp"  # button ids "pp:<verb>:..."
LISTED = 20  # entries of a numbered list
BUTTONS = 5  # the fewest buttons any platform shows under one answer
LABEL = 40  # characters of a button label


def _ids(target: Target) -> str:
    return f"{target.conversation_id or ''}:{target.peer_id or ''}"


def go_id(target: Target) -> str:
    """The button that makes ``target`` the current conversation."""
    return f"{PEOPLE}:go:{_ids(target)}"


def send_id(target: Target, name_words: int, event_id: str) -> str:
    """The button that sends a held line (``name_words`` = 0) or ``msg`` command (the text
    after its first ``name_words`` words) to ``target``."""
    return f"{PEOPLE}:send:{_ids(target)}:{name_words}:{event_id}"


def _label(text: str) -> str:
    return text if len(text) <= LABEL else text[: LABEL - 1] + "\u2026"


def _fits(action: Action) -> bool:
    return len(action.id.encode()) <= MAX_ACTION_ID


def _numbered(targets: list[Target], notes: dict[int, str] | None = None) -> str:
    notes = notes or {}
    rows = "".join(f"<li>{escape(t.name)}{escape(notes.get(i, ''))}</li>" for i, t in enumerate(targets))
    return f"<ol>{rows}</ol>"


class People(Answering):
    """The people commands and buttons for one bridge."""

    def __init__(self, store: Store, api: LmsApi, relay: Relay, profiles: Profiles | None = None) -> None:
        self.store = store
        self.api = api
        self.relay = relay
        self.profiles = profiles or Profiles()
        self.memory = PeopleMemory(store)
        self.targets = Targets(store, api)
        self.contacts: ContactCommands | None = None  # set by Commands: Add contact and Block

    def _usage(self, event: ChatEvent, usage: str) -> str:
        return notices.command_usage(self._profile(event), usage)

    # --- where plain text goes now ---------------------------------------------------------

    async def _current(self, link: Link) -> Target | None:
        if link.current_conversation_id is None and link.current_peer_id is None:
            return None
        for target in await self.targets.conversations(link):
            if target.conversation_id == link.current_conversation_id or (
                link.current_conversation_id is None and target.peer_id == link.current_peer_id
            ):
                return target
        name = await self._name_of(link, link.current_peer_id) if link.current_peer_id else None
        return Target(
            link.current_conversation_id, link.current_peer_id, name or f"conversation {link.current_conversation_id}"
        )

    async def _name_of(self, link: Link, peer_id: int) -> str | None:
        try:
            member = await self.api.member(link.token, link.lms_user_id, peer_id)
        except (LmsError, LmsUnavailable):
            return None
        return member.fullname if member else None

    async def _choose(self, link: Link, target: Target) -> str:
        await self.store.set_current(link.id, target.conversation_id, target.peer_id)
        await self.memory.failed(link.id, None)
        return f"<p>What you write now goes to <b>{escape(target.name)}</b>.</p>"

    # --- commands --------------------------------------------------------------------------

    async def find(self, event: CommandEvent, link: Link) -> str | Answer:
        """``find TEXT``: the people the person may find in Pluto, contacts first."""
        text = event.args.strip()
        if not text:
            return f"<p>Whom to look for? Type {self._usage(event, 'find NAME')}.</p>"
        people = (await self.api.find_people(link.token, link.lms_user_id, text))[:LISTED]
        if not people:
            return f"<p>Nobody you can reach in Pluto matches {escape(text)}.</p>"
        targets = [Target(None, p.id, p.fullname) for p in people]
        await self.memory.listed(link.id, targets)
        notes = {
            i: " (your contact)" if p.iscontact else " (blocked)" if p.isblocked else "" for i, p in enumerate(people)
        }
        hint = (
            f"<p>{self._usage(event, 'to N')} makes one your current conversation, "
            f"{self._usage(event, 'msg N TEXT')} sends one message.</p>"
        )
        html = f"<p>People in Pluto matching {escape(text)}:</p>{_numbered(targets, notes)}{hint}"
        if len(people) == 1:
            return Answer(html, self._card_actions(people[0]))
        actions = tuple(Action(f"{PEOPLE}:who:{p.id}", _label(f"{n} {p.fullname}")) for n, p in enumerate(people, 1))
        return Answer(html, actions[:BUTTONS])

    async def to(self, event: CommandEvent, link: Link) -> str | Answer:
        """``to NAME``: make a conversation or person current, or ask which one."""
        name = event.args.strip()
        if not name:
            return f"<p>Whom to? Type {self._usage(event, 'to NAME')}.</p>"
        state = await self.memory.state(link.id)
        matches = await self.targets.resolve(link, name, state.choices)
        if len(matches) == 1:
            return await self._choose(link, matches[0])
        # Nobody, or several: the next plain line waits for the person to say where it goes.
        await self.memory.failed(link.id, name)
        if matches:
            matches = matches[:LISTED]
            await self.memory.listed(link.id, matches)
            actions = tuple(Action(go_id(t), _label(f"{n} {t.name}")) for n, t in enumerate(matches, 1))
            return Answer(
                f"<p>More than one conversation or person matches {escape(name)}:</p>{_numbered(matches)}"
                f"<p>Pick one (or type {self._usage(event, 'to N')}); nothing is sent until you do.</p>",
                tuple(a for a in actions if _fits(a))[:BUTTONS],
            )
        current = await self._current(link)
        where = (
            f"Your current conversation is still <b>{escape(current.name)}</b>; "
            "I will ask before sending what you write next there."
            if current is not None
            else "You have no current conversation."
        )
        return (
            f"<p>No conversation or person in Pluto matches {escape(name)}.</p><p>{where}</p>"
            f"<p>Find people with {self._usage(event, 'find NAME')}.</p>"
        )

    async def msg(self, event: CommandEvent, link: Link) -> str | Answer:
        """``msg NAME TEXT``: one message, without changing where plain text goes."""
        words = event.args.split()
        if len(words) < 2:
            return f"<p>Type {self._usage(event, 'msg NAME TEXT')}: whom to, then the message.</p>"
        if words[0].isdigit():
            size = 1
            matches = await self.targets.resolve(link, words[0], (await self.memory.state(link.id)).choices)
        else:
            candidates = await self.targets.candidates(link, words[0])
            size = longest_name(candidates, words)
            matches = best(candidates, name_of(words[:size]))
        name = name_of(words[:size])
        if not matches:
            return f"<p>Not sent: no conversation or person in Pluto matches {escape(name)}.</p>"
        if len(matches) > 1:
            matches = matches[:LISTED]
            await self.memory.listed(link.id, matches)
            actions = tuple(
                Action(send_id(t, size, event.event_id), _label(f"{n} {t.name}")) for n, t in enumerate(matches, 1)
            )
            return Answer(
                f"<p>Not sent yet: more than one conversation or person matches {escape(name)}:</p>"
                f"{_numbered(matches)}<p>Pick whom to send it to.</p>",
                tuple(a for a in actions if _fits(a))[:BUTTONS],
                keep_event=True,
            )
        return await self._send(link, event, size, matches[0])

    async def conversations(self, event: CommandEvent, link: Link) -> str | Answer:
        """``conversations``: recent ones, private and group, with unread counts."""
        targets, unread = await self.targets.listing(link, LISTED + 1)  # + the self-conversation
        targets = targets[:LISTED]
        if not targets:
            return f"<p>You have no Pluto conversations yet. Find people with {self._usage(event, 'find NAME')}.</p>"
        current = link.current_conversation_id
        notes = {}
        for i, t in enumerate(targets):
            count = unread.get(t.conversation_id or 0, 0)
            group = " (group)" if t.peer_id is None else ""
            notes[i] = (
                group
                + (f": {count} unread" if count else "")
                + (" \u2190 current" if t.conversation_id == current else "")
            )
        await self.memory.listed(link.id, targets)
        actions = tuple(Action(go_id(t), _label(f"{n} {t.name}")) for n, t in enumerate(targets, 1))
        return Answer(
            f"<p>Your recent Pluto conversations:</p>{_numbered(targets, notes)}"
            f"<p>Pick one to write to it (or type {self._usage(event, 'to N')}).</p>",
            actions[:BUTTONS],
        )

    # --- plain text after a failed `to` ----------------------------------------------------

    async def held(self, link: Link, event: MessageEvent) -> Answer | None:
        """A plain line right after a ``to`` that found nobody (or several) is not sent on a
        guess: the person is asked; None when the line may go as usual."""
        if event.reply_to or event.thread:
            return None  # a reply names its conversation
        state = await self.memory.state(link.id)
        if state.failed_to is None:
            return None
        html = f"<p>Not sent yet: your last {self._usage(event, 'to')} ({escape(state.failed_to)}) chose nobody.</p>"
        current = await self._current(link)
        actions = [Action(f"{PEOPLE}:drop:{event.event_id}", "Don't send")]
        if current is not None:
            actions.insert(0, Action(send_id(current, 0, event.event_id), _label(f"Send to {current.name}")))
            html += f"<p>Send it to <b>{escape(current.name)}</b>, your current conversation?</p>"
        usable = tuple(a for a in actions if _fits(a))
        if len(usable) < len(actions):
            return Answer(html + f"<p>Choose with {self._usage(event, 'to NAME')}, then send it again.</p>")
        return Answer(html, usable, keep_event=True)

    # --- buttons ---------------------------------------------------------------------------

    async def action(self, link: Link, event: ChatEvent, action_id: str) -> Answer:
        """A press on one of the buttons above, as the person who pressed it."""
        verb, _, rest = action_id.removeprefix(f"{PEOPLE}:").partition(":")
        try:
            if verb == "go":
                return Answer(await self._choose(link, await self._target(link, rest)))
            if verb == "send":
                return await self._send_held(link, event, rest)
            if verb == "drop":
                # Still nowhere chosen: what they write next is asked about too.
                taken = await self.store.take_event(event.identity.platform, rest, link.identity)
                html = (
                    f"<p>Not sent. Choose where your messages go with {self._usage(event, 'to NAME')}.</p>"
                    if taken is not None
                    else "<p>That message was handled already.</p>"
                )
                return Answer(html, replace_html=html)
            if verb in ("who", "msg", "add", "block") and rest.isdigit():
                return await self._person(link, verb, int(rest))
        except (LmsError, LmsUnavailable) as exc:
            return Answer(f"<p>Pluto did not do that: {escape(str(exc))}</p>")
        return Answer("<p>That button is no longer active.</p>")

    async def _target(self, link: Link, ids: str) -> Target:
        """The target a button names, with its name from the list it was on (or a newer one)."""
        conversation, _, peer = ids.partition(":")
        conversation_id = int(conversation) if conversation.isdigit() else None
        peer_id = int(peer) if peer.isdigit() else None
        state = await self.memory.state(link.id)
        for target in state.choices:
            if (target.conversation_id, target.peer_id) == (conversation_id, peer_id):
                return target
        if conversation_id is not None:
            for target in await self.targets.conversations(link):
                if target.conversation_id == conversation_id:
                    return target
        name = await self._name_of(link, peer_id) if peer_id else None
        return Target(conversation_id, peer_id, name or f"conversation {conversation_id}")

    async def _send_held(self, link: Link, pressed: ChatEvent, rest: str) -> Answer:
        conversation, _, rest = rest.partition(":")
        peer, _, rest = rest.partition(":")
        size, _, event_id = rest.partition(":")
        target = await self._target(link, f"{conversation}:{peer}")
        taken = await self.store.take_event(pressed.identity.platform, event_id, link.identity)
        event = event_from_json(taken[0]) if taken is not None else None
        if not isinstance(event, MessageEvent | CommandEvent) or event.identity != link.identity:
            return Answer("<p>That message was sent already, or it is too old to send from here.</p>")
        answer = await self._send(link, event, int(size or 0), target)
        html = answer.html if isinstance(answer, Answer) else answer
        return Answer(html, replace_html=html)  # its buttons retired: sent, or why not

    async def _send(self, link: Link, event: MessageEvent | CommandEvent, size: int, target: Target) -> str | Answer:
        """Send the text of ``event`` (a ``msg`` command's after its NAME) to ``target``."""
        # A command comes back from the journal as typed: parsed again for its arguments.
        text = event.text if isinstance(event, MessageEvent) else " ".join(parsed(event).args.split()[size:])
        common = {f.name: getattr(event, f.name) for f in dataclasses.fields(ChatEvent)}
        problem = await self.relay.send(
            link, MessageEvent(**common, text=text), target.conversation_id, target.peer_id, target.name
        )
        if problem is not None:
            return problem
        if isinstance(event, MessageEvent):
            await self.memory.failed(link.id, None)  # a held line confirmed: plain text flows again
        elif link.current_conversation_id is not None or link.current_peer_id is not None:
            # One message: plain text still goes where it went (the send made the target current).
            await self.store.set_current(link.id, link.current_conversation_id, link.current_peer_id)
        return f"<p>Sent to <b>{escape(target.name)}</b>.</p>"

    def _card_actions(self, person: Member) -> tuple[Action, ...]:
        actions = [Action(f"{PEOPLE}:msg:{person.id}", "Message", style="primary")]
        if not person.iscontact:
            actions.append(Action(f"{PEOPLE}:add:{person.id}", "Add contact"))
        if not person.isblocked:
            actions.append(Action(f"{PEOPLE}:block:{person.id}", "Block", style="danger"))
        return tuple(actions)

    async def _person(self, link: Link, verb: str, userid: int) -> Answer:
        person = await self.api.member(link.token, link.lms_user_id, userid)
        if person is None:
            return Answer("<p>Pluto no longer knows that person.</p>")
        name = escape(person.fullname)
        if verb == "msg":
            target = next((t for t in await self.targets.conversations(link) if t.peer_id == userid), None)
            return Answer(await self._choose(link, target or Target(None, userid, person.fullname)))
        if verb in ("add", "block") and self.contacts is not None:
            if verb == "add":
                return Answer(await self.contacts.add_contact(link, person))
            return Answer(await self.contacts.block_person(link, person, on=True))
        state = "your contact" if person.iscontact else "blocked by you" if person.isblocked else "not a contact"
        return Answer(f"<p><b>{name}</b> ({state})</p>", self._card_actions(person))
