"""Chat commands for Pluto contacts, blocks, mutes and privacy: ``contacts``, ``contact add
NAME``, ``contact remove NAME``, ``block NAME``, ``unblock NAME``, ``mute [NAME]``,
``unmute [NAME]`` and ``privacy [contacts|course|site]``, and the Accept / Decline buttons
of ``contacts``. Every call is made as the person, with their own token; Pluto's rules
decide (a refusal is shown as Pluto's reason).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from bridge import notices
from bridge.actions import ACCEPT, DECLINE, ItemActions
from bridge.inbound.answering import Answering
from bridge.inbound.relay import Answer
from bridge.inbound.sharing import reach_of
from bridge.lms.api import LmsApi, Member
from bridge.lms.contacts import ContactsApi, Person, Privacy
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.lms.intake import advance, conversation_scope
from bridge.model import Action, CommandEvent, ConversationType, Cursor, ItemKind
from bridge.profile import Profile
from bridge.render import escape
from bridge.store.records import ItemRow, Link
from bridge.store.store import Store

log = logging.getLogger(__name__)

CONTACT = "contact"  # button ids "contact:accept:<user id>" / "contact:decline:<user id>"
SENT_KEY = "contact_requests_sent"  # preferences: ids of people asked from chat (Moodle lists no sent requests)

UNMUTE_PAST = 20  # newest messages read at an unmute: all of the newest second's, in practice
PRIVACY_WORDS = {"contacts": Privacy.CONTACTS, "course": Privacy.COURSE, "site": Privacy.SITE}
PRIVACY_TEXT = {
    Privacy.CONTACTS: "your contacts only",
    Privacy.COURSE: "your contacts and people in your courses",
    Privacy.SITE: "anyone on the site",
}

T = TypeVar("T")


def best_matches(items: Iterable[T], name: str, key: Callable[[T], str]) -> list[T]:
    """The items whose ``key`` is ``name`` (any case), else those starting with it, else
    those containing it."""
    wanted = name.casefold().strip()
    usable = [i for i in items if key(i)]
    for test in (str.__eq__, str.startswith, str.__contains__):
        found = [i for i in usable if test(key(i).casefold(), wanted)]
        if found:
            return found
    return []


def contact_action(verb: str, userid: int) -> str:
    """The id of a button answering ``userid``'s contact request."""
    return f"{CONTACT}:{verb}:{userid}"


def parse_contact_action(action_id: str) -> tuple[bool, int] | None:
    """(accept?, requester) of a contact button, None for other buttons."""
    prefix, _, rest = action_id.partition(":")
    verb, _, userid = rest.partition(":")
    if prefix != CONTACT or verb not in ("accept", "decline") or not userid.isdigit():
        return None
    return verb == "accept", int(userid)


