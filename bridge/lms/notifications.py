"""Reads new alerts, tasks and contact requests for one user, and which are still open.

Three site shapes:

* modern Moodle: ``core_message_get_messages`` (type notifications, read and unread),
  stable ids, component/eventtype tell the kind;
* Totara with the site's ``local_pluto_get_tasks``: tasks and alerts with their metadata,
  ids stable while unread (they change on read);
* Totara without it: unread notifications only, no way to tell tasks from alerts, ids that
  change on read, so items are keyed by a hash of sender, time and text (lms-api 3.3).

Pure reading; the pipeline stores the items and cursor in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from bridge.lms.api import NotificationApi, SiteInfo
from bridge.lms.intake import advance
from bridge.model import Cursor, Item, ItemKind
from bridge.render import escape, sanitize_lms_html

NOTIFICATIONS = "notifications"
WINDOW = 50  # notifications per page
MAX_PAGES = 100  # a sanity bound: 5000 notifications arriving between two polls
TOTARA_TASKS = "local_pluto_get_tasks"
URGENT = 4  # Totara message_metadata.urgency

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NotificationBatch:
    """New items, the cursor after them, and what the LMS says is still open."""

    items: list[Item] = field(default_factory=list)
    cursor: Cursor = field(default_factory=lambda: Cursor(0, frozenset()))
    open_keys: set[str] = field(default_factory=set)
    window_start: int = 0  # open_keys speaks for items created at or after this time
    lms_ids: dict[str, int] = field(default_factory=dict)
    # Totara: every open task as the task list describes it, new or not, so that an item a
    # read took for an alert can be upgraded to the task it is (one item per LMS id).
    tasks: dict[str, Item] = field(default_factory=dict)


def _classify(row: dict[str, Any]) -> ItemKind:
    component, event = row.get("component"), row.get("eventtype")
    if component == "moodle" and event == "messagecontactrequests":
        return ItemKind.CONTACT_REQUEST
    if component == "totara_message" and event == "task":
        return ItemKind.TASK
    return ItemKind.ALERT


def _link(row: dict[str, Any], fallback: str) -> str:
    """Where "Open in Pluto" leads: the notification's own link, else the page that lists it."""
    return str(row.get("contexturl") or "") or fallback


def _body(row: dict[str, Any]) -> str:
    # Moodle renders "text" from smallmessage when there is one (lms-api 4.3): the short form.
    text = row.get("text") or row.get("fullmessagehtml") or escape(str(row.get("fullmessage") or ""))
    return sanitize_lms_html(str(text))


