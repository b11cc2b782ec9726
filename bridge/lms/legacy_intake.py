"""Private messages on a legacy (Totara, pre-3.6 Moodle) site, which has no conversations.

Totara keeps Moodle 3.3's messaging: ``core_message_get_messages`` with ``useridto`` lists
the person's personal messages, unread or read (``read`` is a boolean: one list or the
other), and a message moves to ``message_read`` under a new id once read (lms-api.md 3.3).
Both lists are read, so that a message marked read before the bridge saw it (by the person
in Totara, or by the bridge as they answered from chat) still arrives; and as ids change on
reading, a message is known by its sender, second and text. The cursor is the usual
inclusive ``timecreated`` watermark plus what was seen at that second, read newest first
page by page until it reaches back past it.

With no conversation ids, each correspondent stands for one (``legacy_conversation`` in
``bridge.lms.api``), so replies, ``to`` and threads route as on a modern site.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bridge.lms.api import LmsApi, legacy_conversation
from bridge.lms.intake import IntakeBatch, advance
from bridge.model import ConversationInfo, ConversationType, Cursor, Item, ItemKind
from bridge.render import sanitize_lms_html

LEGACY_MESSAGES = "legacy_messages"
WINDOW = 50  # messages per page
MAX_PAGES = 20


def identity(row: dict[str, Any]) -> int:
    """What stays of a message when Totara moves it to ``message_read``: sender, second, text.
    (Two identical texts from one person within one second count as one.)"""
    raw = f"{row.get('useridfrom')}|{row.get('timecreated')}|{row.get('fullmessage') or row.get('text')}"
    return int(hashlib.sha1(raw.encode()).hexdigest()[:15], 16)


class LegacyMessageIntake:
    """Finds new personal messages for one LMS user on a site without conversations."""

    def __init__(self, api: LmsApi) -> None:
        self.api = api

    async def _rows_since(self, token: str, userid: int, watermark: int, pages: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for read in (False, True):
            for page in range(pages):
                got = await self.api.legacy_messages(token, userid, read=read, limit=WINDOW, offset=page * WINDOW)
                rows.extend(got)
                if len(got) < WINDOW or min(int(r["timecreated"]) for r in got) < watermark:
                    break
        return rows

    async def baseline(self, token: str, userid: int) -> Cursor:
        """A cursor past the messages the person already has (taken when they link)."""
        rows = await self._rows_since(token, userid, 0, 1)
        return advance(Cursor(0, frozenset()), [(int(r["timecreated"]), identity(r)) for r in rows])

    async def poll(self, token: str, userid: int, cursor: Cursor) -> IntakeBatch:
        """Messages newer than ``cursor``, oldest first, and the cursor after them."""
        batch = IntakeBatch()
        rows = await self._rows_since(token, userid, cursor.watermark, MAX_PAGES)
        fresh: list[tuple[int, int]] = []
        seen: set[int] = set()
        last_time: dict[int, tuple[ConversationInfo, int]] = {}
        # Totara orders by time only; within a second, unread ids follow the sending order.
        for row in sorted(rows, key=lambda r: (int(r["timecreated"]), r.get("timeread") is None, int(r["id"]))):
            ident, time, sender = identity(row), int(row["timecreated"]), int(row["useridfrom"])
            if ident in seen or not (
                time > cursor.watermark or (time == cursor.watermark and ident not in cursor.seen_ids)
            ):
                continue
            seen.add(ident)
            fresh.append((time, ident))
            if sender == userid:
                continue
            name = str(row.get("userfromfullname") or f"User {sender}")
            info = ConversationInfo(legacy_conversation(sender), ConversationType.INDIVIDUAL, name, sender)
            last_time[sender] = (info, time)
            batch.items.append(
                Item(
                    key=f"lmsg:{ident:x}",
                    kind=ItemKind.MESSAGE,
                    lms_user_id=userid,
                    html=sanitize_lms_html(str(row.get("text") or "")),
                    time=time,
                    author_id=sender,
                    author_name=name,
                    conversation_id=info.conversation_id,
                    conversation_type=ConversationType.INDIVIDUAL,
                    conversation_name=name,
                    peer_id=sender,
                )
            )
        new = advance(cursor, fresh)
        if new != cursor:
            batch.cursors[LEGACY_MESSAGES] = new
        batch.conversations.extend(last_time.values())
        return batch
