"""Which Pluto conversation or person a NAME means, for ``to``, ``msg`` and ``conversations``.

A NAME is a number from the person's last list, a conversation's name (their group
conversations as Pluto lists them, not only ones the bridge has relayed), or a person's
display name or part of one, found with their own token through
``core_message_message_search_users`` (an ordinary user finds nobody by login name:
moodle-4.5-observed.md item 19).
"""

from __future__ import annotations

import re

from bridge.lms.api import Conversation, LmsApi, Member
from bridge.lms.errors import FunctionUnavailable, LmsUnavailable, NotFound
from bridge.model import ConversationType
from bridge.store.people import Target
from bridge.store.records import Link
from bridge.store.store import Store

RECENT = 50  # conversations read from Pluto to match names against


def conversation_targets(conversations: list[Conversation], userid: int) -> list[Target]:
    """Pluto's conversation listing as targets: a group by its name, a private conversation
    by the other person's name; the person's self-conversation left out."""
    found = []
    for conv in conversations:
        if conv.type == ConversationType.SELF:
            continue
        peer = next((m for m in conv.members if m.id != userid), None)
        if conv.type == ConversationType.INDIVIDUAL and peer is not None:
            found.append(Target(conv.id, peer.id, peer.fullname))
        elif conv.type == ConversationType.GROUP and conv.name:
            found.append(Target(conv.id, None, conv.name))
    return found


def people_targets(people: list[Member], known: list[Target]) -> list[Target]:
    """Found people as targets, through their private conversation where one is known;
    people already among ``known`` left out."""
    private = {t.peer_id: t for t in known if t.peer_id is not None}
    return [private.get(p.id) or Target(None, p.id, p.fullname) for p in people if p.id not in private]


def best(candidates: list[Target], name: str) -> list[Target]:
    """The candidates ``name`` fits best: its exact name, else names starting with it (or one
    of whose words does), else names containing it; duplicates once, in order."""
    wanted = " ".join(name.casefold().split())
    if not wanted:
        return []
    tiers: list[list[Target]] = [[], [], []]
    for target in candidates:
        have = " ".join(target.name.casefold().split())
        if have == wanted:
            tiers[0].append(target)
        elif re.search(r"(^|\s)" + re.escape(wanted), have):
            tiers[1].append(target)
        elif wanted in have:
            tiers[2].append(target)
    chosen = next((tier for tier in tiers if tier), [])
    return list(dict.fromkeys(chosen))


def longest_name(candidates: list[Target], words: list[str]) -> int:
    """How many of ``words`` (``msg NAME TEXT``, or ``msg NAME: TEXT``) make up a candidate's
    whole name, longest first; 1 when none does (the NAME is then the first word)."""
    names = {" ".join(t.name.casefold().split()) for t in candidates}
    for n in range(len(words) - 1, 1, -1):
        if name_of(words[:n]).casefold() in names:
            return n
    return 1


def name_of(words: list[str]) -> str:
    """The NAME these words of ``msg NAME TEXT`` give, without the colon that may end it."""
    return " ".join(words).removesuffix(":").strip()


class Targets:
    """Finds what a NAME means for one person, with their own token."""

    def __init__(self, store: Store, api: LmsApi) -> None:
        self.store = store
        self.api = api

    async def conversations(self, link: Link) -> list[Target]:
        """The person's conversations, most recently active first: Pluto's listing, then any
        the bridge knows that it did not include."""
        return (await self.listing(link))[0]

    async def listing(self, link: Link, limit: int = RECENT) -> tuple[list[Target], dict[int, int]]:
        """The person's conversations and each one's unread count, as Pluto lists them
        (``unreadcount`` null means none: observed 15), then any others the bridge knows. A
        site without conversations (Totara), or one not answering now, gives the ones the
        bridge knows, counts unknown."""
        try:
            conversations = await self.api.conversations(link.token, link.lms_user_id, limit)
        except (NotFound, FunctionUnavailable, LmsUnavailable):
            conversations = []
        listed = conversation_targets(conversations, link.lms_user_id)
        seen = {t.conversation_id for t in listed}
        for info in await self.store.conversations_of(link.lms_user_id):
            if info.conversation_id not in seen and info.type != ConversationType.SELF and info.name:
                listed.append(Target(info.conversation_id, info.peer_id, info.name))
        return listed, {c.id: c.unreadcount for c in conversations}

    async def candidates(self, link: Link, search: str) -> list[Target]:
        """Conversations, then people whose name contains ``search`` (contacts first)."""
        conversations = await self.conversations(link)
        people = await self.api.find_people(link.token, link.lms_user_id, search)
        return conversations + people_targets(people, conversations)

    async def resolve(self, link: Link, name: str, listed: tuple[Target, ...]) -> list[Target]:
        """What ``name`` can mean: the numbered entry of ``listed``, or the best matches."""
        if name.isdigit():
            number = int(name)
            return [listed[number - 1]] if 1 <= number <= len(listed) else []
        return best(await self.candidates(link, name), name)