def _contact_request(row: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of a contact request from what Moodle 4.5 sends (observed 21): the
    subject "<site>: Contact request from <name>", no short text, an HTML body; the
    requester is ``useridfrom`` and their name ``userfromfullname``."""
    subject = str(row.get("subject") or "")
    name = str(row.get("userfromfullname") or "") or subject.partition("Contact request from ")[2].strip()
    if not name:
        return subject, _body(row)
    body = _body(row)  # Moodle's own sentence ("<name> would like to contact you")
    return f"Contact request from {name}", body or f"<p>{escape(name)} would like to contact you.</p>"


def _legacy_key(row: dict[str, Any]) -> tuple[str, int]:
    digest = hashlib.sha1(
        f"{row.get('useridfrom')}|{row.get('timecreated')}|{row.get('subject')}|{row.get('fullmessage')}".encode()
    ).hexdigest()
    return f"tsh:{digest[:16]}", int(digest[:15], 16)


class NotificationIntake:
    """Finds new notifications for one LMS user on any site generation."""

    def __init__(self, api: NotificationApi) -> None:
        self.api = api

    async def poll(
        self, token: str, userid: int, site: SiteInfo, cursor: Cursor, *, pages: int = MAX_PAGES
    ) -> NotificationBatch:
        """What is new since ``cursor`` (reading at most ``pages`` pages) and what is still open."""
        base = site.siteurl.rstrip("/")
        if site.generation == "modern":
            return await self._modern(token, userid, cursor, pages, base)
        if TOTARA_TASKS in site.functions:
            return await self._totara(token, userid, cursor, pages, base)
        return await self._legacy(token, userid, cursor, pages, base)

    async def baseline(self, token: str, userid: int, site: SiteInfo) -> Cursor:
        """A cursor past everything the person already has (taken when they link): the
        newest page is enough, read notifications included."""
        if site.generation == "modern":
            rows = await self.api.notifications(token, userid, legacy=False, limit=WINDOW)
            return advance(Cursor(0, frozenset()), [(int(r["timecreated"]), int(r["id"])) for r in rows])
        return (await self.poll(token, userid, site, Cursor(0, frozenset()), pages=1)).cursor

    @staticmethod
    def _fresh(cursor: Cursor, time: int, ident: int) -> bool:
        return time > cursor.watermark or (time == cursor.watermark and ident not in cursor.seen_ids)

    async def _rows_since(
        self, token: str, userid: int, *, legacy: bool, watermark: int, pages: int
    ) -> tuple[list[Any], bool]:
        """Newest-first pages until one reaches back past ``watermark`` (so nothing that
        arrived since the last poll is left out, however many came); also whether older
        rows exist beyond the last page."""
        rows: list[dict[str, Any]] = []
        for page in range(pages):
            got = await self.api.notifications(token, userid, legacy=legacy, limit=WINDOW, offset=page * WINDOW)
            rows.extend(got)
            if len(got) < WINDOW:
                return rows, False
            if min(int(r["timecreated"]) for r in got) < watermark:
                return rows, True
        if pages == MAX_PAGES:
            log.warning("more than %d notifications for LMS user %s since the last poll", len(rows), userid)
        return rows, True

    async def _modern(self, token: str, userid: int, cursor: Cursor, pages: int, base: str) -> NotificationBatch:
        rows, more = await self._rows_since(token, userid, legacy=False, watermark=cursor.watermark, pages=pages)
        batch = NotificationBatch(cursor=cursor)
        if more:
            batch.window_start = min(int(r["timecreated"]) for r in rows)
        fresh: list[tuple[int, int]] = []
        for row in sorted(rows, key=lambda r: (int(r["timecreated"]), int(r["id"]))):
            ident, time = int(row["id"]), int(row["timecreated"])
            key = f"ntf:{ident}"
            if row.get("timeread") is not None:
                continue
            batch.open_keys.add(key)
            if not self._fresh(cursor, time, ident):
                continue
            fresh.append((time, ident))
            kind = _classify(row)
            if kind is ItemKind.CONTACT_REQUEST:
                subject, html = _contact_request(row)
            else:
                subject, html = str(row.get("subject") or ""), _body(row)
            batch.items.append(
                Item(
                    key=key,
                    kind=kind,
                    lms_user_id=userid,
                    html=html,
                    time=time,
                    author_id=int(row.get("useridfrom") or 0),
                    author_name=str(row.get("userfromfullname") or ""),
                    subject=subject,
                    url=_link(row, f"{base}/message/output/popup/notifications.php?notificationid={ident}"),
                    lms_id=ident,
                    data={
                        "component": row.get("component"),
                        "eventtype": row.get("eventtype"),
                        "requester": int(row.get("useridfrom") or 0) if kind is ItemKind.CONTACT_REQUEST else None,
                    },
                )
            )
        batch.cursor = advance(cursor, fresh)
        return batch

    async def _totara(self, token: str, userid: int, cursor: Cursor, pages: int, base: str) -> NotificationBatch:
        batch = NotificationBatch(cursor=cursor)
        fresh: list[tuple[int, int]] = []
        listed: set[int] = set()
        # The unread rows first: every task among them then exists when the task list is read
        # next, so a task created meanwhile is never taken for an alert (issue 11 bug 2).
        unread = await self._rows_since(token, userid, legacy=True, watermark=cursor.watermark, pages=pages)
        for kind_name, kind in (("task", ItemKind.TASK), ("alert", ItemKind.ALERT)):
            for row in await self.api.totara_items(token, kind_name):
                ident, time = int(row["id"]), int(row["timecreated"])
                listed.add(ident)
                key = f"tot:{ident}"
                batch.open_keys.add(key)
                batch.lms_ids[key] = ident
                item = Item(
                    key=key,
                    kind=kind,
                    lms_user_id=userid,
                    html=sanitize_lms_html(str(row.get("fullmessagehtml") or "")),
                    time=time,
                    author_id=int(row.get("useridfrom") or 0),
                    subject=str(row.get("subject") or ""),
                    url=_link(row, f"{base}/totara/message/{kind_name}s.php"),
                    lms_id=ident,
                    urgent=int(row.get("urgency") or 0) >= URGENT,
                    data={
                        "component": "totara_message",
                        "eventtype": kind_name,
                        "canaccept": bool(row.get("canaccept")),
                        "canreject": bool(row.get("canreject")),
                        "acceptbutton": row.get("acceptbutton") or "",
                        "rejectbutton": row.get("rejectbutton") or "",
                        "needsreason": bool(row.get("needsreason")),
                    },
                )
                if kind is ItemKind.TASK:
                    batch.tasks[key] = item
                if self._fresh(cursor, time, ident):
                    fresh.append((time, ident))
                    batch.items.append(item)
        # Other notifications (forum posts, seminar reminders sent outside totara_message), and
        # any task the list did not show yet (Totara writes its metadata after the row): keyed
        # by the same LMS id, so the read that lists it as a task upgrades this item in place.
        fresh.extend(
            await self._collect_legacy(
                token, userid, cursor, batch, pages, base, skip=listed, key_by_id=True, rows=unread
            )
        )
        batch.cursor = advance(cursor, fresh)
        batch.items.sort(key=lambda item: item.time)
        return batch

    async def _legacy(self, token: str, userid: int, cursor: Cursor, pages: int, base: str) -> NotificationBatch:
        batch = NotificationBatch(cursor=cursor)
        batch.cursor = advance(cursor, await self._collect_legacy(token, userid, cursor, batch, pages, base))
        return batch

    async def _collect_legacy(
        self,
        token: str,
        userid: int,
        cursor: Cursor,
        batch: NotificationBatch,
        pages: int,
        base: str,
        skip: set[int] | None = None,
        key_by_id: bool = False,
        rows: tuple[list[Any], bool] | None = None,
    ) -> list[tuple[int, int]]:
        """Unread legacy notifications into ``batch``; returns the fresh (time, ident) pairs.

        ``key_by_id``: key by the row's id (``tot:ID``, as the Totara task list does) rather
        than by a hash of its content; only where the task list also reads unread rows.
        ``rows``: the unread rows and whether more exist, when already read."""
        found, more = rows or await self._rows_since(
            token, userid, legacy=True, watermark=cursor.watermark, pages=pages
        )
        if more:
            batch.window_start = min(int(r["timecreated"]) for r in found)
        fresh: list[tuple[int, int]] = []
        for row in sorted(found, key=lambda r: (int(r["timecreated"]), int(r["id"]))):
            if skip and int(row["id"]) in skip:
                continue
            key, ident = (f"tot:{int(row['id'])}", int(row["id"])) if key_by_id else _legacy_key(row)
            time = int(row["timecreated"])
            batch.open_keys.add(key)
            batch.lms_ids[key] = int(row["id"])
            if not self._fresh(cursor, time, ident):
                continue
            fresh.append((time, ident))
            batch.items.append(
                Item(
                    key=key,
                    kind=ItemKind.ALERT,
                    lms_user_id=userid,
                    html=_body(row),
                    time=time,
                    author_id=int(row.get("useridfrom") or 0),
                    author_name=str(row.get("userfromfullname") or ""),
                    subject=str(row.get("subject") or ""),
                    url=_link(row, f"{base}/message/index.php"),
                    lms_id=int(row["id"]),
                    data={"component": None, "eventtype": None},
                )
            )
        return fresh
