"""LMS to rooms: each linked group conversation read once per cycle, with one member's token.

The reader is the linker, else any other linked member of the group when that token dies
or they left the group; never an administrator's token (DESIGN.md: nobody acts as somebody
else). One read serves every room linked to the group and the private copies of members
who are not in a room: each room and each member has its own cursor, moved with the
deliveries in one transaction. A message the bridge itself posted from a room is not
posted back into that room, even while its send is still being answered (``echoes``); it
still reaches the group's other rooms: the LMS is the hub.
The people's own intake leaves linked groups to this one (``linked``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from bridge.journal import event_from_json
from bridge.lms.api import ConversationMessage, LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable, TokenRejected
from bridge.lms.intake import advance, conversation_scope, message_item
from bridge.lms.sent import same_words
from bridge.model import ConversationInfo, ConversationType, Cursor, ItemKind, MessageEvent, Platform
from bridge.render import escape, sanitize_lms_html
from bridge.rooms.prefs import wants_private_copies
from bridge.router import notice, route
from bridge.store.records import Link, NewDelivery, RoomLink, RoomStatus, room_target
from bridge.store.store import Store

log = logging.getLogger(__name__)

MEMBERS_TTL = 300.0  # seconds a group's member list is trusted before it is read again
UNREADABLE = "the Pluto group conversation cannot be read"  # the pause reason retried here

Read = tuple[Link, list[ConversationMessage], dict[int, str]]
Pauser = Callable[[RoomLink, str], Awaitable[None]]
Resumer = Callable[[RoomLink, Read], Awaitable[None]]


@dataclasses.dataclass
class Retry:
    """When a group nobody could read is tried again, and with which candidate."""

    due: float
    delay: float
    attempt: int = 0


def after(message: ConversationMessage, cursor: Cursor) -> bool:
    """Whether ``message`` is past ``cursor`` (inclusive watermark plus the ids seen at it)."""
    return message.timecreated > cursor.watermark or (
        message.timecreated == cursor.watermark and message.id not in cursor.seen_ids
    )


def room_post(rl: RoomLink, message: ConversationMessage, author: str, url: str) -> NewDelivery:
    """One group message as a post into ``rl``'s room (the author is shown by the adapter)."""
    payload: dict[str, Any] = {
        "kind": ItemKind.MESSAGE.value,
        "html": sanitize_lms_html(message.text),
        "author": author,
        "conversation_id": rl.conversation_id,
        "peer_id": None,
        "actions": [],
        "lms_time": message.timecreated,
        "url": url,
    }
    return NewDelivery(f"msg:{message.id}", room_target(rl.id), rl.room.platform, rl.lane, payload)


def room_notice(rl: RoomLink, key: str, html: str, url: str | None = None) -> NewDelivery:
    """The bridge's own words into a room (a summary of what it missed)."""
    actions = [{"id": f"url:{key}", "label": "Open in Pluto", "url": url}] if url else []
    payload: dict[str, Any] = {
        "kind": ItemKind.NOTICE.value,
        "html": html,
        "author": "Pluto Bridge",
        "actions": actions,
    }
    return NewDelivery(key, room_target(rl.id), rl.room.platform, rl.lane, payload)


