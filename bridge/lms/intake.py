"""Reads what is new in the LMS for one user: conversations first, then their messages.

Pure reading: it returns the items and the cursors that would follow from them; the
caller writes both in one transaction (see ``bridge.pipeline``). Cursors are inclusive
``timecreated`` watermarks plus the ids seen at that second, because Moodle orders by
whole seconds only and holds back the current second (observed 5, 5f, 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.lms.api import Conversation, ConversationMessage, LmsApi
from bridge.model import ConversationInfo, ConversationType, Cursor, Item, ItemKind
from bridge.render import sanitize_lms_html

BASELINE = "baseline"


def conversation_scope(conversation_id: int) -> str:
    return f"conv:{conversation_id}"


@dataclass(slots=True)
class IntakeBatch:
    """What one poll of one user found."""

    items: list[Item] = field(default_factory=list)
    cursors: dict[str, Cursor] = field(default_factory=dict)
    conversations: list[tuple[ConversationInfo, int]] = field(default_factory=list)
    # The group conversations the listing showed, and those of them the person muted: a
    # linked group's one read cannot see each member's mute (bridge.store.mutes).
    groups_listed: frozenset[int] = frozenset()
    groups_muted: frozenset[int] = frozenset()


def _info(conv: Conversation, userid: int) -> ConversationInfo:
    peer = next((m for m in conv.members if m.id != userid), None)
    if conv.type == ConversationType.INDIVIDUAL and peer is not None:
        return ConversationInfo(conv.id, conv.type, peer.fullname, peer.id)
    return ConversationInfo(conv.id, conv.type, conv.name, None)


def _unchanged(conv: Conversation, cursor: Cursor, unread_before: int | None, sweep: bool) -> bool:
    """Whether the listing shows nothing new since ``cursor``.

    Moodle leaves out a latest message whose text is ``"0"`` or empty (``messages: []``,
    ``unreadcount`` still counting it: moodle-4.5-observed.md item 18). Then only the unread
    count can say something arrived: the messages are read when it differs from what the
    last read that found something saw, and on every sweep (which also catches one read in the LMS meanwhile).
    """
    if conv.latest_time is None:
        return not sweep and (conv.unreadcount == 0 or conv.unreadcount == unread_before)
    if conv.latest_time < cursor.watermark:
        return True
    return conv.latest_time == cursor.watermark and conv.latest_id in cursor.seen_ids


def held_back(
    conv: Conversation, cursor: Cursor, read: list[ConversationMessage], unread_before: int | None
) -> ConversationMessage | None:
    """The conversation's latest message when the listing shows it but reading the messages
    did not (Moodle holds back its current second there, not in the listing: observed 5f):
    it can go to chat now rather than a second later. Only when it is the one message that
    arrived since the last read (the unread count grew by one), so that chat never shows a
    message before an earlier one of the same second. The cursor does not move past it, so
    the next read still returns it with any other message of its second, and the store
    queues each once."""
    if unread_before is None or conv.unreadcount - unread_before != 1:
        return None
    if conv.latest_id is None or conv.latest_time is None or conv.latest_from is None:
        return None
    if any(m.id == conv.latest_id for m in read):
        return None
    if conv.latest_time < cursor.watermark or (
        conv.latest_time == cursor.watermark and conv.latest_id in cursor.seen_ids
    ):
        return None
    return ConversationMessage(conv.latest_id, conv.latest_from, conv.latest_text, conv.latest_time)


def advance(cursor: Cursor, times_and_ids: list[tuple[int, int]]) -> Cursor:
    """The cursor after seeing these (timecreated, id) pairs."""
    if not times_and_ids:
        return cursor
    newest = max(t for t, _ in times_and_ids)
    if newest < cursor.watermark:
        return cursor
    at_newest = {i for t, i in times_and_ids if t == newest}
    if newest == cursor.watermark:
        at_newest |= cursor.seen_ids
    return Cursor(newest, frozenset(at_newest))


def later(stored: Cursor | None, new: Cursor) -> Cursor:
    """The further on of two cursors of one scope (two reads of a person may overlap)."""
    if stored is None or new.watermark > stored.watermark:
        return new
    if new.watermark < stored.watermark:
        return stored
    return Cursor(new.watermark, new.seen_ids | stored.seen_ids)


def message_item(
    message: ConversationMessage, userid: int, author: str, info: ConversationInfo, *, muted: bool = False
) -> Item:
    """One LMS message as the item ``userid`` receives from ``info``'s conversation."""
    return Item(
        key=f"msg:{message.id}",
        kind=ItemKind.MESSAGE,
        lms_user_id=userid,
        html=sanitize_lms_html(message.text),
        time=message.timecreated,
        author_id=message.useridfrom,
        author_name=author,
        conversation_id=info.conversation_id,
        conversation_type=info.type,
        conversation_name=info.name,
        peer_id=info.peer_id,
        muted=muted,
    )