class ContactCommands(Answering):
    """Mixed into ``Commands``: the contact commands, the same on every platform."""

    store: Store
    api: LmsApi
    actions: ItemActions

    @property
    def contacts_api(self) -> ContactsApi:
        return ContactsApi(self.api.client)

    # --- who NAME means -------------------------------------------------------------

    async def resolve_person(self, link: Link, name: str, extra: Iterable[Member] = ()) -> list[Member]:
        """The people ``name`` may mean: among the person's contacts, requests, conversation
        partners and ``extra`` first, else whom Pluto's messaging search finds for them.
        (One place, for the lead to unify with the ``to`` resolver.)"""
        token, me = link.token, link.lms_user_id
        known: dict[int, Member] = {m.id: m for m in extra}
        for p in [*await self.contacts_api.contacts(token, me), *await self.contacts_api.received_requests(token, me)]:
            known.setdefault(p.id, Member(p.id, p.fullname))
        for info in await self.store.conversations_of(me):
            if info.type == ConversationType.INDIVIDUAL and info.peer_id and info.name:
                known.setdefault(info.peer_id, Member(info.peer_id, info.name))
        found = best_matches(known.values(), name, lambda m: m.fullname)
        if found:
            return found
        return best_matches(await self.api.find_people(token, me, name), name, lambda m: m.fullname)

    async def _one_person(
        self, event: CommandEvent, link: Link, name: str, extra: Iterable[Member] = ()
    ) -> Member | str:
        """The one person ``name`` means, or what to tell the person."""
        if not name:
            words = event.args.split()[:1] if event.name == "contact" else []
            usage = notices.command_usage(self._profile(event), " ".join([event.name, *words, "NAME"]))
            return f"<p>Who? Type {usage}.</p>"
        found = await self.resolve_person(link, name, extra)
        exact = [m for m in found if m.fullname.casefold() == name.casefold().strip()]
        if len(exact) == 1:
            return exact[0]
        if len(found) == 1:
            return found[0]
        if not found:
            return f"<p>Nobody you may reach in Pluto is called {escape(name)}.</p>"
        names = ", ".join(escape(m.fullname) for m in found[:8])
        return f"<p>More than one person matches {escape(name)}: {names}. Be more precise.</p>"

    # --- contacts ------------------------------------------------------------------

    async def _cmd_contacts(self, event: CommandEvent, link: Link | None) -> str | Answer:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        try:
            return await self.contacts_listing(linked, self._profile(event))
        except (LmsError, LmsUnavailable) as exc:
            return f"<p>Could not read your contacts in Pluto: {escape(str(exc))}</p>"

    async def contacts_listing(self, link: Link, profile: Profile, buttons: bool = True) -> Answer:
        """Contacts, requests waiting for the person (with Accept / Decline) and the requests
        they sent that wait for an answer."""
        api, token, me = self.contacts_api, link.token, link.lms_user_id
        contacts = await api.contacts(token, me)
        received = await api.received_requests(token, me)
        sent = await self._pending_sent(link)
        parts = []
        actions: list[Action] = []
        if contacts:
            viewer = await self.store.links_of_user(me)
            lines = []
            for c in contacts:
                reach = await reach_of(self.store, viewer, c.id)
                note = "".join(f" ({r.label})" for r in reach)
                lines.append(f"<li>{escape(c.fullname)}{escape(note)}</li>")
                first = c.fullname.split()[0] if c.fullname.split() else c.fullname
                actions += [
                    Action(f"url:reach:{c.id}:{r.platform.value}", f"{first} {r.label}", url=r.url) for r in reach
                ]
            parts.append(f"<p>Your Pluto contacts:</p><ul>{''.join(lines)}</ul>")
        else:
            usage = notices.command_usage(profile, "contact add NAME")
            parts.append(f"<p>You have no Pluto contacts yet. Ask someone with {usage}.</p>")
        if received:
            rows = "".join(f"<li>{escape(p.fullname)}</li>" for p in received)
            parts.append(f"<p>Waiting for your answer:</p><ul>{rows}</ul>")
        if sent:
            rows = "".join(f"<li>{escape(p.fullname)}</li>" for p in sent)
            parts.append(f"<p>Your requests waiting for an answer:</p><ul>{rows}</ul>")
        for p in received if buttons else ():
            first = p.fullname.split()[0] if p.fullname.split() else p.fullname
            actions.append(Action(contact_action("accept", p.id), f"Accept {first}", "primary"))
            actions.append(Action(contact_action("decline", p.id), f"Decline {first}"))
        return Answer("".join(parts), tuple(actions))

    async def _pending_sent(self, link: Link) -> list[Person]:
        """The requests the person sent from chat that still wait (answered ones are forgotten)."""
        prefs = await self.store.preferences_of(link.lms_user_id)
        asked = [int(i) for i in prefs.get(SENT_KEY) or []]
        people = await self.contacts_api.members(link.token, link.lms_user_id, asked)
        waiting = [p for p in people if (link.lms_user_id, p.id) in p.pending]
        if len(waiting) != len(asked):
            prefs[SENT_KEY] = [p.id for p in waiting]
            await self.store.set_preferences(link.lms_user_id, prefs)
        return waiting

    async def contact_button(self, link: Link, action_id: str, profile: Profile) -> Answer:
        """Accept or Decline pressed under ``contacts``: answered as the person; the listing
        is shown again without buttons."""
        parsed = parse_contact_action(action_id)
        if parsed is None:
            return Answer("<p>That button is no longer active.</p>")
        accept, requester = parsed
        return await self._answer_request(link, requester, accept, profile)

    async def _answer_request(self, link: Link, requester: int, accept: bool, profile: Profile) -> Answer:
        api = self.contacts_api
        try:
            waiting = {p.id: p for p in await api.received_requests(link.token, link.lms_user_id)}
            if requester not in waiting:
                # Pluto answers success for a request no longer pending (observed item 23): ask first.
                listing = await self.contacts_listing(link, profile, buttons=False)
                return Answer("<p>That request was already answered.</p>", replace_html=listing.html)
            item = await self._request_item(link, requester)
            if item is not None:
                # The request's own chat copies (on every platform) learn the outcome too.
                outcome = await self.actions.perform(link, ACCEPT if accept else DECLINE, item)
                if not outcome.ok:
                    return Answer(outcome.html)
            else:
                await api.answer(link.token, requester, link.lms_user_id, accept)
            listing = await self.contacts_listing(link, profile, buttons=False)
        except (LmsError, LmsUnavailable) as exc:
            return Answer(f"<p>Not done: {escape(str(exc))}</p>")
        name = escape(waiting[requester].fullname)
        done = f"You and {name} are now Pluto contacts." if accept else f"Declined {name}'s contact request."
        return Answer(f"<p>{done}</p>", replace_html=listing.html)

    async def _request_item(self, link: Link, requester: int) -> ItemRow | None:
        """The open contact-request item from ``requester``, when one reached chat."""
        for item in await self.store.open_items(link.lms_user_id):
            if item.kind == ItemKind.CONTACT_REQUEST.value and int(item.data.get("requester") or 0) == requester:
                return item
        return None

    async def _cmd_contact(self, event: CommandEvent, link: Link | None) -> str | Answer:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        verb, _, name = event.args.strip().partition(" ")
        verb, name = verb.lower(), name.strip()
        if verb not in ("add", "remove", "accept", "decline"):
            profile = self._profile(event)
            add, remove = (notices.command_usage(profile, f"contact {v} NAME") for v in ("add", "remove"))
            return f"<p>Type {add} to ask someone to become your Pluto contact, or {remove}.</p>"
        try:
            if verb in ("accept", "decline"):
                waiting = await self.contacts_api.received_requests(linked.token, linked.lms_user_id)
                who = await self._one_person(event, linked, name, [Member(p.id, p.fullname) for p in waiting])
                if isinstance(who, str):
                    return who
                return await self._answer_request(linked, who.id, verb == "accept", self._profile(event))
            who = await self._one_person(event, linked, name)
            if isinstance(who, str):
                return who
            return await (self.add_contact if verb == "add" else self._remove_contact)(linked, who)
        except (LmsError, LmsUnavailable) as exc:
            return f"<p>Not done: {escape(str(exc))}</p>"

    async def add_contact(self, link: Link, who: Member) -> str:
        """Ask ``who`` to become the person's contact (accepting instead when they asked
        first); the request is remembered so that ``contacts`` lists it while it waits. The
        one way any command or button asks for a contact."""
        api, token, me = self.contacts_api, link.token, link.lms_user_id
        [state] = await api.members(token, me, [who.id]) or [Person(who.id, who.fullname)]
        name = escape(who.fullname)
        if state.iscontact:
            return f"<p>{name} is already your Pluto contact.</p>"
        if (who.id, me) in state.pending:
            await api.answer(token, who.id, me, True)  # they asked first: asking back means yes
            return f"<p>{name} had asked you already: you are now Pluto contacts.</p>"
        if not await api.request(token, me, who.id):
            return f"<p>Pluto does not let you send {name} a contact request.</p>"
        prefs = await self.store.preferences_of(me)
        prefs[SENT_KEY] = sorted({*(int(i) for i in prefs.get(SENT_KEY) or []), who.id})
        await self.store.set_preferences(me, prefs)
        return f"<p>Contact request sent to {name}. You will both see each other in contacts once they accept.</p>"

    async def _remove_contact(self, link: Link, who: Member) -> str:
        api, token, me = self.contacts_api, link.token, link.lms_user_id
        if not any(c.id == who.id for c in await api.contacts(token, me)):
            return f"<p>{escape(who.fullname)} is not your Pluto contact.</p>"
        await api.remove(token, me, who.id)
        return f"<p>{escape(who.fullname)} is no longer your Pluto contact.</p>"

    # --- block ---------------------------------------------------------------------

    async def _cmd_block(self, event: CommandEvent, link: Link | None) -> str:
        return await self._block(event, link, on=True)

    async def _cmd_unblock(self, event: CommandEvent, link: Link | None) -> str:
        return await self._block(event, link, on=False)

    async def _block(self, event: CommandEvent, link: Link | None, on: bool) -> str:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        try:
            blocked = await self.contacts_api.blocked(linked.token, linked.lms_user_id)
            who = await self._one_person(event, linked, event.args.strip(), blocked)
            if isinstance(who, str):
                return who
            return await self.block_person(linked, who, on, blocked)
        except (LmsError, LmsUnavailable) as exc:
            return f"<p>Not done: {escape(str(exc))}</p>"

    async def block_person(self, link: Link, who: Member, on: bool, blocked: list[Member] | None = None) -> str:
        """Block (or unblock) ``who`` as the person and say what Pluto did: the one way any
        command or button blocks. ``blocked``: the person's blocked list, if already read."""
        api, token, me = self.contacts_api, link.token, link.lms_user_id
        blocked = await api.blocked(token, me) if blocked is None else blocked
        name = escape(who.fullname)
        if on == any(b.id == who.id for b in blocked):
            return f"<p>{name} is {'already' if on else 'not'} blocked.</p>"
        await api.block(token, me, who.id, on)
        if on and not any(b.id == who.id for b in await api.blocked(token, me)):
            # Pluto keeps quiet when the person may always message (a teacher, an admin).
            return f"<p>Pluto does not let you block {name} (they may always message you).</p>"
        if on:
            return f"<p>Blocked {name} in Pluto: they can no longer message you.</p>"
        return f"<p>Unblocked {name}: they may message you again, as your privacy setting allows.</p>"

    # --- mute ----------------------------------------------------------------------

    async def _cmd_mute(self, event: CommandEvent, link: Link | None) -> str:
        return await self._mute(event, link, on=True)

    async def _cmd_unmute(self, event: CommandEvent, link: Link | None) -> str:
        return await self._mute(event, link, on=False)

    async def _mute(self, event: CommandEvent, link: Link | None, on: bool) -> str:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        name = event.args.strip()
        try:
            found = await self._conversation_named(event, linked, name)
            if isinstance(found, str):
                return found
            conversation_id, label = found
            await self.contacts_api.mute(linked.token, linked.lms_user_id, conversation_id, on)
        except (LmsError, LmsUnavailable) as exc:
            return f"<p>Not done: {escape(str(exc))}</p>"
        if not on:
            try:
                await self._past_the_mute(linked, conversation_id)
            except (LmsError, LmsUnavailable) as exc:
                # Pluto did unmute it: only what was written while muted may still arrive.
                log.warning("after unmuting conversation %s: its newest messages not read: %s", conversation_id, exc)
        if on:
            again = notices.command_usage(self._profile(event), f"unmute {name}".strip())
            return (
                f"<p>Muted {escape(label)} in Pluto: its messages are no longer delivered to your chat. "
                f"{again} brings them back.</p>"
            )
        return f"<p>Unmuted {escape(label)}: its messages are delivered to your chat again.</p>"

    async def _past_the_mute(self, link: Link, conversation_id: int) -> None:
        """What was written while the conversation was muted stays undelivered: the
        person's cursor of it moves past its newest messages. One read only after the
        unmute (Moodle holds back its current second from a read with ``timefrom``,
        moodle-4.5-observed.md item 5) would otherwise arrive now."""
        newest, _ = await self.api.conversation_messages(
            link.token, link.lms_user_id, conversation_id, timefrom=0, limit=UNMUTE_PAST, newest=True
        )
        scope = conversation_scope(conversation_id)
        cursor = (await self.store.cursors_of(link.lms_user_id)).get(scope) or Cursor(0, frozenset())
        moved = advance(cursor, [(m.timecreated, m.id) for m in newest])
        if moved != cursor:
            await self.store.commit_intake(link.lms_user_id, {scope: moved}, [])

    async def _conversation_named(self, event: CommandEvent, link: Link, name: str) -> tuple[int, str] | str:
        """(conversation id, name) of NAME (a conversation or a person), or of the current
        conversation when no name is given; else what to tell the person."""
        infos = await self.store.conversations_of(link.lms_user_id)
        if not name:
            current = link.current_conversation_id
            peer = link.current_peer_id
            if current is None and peer is not None:
                current = await self.contacts_api.conversation_with(link.token, link.lms_user_id, peer)
            if current is None:
                usage = notices.command_usage(self._profile(event), f"{event.name} NAME")
                return f"<p>No current conversation. Type {usage}.</p>"
            label = next((i.name for i in infos if i.conversation_id == current), f"conversation {current}")
            return current, label
        usable = [i for i in infos if i.type != ConversationType.SELF]
        named = best_matches(usable, name, lambda i: i.name)
        if len(named) == 1:
            return named[0].conversation_id, named[0].name
        who = await self._one_person(event, link, name)
        if isinstance(who, str):
            return who
        conversation = await self.contacts_api.conversation_with(link.token, link.lms_user_id, who.id)
        if conversation is None:
            return f"<p>You have no conversation with {escape(who.fullname)} yet.</p>"
        return conversation, who.fullname

    # --- privacy -------------------------------------------------------------------

    async def _cmd_privacy(self, event: CommandEvent, link: Link | None) -> str:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        api, token, me = self.contacts_api, linked.token, linked.lms_user_id
        word = event.args.strip().lower()
        usage = notices.command_usage(self._profile(event), "privacy contacts|course|site")
        try:
            before = await api.privacy(token, me)
            if not word:
                return f"<p>In Pluto, {PRIVACY_TEXT[before]} can message you. Change it with {usage}.</p>"
            if word not in PRIVACY_WORDS:
                return f"<p>Unknown choice {escape(word)}. Type {usage}.</p>"
            wanted = PRIVACY_WORDS[word]
            now = await api.set_privacy(token, me, wanted)
            if now != wanted:
                await api.set_privacy(token, me, before)  # the site does not allow it: leave things as they were
                return (
                    f"<p>This Pluto site does not let people open their messages to {PRIVACY_TEXT[wanted]}. "
                    f"Still {PRIVACY_TEXT[before]} can message you.</p>"
                )
        except (LmsError, LmsUnavailable) as exc:
            return f"<p>Not done: {escape(str(exc))}</p>"
        return f"<p>Done: in Pluto, {PRIVACY_TEXT[now]} can message you now.</p>"