class RoomIntake:
    """Reads every linked group once per cycle and queues what is new."""

    def __init__(
        self,
        store: Store,
        api: LmsApi,
        backlog_limit: int = 50,
        pause: Pauser | None = None,
        retry_initial: float = 30.0,
        retry_max: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.api = api
        self.backlog_limit = backlog_limit
        self.pause = pause
        self.resume: Resumer | None = None  # set by the lifecycle: a group readable again
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.clock = clock  # when unreadable groups are due (tests give their own)
        self.linked: frozenset[int] = frozenset()  # group conversations with an active room
        self._members: dict[int, tuple[float, list[int]]] = {}
        self._retries: dict[int, Retry] = {}  # unreadable group conversation -> its next try

    def url(self, conversation_id: int | None) -> str:
        return f"{self.api.client.base_url}/message/index.php?convid={conversation_id}"

    async def refresh(self) -> list[RoomLink]:
        """The active room links; ``linked`` follows them."""
        active = await self.store.room_links((RoomStatus.ACTIVE,))
        self.linked = frozenset(r.conversation_id for r in active if r.conversation_id is not None)
        return active

    async def poll_once(self, mine: Callable[[Iterable[int]], Awaitable[list[int]]] | None = None) -> int:
        """Read each linked group once; returns the deliveries queued. ``mine``: with
        replicas, the groups this one reads (``IntakeShare.groups``; None: all)."""
        by_group: dict[int, list[RoomLink]] = defaultdict(list)
        for rl in await self.refresh():
            if rl.conversation_id is not None:
                by_group[rl.conversation_id].append(rl)
        if mine is not None:
            kept = set(await mine(by_group))
            by_group = defaultdict(list, {cid: rooms for cid, rooms in by_group.items() if cid in kept})
        queued = 0
        for conversation_id, rooms in by_group.items():
            try:
                queued += await self._read_group(conversation_id, rooms)
            except LmsUnavailable as exc:
                log.info("group conversation %s not read: %s", conversation_id, exc)
            except Exception:
                log.exception("group conversation %s could not be read; the others go on", conversation_id)
        try:
            await self.retry_unreadable()
        except Exception:
            log.exception("retrying the unreadable group conversations failed; the next cycle tries again")
        return queued

    async def retry_unreadable(self) -> None:
        """Rooms paused because nobody linked could read their group: on a doubling
        back-off (``retry_initial`` up to ``retry_max``), one LMS read per group with one
        candidate (each try the next one); when it works the rooms resume."""
        by_group: dict[int, list[RoomLink]] = defaultdict(list)
        for rl in await self.store.room_links((RoomStatus.PAUSED,)):
            if rl.conversation_id is not None and rl.reason.startswith(UNREADABLE):
                by_group[rl.conversation_id].append(rl)
        self._retries = {c: r for c, r in self._retries.items() if c in by_group}
        now = self.clock()
        for conversation_id, rooms in by_group.items():
            retry = self._retries.get(conversation_id)
            if retry is None:  # it was just paused: the first try waits a while
                self._retries[conversation_id] = Retry(now + self.retry_initial, self.retry_initial)
                continue
            if now < retry.due:
                continue
            got = await self._read_as(rooms, retry.attempt)
            if got is None:
                retry.delay = min(retry.delay * 2, self.retry_max)
                retry.due, retry.attempt = now + retry.delay, retry.attempt + 1
                continue
            del self._retries[conversation_id]
            self._members.pop(conversation_id, None)  # who is in the group changed: read it again
            log.info("group conversation %s can be read again", conversation_id)
            for rl in rooms:
                if self.resume is not None:
                    await self.resume(rl, got)

    async def _read_as(self, rooms: Sequence[RoomLink], attempt: int) -> Read | None:
        """One read of the group with the ``attempt``-th candidate's token (round robin);
        None when it fails."""
        conversation_id = rooms[0].conversation_id
        assert conversation_id is not None
        candidates = await self._candidates(rooms)
        uid = candidates[attempt % len(candidates)]
        links = [link for link in await self.store.links_of_user(uid) if link.active]
        if not links:
            return None
        since = min((r.cursor for r in rooms), key=lambda c: c.watermark)
        try:
            messages, names = await self.api.conversation_messages(
                links[0].token, uid, conversation_id, since.watermark
            )
        except LmsError as exc:  # TokenRejected too: that person's own poll tells them
            log.info("group conversation %s still unreadable as user %s: %s", conversation_id, uid, exc)
            return None
        for rl in rooms:
            await self.store.update_room_link(rl.id, reader_lms_user_id=uid)
        return links[0], messages, names

    async def _candidates(self, rooms: Sequence[RoomLink]) -> list[int]:
        """LMS users whose token may read the group, in order: the current reader, the
        linkers, then the group's other members."""
        order = [r.reader_lms_user_id or r.linker_lms_user_id for r in rooms] + [r.linker_lms_user_id for r in rooms]
        cached = self._members.get(rooms[0].conversation_id or 0)
        order += cached[1] if cached else []
        return list(dict.fromkeys(order))

    async def read(self, rooms: Sequence[RoomLink], since: Cursor) -> Read | None:
        """The group's messages from ``since``, read by the first member whose token works;
        None when nobody linked can read it any more (the rooms are paused)."""
        conversation_id = rooms[0].conversation_id
        assert conversation_id is not None
        problem = "no linked member of the Pluto group can read it"
        for uid in await self._candidates(rooms):
            for link in await self.store.links_of_user(uid):
                try:
                    messages, names = await self.api.conversation_messages(
                        link.token, uid, conversation_id, since.watermark
                    )
                except TokenRejected:
                    continue  # that person's own poll asks them to sign in again
                except LmsError as exc:
                    problem = f"Pluto: {exc.message}"
                    break  # not a member any more, or the group is gone: try another member
                if uid != (rooms[0].reader_lms_user_id or rooms[0].linker_lms_user_id):
                    for rl in rooms:
                        await self.store.update_room_link(rl.id, reader_lms_user_id=uid)
                return link, messages, names
        for rl in rooms:
            if self.pause is not None:
                await self.pause(rl, f"{UNREADABLE} ({problem})")
        return None

    async def members(self, conversation_id: int, reader: Link) -> list[int]:
        """The group's members (read every few minutes, with the reader's token)."""
        cached = self._members.get(conversation_id)
        if cached is not None and time.monotonic() - cached[0] < MEMBERS_TTL:
            return cached[1]
        found = [m.id for m in await self.api.conversation_members(reader.token, reader.lms_user_id, conversation_id)]
        self._members[conversation_id] = (time.monotonic(), found)
        return found

    async def _read_group(self, conversation_id: int, rooms: list[RoomLink]) -> int:
        since = min((r.cursor for r in rooms), key=lambda c: c.watermark)
        got = await self.read(rooms, since)
        if got is None:
            return 0
        reader, messages, names = got
        messages = [m for m in messages if after(m, since)]
        if not messages:
            return 0
        echoes = await self.echoes(rooms, messages)
        url = self.url(conversation_id)
        deliveries: list[NewDelivery] = []
        room_cursors: dict[int, Cursor] = {}
        for rl in rooms:
            fresh = [m for m in messages if after(m, rl.cursor)]
            if not fresh:
                continue
            for m in fresh:
                if echoes.get(m.id) != rl.id:
                    deliveries.append(room_post(rl, m, names.get(m.useridfrom) or f"User {m.useridfrom}", url))
            room_cursors[rl.id] = advance(rl.cursor, [(m.timecreated, m.id) for m in fresh])
        copies, member_cursors = await self._private_copies(rooms, reader, messages, names, since)
        return await self.store.commit_room_intake(room_cursors, deliveries + copies, member_cursors)

    async def echoes(self, rooms: Sequence[RoomLink], messages: Sequence[ConversationMessage]) -> dict[int, int]:
        """Of ``messages``, those the bridge posted from one of ``rooms``: id -> room link id.

        A send still in progress (Pluto stored it, its answer is not back, or the process
        died waiting) has no echo record yet: it is found in the inbound journal by author
        and words, and recorded now. The journal is read first: a send records its echo
        before its journal entry is finished, so one of the two reads sees it."""
        sending = await self._sending(rooms)
        found = await self.store.echoes([m.id for m in messages])
        for m in messages:
            if m.id in found:
                continue
            mine = next((rid for rid, uid, text in sending if uid == m.useridfrom and same_words(m.text, text)), None)
            if mine is not None:
                await self.store.record_echo(mine, m.id)
                found[m.id] = mine
        return found

    async def _sending(self, rooms: Sequence[RoomLink]) -> list[tuple[int, int, str]]:
        """(room link id, LMS author, words) of each message written in one of ``rooms``
        whose handling has not finished (journalled, not yet marked done)."""
        by_room = {rl.room.key: rl.id for rl in rooms}
        found: list[tuple[int, int, str]] = []
        for data, _ in await self.store.unfinished_events():
            try:
                event = event_from_json(data)
            except (ValueError, KeyError, TypeError):
                continue  # the resumer reports it
            if not isinstance(event, MessageEvent) or event.shared is None or event.shared.key not in by_room:
                continue
            link = await self.store.link_for(event.identity)
            if link is not None:
                found.append((by_room[event.shared.key], link.lms_user_id, event.text))
        return found

    async def _private_copies(
        self,
        rooms: Sequence[RoomLink],
        reader: Link,
        messages: list[ConversationMessage],
        names: dict[int, str],
        since: Cursor,
    ) -> tuple[list[NewDelivery], dict[int, dict[str, Cursor]]]:
        """Copies for members in their private chats: for those not in a linked room on
        that platform, and those who asked for both (``prefs groups dm|both``)."""
        conversation_id = rooms[0].conversation_id
        assert conversation_id is not None
        scope = conversation_scope(conversation_id)
        in_room: set[tuple[Platform, str, str]] = set()
        for rl in rooms:
            in_room |= {(rl.room.platform, rl.room.workspace, u) for u in await self.store.room_member_ids(rl.id)}
        info = ConversationInfo(conversation_id, ConversationType.GROUP, rooms[0].conversation_name, None)
        members = await self.members(conversation_id, reader)
        cursors = await self.store.cursors_of_users(members)
        muters = await self.store.group_muters(conversation_id)  # muted in Pluto: no private copies
        deliveries: list[NewDelivery] = []
        moved: dict[int, dict[str, Cursor]] = {}
        now = time.time()
        for uid in members:
            links = await self.store.links_of_user(uid)
            cursor = cursors.get(uid, {}).get(scope) or since
            fresh = [m for m in messages if after(m, cursor)]
            if not links or not fresh:
                continue
            moved[uid] = {scope: advance(cursor, [(m.timecreated, m.id) for m in fresh])}
            prefs = await self.store.preferences_of(uid)
            wanted = [
                link
                for link in links
                if wants_private_copies(prefs)
                or (link.identity.platform, link.identity.workspace, link.identity.user_id) not in in_room
            ]
            for m in fresh:
                if m.useridfrom == uid:
                    continue  # their own words
                author = names.get(m.useridfrom) or f"User {m.useridfrom}"
                muted = uid in muters  # the router sends a muted group nowhere
                item = dataclasses.replace(
                    message_item(m, uid, author, info, muted=muted), url=self.url(conversation_id)
                )
                deliveries += route(item, wanted, prefs, now)
        return deliveries, moved

    async def catch_up(self, rl: RoomLink, got: Read | None = None) -> None:
        """A paused room is back: what it missed arrives with the next cycle, or, above
        ``backlog_limit`` messages, one summary with a link to Pluto instead. ``got``: the
        group already read from the room's cursor or earlier (not read again)."""
        got = got or await self.read([rl], rl.cursor)
        if got is None:
            return
        _, messages, _ = got
        echoes = await self.echoes([rl], messages)
        missed = [m for m in messages if after(m, rl.cursor) and echoes.get(m.id) != rl.id]
        if len(missed) <= self.backlog_limit:
            return
        html = (
            f"<p>{len(missed)} messages were written in <b>{escape(rl.conversation_name)}</b> while this room "
            "was not linked. Read them in Pluto.</p>"
        )
        summary = room_notice(rl, f"missed:{rl.id}:{missed[-1].id}", html, self.url(rl.conversation_id))
        cursor = advance(rl.cursor, [(m.timecreated, m.id) for m in messages if after(m, rl.cursor)])
        await self.store.commit_room_intake({rl.id: cursor}, [summary])


async def tell_linker(store: Store, rl: RoomLink, html: str) -> None:
    """Tell the room's linker privately (a notice in their chat on that platform)."""
    link = await store.link_for(rl.linker)
    if link is not None and link.active:
        await store.enqueue([notice(link, html)])