class MessageIntake:
    """Finds new conversation messages for one LMS user."""

    def __init__(
        self,
        api: LmsApi,
        conversations_per_poll: int = 20,
        skip: Callable[[], frozenset[int]] = frozenset,
        *,
        early: bool = True,
    ) -> None:
        self.api = api
        self.limit = conversations_per_poll
        # Group conversations read for everyone at once (linked to a room: bridge.rooms.intake).
        self.skip = skip
        # ``held_back``'s early copy trusts the unread count this process saw at its own
        # last read. With replicas another one may have read the person since, and the
        # early copy overtook earlier messages of its second (tests/chaos/test_replicas.py):
        # off there; those messages go a second later with their second.
        self.early = early
        # (user, conversation) -> the unread count when its messages were last read; only
        # needed while the listing hides the latest message (item 18), so memory is enough.
        self._unread_seen: dict[tuple[int, int], int] = {}

    async def _listing(self, token: str, userid: int) -> tuple[IntakeBatch, list[Conversation]]:
        """The person's conversations as listed, and a batch with its groups and group mutes."""
        conversations = await self.api.conversations(token, userid, self.limit)
        groups = [conv for conv in conversations if conv.type == ConversationType.GROUP]
        batch = IntakeBatch(
            groups_listed=frozenset(conv.id for conv in groups),
            groups_muted=frozenset(conv.id for conv in groups if conv.ismuted),
        )
        return batch, conversations

    async def baseline(self, token: str, userid: int) -> IntakeBatch:
        """Cursors that mark everything already in the LMS as seen (taken when a person
        links, so they are not flooded with history)."""
        batch, conversations = await self._listing(token, userid)
        newest: list[tuple[int, int]] = []
        for conv in conversations:
            if conv.latest_time is None or conv.latest_id is None:
                continue
            pair = (conv.latest_time, conv.latest_id)
            newest.append(pair)
            batch.cursors[conversation_scope(conv.id)] = Cursor(conv.latest_time, frozenset({conv.latest_id}))
            batch.conversations.append((_info(conv, userid), conv.latest_time))
        batch.cursors[BASELINE] = advance(Cursor(0, frozenset()), newest)
        return batch

    async def poll(
        self, token: str, userid: int, cursors: dict[str, Cursor], *, sweep: bool = False
    ) -> IntakeBatch:
        """New messages in the user's recently active conversations, oldest first (those
        ``skip`` names are read once for all their members, not here).

        ``sweep``: also read every conversation whose listing hides its latest message."""
        batch, conversations = await self._listing(token, userid)
        skip = self.skip()
        baseline = cursors.get(BASELINE, Cursor(0, frozenset()))
        for conv in conversations:
            if conv.type == ConversationType.SELF or conv.id in skip:
                continue  # private notes are never fanned out (domain 6.8); linked groups are read once
            scope = conversation_scope(conv.id)
            # A conversation first seen after the baseline started after it (or was older
            # than the first page): read it from the baseline on.
            cursor = cursors.get(scope) or Cursor(baseline.watermark, baseline.seen_ids)
            seen_key = (userid, conv.id)
            if _unchanged(conv, cursor, self._unread_seen.get(seen_key), sweep):
                continue
            messages, names = await self.api.conversation_messages(token, userid, conv.id, cursor.watermark)
            fresh = [
                m
                for m in messages
                if m.timecreated > cursor.watermark
                or (m.timecreated == cursor.watermark and m.id not in cursor.seen_ids)
            ]
            early = held_back(conv, cursor, messages, self._unread_seen.get(seen_key)) if self.early else None
            if not fresh and early is None:
                continue  # perhaps held back in the LMS's current second: read again next time
            if fresh:
                self._unread_seen[seen_key] = conv.unreadcount
            info = _info(conv, userid)
            member_names = {m.id: m.fullname for m in conv.members}
            for m in fresh + ([early] if early else []):
                if m.useridfrom == userid:
                    continue  # the person's own words (often relayed from chat by us)
                author = names.get(m.useridfrom) or member_names.get(m.useridfrom) or f"User {m.useridfrom}"
                batch.items.append(message_item(m, userid, author, info, muted=conv.ismuted))
            if fresh:
                batch.cursors[scope] = advance(cursor, [(m.timecreated, m.id) for m in fresh])
            batch.conversations.append((info, early.timecreated if early else fresh[-1].timecreated))
        # Message ids grow in send order; with whole-second times they break ties.
        batch.items.sort(key=lambda item: (item.time, int(item.key.split(":")[1])))
        return batch
