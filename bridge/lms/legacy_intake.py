"""Private messages on a legacy (Totara, pre-3.6 Moodle) site, which has no conversations.

Totara keeps Moodle 3.3's messaging: ``core_message_get_messages`` with ``useridto`` and
``read`` false lists the person's unread personal messages; a message keeps its id while
unread and moves to ``message_read`` under a new id once read (lms-api.md 3.3). So the
cursor is the same inclusive ``timecreated`` watermark plus the ids seen at that second as
for conversations, read newest first page by page until it reaches back past it.

With no conversation ids, each correspondent stands for one: ``legacy_conversation(peer)``
(see ``bridge.lms.api``) lets replies, ``to`` and threads route as on a modern site.
"""

from __future__ import annotations

from bridge.lms.api import LmsApi, legacy_conversation
from bridge.lms.intake import IntakeBatch, advance
from bridge.model import ConversationInfo, ConversationType, Cursor, Item, ItemKind
from bridge.render import sanitize_lms_html

LEGACY_MESSAGES = "legacy_messages"
WINDOW = 50  # messages per page
MAX_PAGES = 20


class LegacyMessageIntake:
    """Finds new personal messages for one LMS user on a site without conversations."""

    def __init__(self, api: LmsApi) -> None:
        self.api = api

    async def _rows_since(self, token: str, userid: int, watermark: int, pages: int) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for page in range(pages):
            got = await self.api.legacy_unread_messages(token, userid, limit=WINDOW, offset=page * WINDOW)
            rows.extend(got)
            if len(got) < WINDOW or min(int(str(r["timecreated"])) for r in got) < watermark:
                break
        return rows

    async def baseline(self, token: str, userid: int) -> Cursor:
        """A cursor past the unread messages the person already has (taken when they link)."""
        rows = await self._rows_since(token, userid, 0, 1)
        return advance(Cursor(0, frozenset()), [(int(str(r["timecreated"])), int(str(r["id"]))) for r in rows])

    async def poll(self, token: str, userid: int, cursor: Cursor) -> IntakeBatch:
        """Unread messages newer than ``cursor``, oldest first, and the cursor after them."""
        batch = IntakeBatch()
        rows = await self._rows_since(token, userid, cursor.watermark, MAX_PAGES)
        fresh: list[tuple[int, int]] = []
        last_time: dict[int, tuple[ConversationInfo, int]] = {}
        # Totara orders by time only; ids grow in send order and break same-second ties.
        for row in sorted(rows, key=lambda r: (int(str(r["timecreated"])), int(str(r["id"])))):
            ident, time, sender = int(str(row["id"])), int(str(row["timecreated"])), int(str(row["useridfrom"]))
            if not (time > cursor.watermark or (time == cursor.watermark and ident not in cursor.seen_ids)):
                continue
            fresh.append((time, ident))
            if sender == userid:
                continue
            name = str(row.get("userfromfullname") or f"User {sender}")
            info = ConversationInfo(legacy_conversation(sender), ConversationType.INDIVIDUAL, name, sender)
            last_time[sender] = (info, time)
            batch.items.append(
                Item(
                    key=f"msg:{ident}",
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
