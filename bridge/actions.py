"""Alerts, tasks and contact requests handled from chat, as the person, with their token.

Buttons carry ``VERB:ITEM_KEY`` ids. Before acting the bridge checks that the item is
one of this person's and still open; the LMS then decides (it may refuse: already
handled, workflow refused, expired) and its reason is shown. After a success every chat
copy of the item, on every platform, is updated: buttons retired, outcome shown.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge import notices
from bridge.lms.api import LmsApi, NotificationApi, SiteInfo
from bridge.lms.errors import LmsError, LmsUnavailable, TokenRejected
from bridge.model import Action, ItemKind, Platform
from bridge.profile import Profiles
from bridge.render import escape
from bridge.router import lane_of
from bridge.store.records import Delivery, ItemRow, Link, LinkStatus, NewDelivery
from bridge.store.store import Store

log = logging.getLogger(__name__)

ACK, ACCEPT, DECLINE, DISMISS = "ack", "acc", "dec", "dis"
VERBS = {ACK: "mark read", ACCEPT: "accept", DECLINE: "decline", DISMISS: "dismiss"}
EXPIRY_SECONDS = 30 * 86400  # Totara auto-dismisses alerts and tasks after 30 days (domain 3.4)


def buttons(kind: ItemKind, key: str, url: str | None, data: dict[str, object]) -> tuple[Action, ...]:
    """The native actions an item offers; "Open in Pluto" on everything with a link."""
    found: list[Action] = []
    if kind is ItemKind.ALERT:
        found.append(Action(f"{ACK}:{key}", "Mark read", "primary"))
    elif kind is ItemKind.CONTACT_REQUEST:
        found += [
            Action(f"{ACCEPT}:{key}", "Accept", "primary"),
            Action(f"{DECLINE}:{key}", "Decline", "danger"),
        ]
    elif kind is ItemKind.TASK:
        reason = bool(data.get("needsreason"))
        if data.get("canaccept"):
            found.append(
                Action(f"{ACCEPT}:{key}", str(data.get("acceptbutton") or "Accept"), "primary", needs_reason=reason)
            )
        if data.get("canreject", data.get("canaccept")):
            found.append(
                Action(f"{DECLINE}:{key}", str(data.get("rejectbutton") or "Reject"), "danger", needs_reason=reason)
            )
        found.append(Action(f"{DISMISS}:{key}", "Dismiss"))
    if url:
        found.append(Action(f"url:{key}", "Open in Pluto", url=url))
    return tuple(found)


def parse_action(action_id: str) -> tuple[str, str] | None:
    verb, _, key = action_id.partition(":")
    return (verb, key) if verb in VERBS and key else None


class Refusal(Exception):
    """The action cannot be done (the LMS or the site says no); ``html`` says why."""

    def __init__(self, html: str) -> None:
        super().__init__(html)
        self.html = html


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened, for the person who acted (``html``) and for every copy (``done``)."""

    ok: bool
    html: str
    retired_html: str | None = None
    finished: bool = False  # the deciding inbound event was marked processed with the outcome


def retired(item: ItemRow, outcome: str) -> str:
    """The item's text with its outcome in place of the buttons."""
    subject = f"<p><b>{escape(item.subject)}</b></p>" if item.subject else ""
    return f"{subject}{item.html}<p><i>{escape(outcome)}</i></p>"


class ItemActions:
    """Performs actions on items and keeps every chat copy true."""

    def __init__(
        self,
        store: Store,
        api: LmsApi,
        notifications: NotificationApi,
        site: Callable[[str], object],
        task_action_function: str,
        wake_dispatcher: Callable[[], None] = lambda: None,
        profiles: Profiles | None = None,
    ) -> None:
        self.store = store
        self.api = api
        self.profiles = profiles or Profiles()
        self.notifications = notifications
        self._site = site
        self.task_action_function = task_action_function
        self.wake_dispatcher = wake_dispatcher
        # One person's decisions and the poll's reconciling take turns: a poll that sees a
        # decision's effect in the LMS before the decision is recorded would otherwise close
        # the item as "Handled in Pluto" and the person's own outcome would be lost.
        self._turns: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def site(self, token: str) -> SiteInfo:
        info = await self._site(token)  # type: ignore[misc]
        assert isinstance(info, SiteInfo)
        return info

    async def perform(
        self, link: Link, verb: str, item: ItemRow, reason: str = "", finish: tuple[Platform, str] | None = None
    ) -> Outcome:
        """Do ``verb`` on ``item`` as ``link``'s person; the inbound event ``finish`` (the
        one that decided) is marked processed together with the outcome."""
        async with self._turns[link.lms_user_id]:
            # Read again in turn: a poll may have closed it while this waited.
            item = await self.store.item(link.lms_user_id, item.item_key) or item
            return await self._perform(link, verb, item, reason, finish)

    async def decide(
        self, link: Link, verb: str, item_key: str, reason: str, finish: tuple[Platform, str]
    ) -> Outcome | None:
        """Do ``verb`` on ``link``'s person's item ``item_key``, read once, in turn; the
        inbound event ``finish`` is marked processed together with the outcome. None when
        the person has no such item (a stale button, or somebody else's)."""
        async with self._turns[link.lms_user_id]:
            item = await self.store.item(link.lms_user_id, item_key)
            if item is None:
                return None
            return await self._perform(link, verb, item, reason, finish)

    async def _perform(
        self, link: Link, verb: str, item: ItemRow, reason: str, finish: tuple[Platform, str] | None = None
    ) -> Outcome:
        if item.status != "open":
            return Outcome(False, f"<p>Already handled: {escape(item.outcome or item.status)}.</p>")
        if verb not in (ACCEPT, DECLINE):
            reason = ""  # only a decision carries a reason (text left in a reason box does not)
        profile = self.profiles[link.identity.platform]
        who = notices.done_by(link.lms_fullname, profile)
        try:
            result = await self._act(link, verb, item, reason)
        except TokenRejected:
            await self.store.set_link_status(link.id, LinkStatus.NEEDS_SIGNIN, "the LMS rejected the token")
            return Outcome(False, notices.signin_lost(profile, "Not done"))
        except LmsUnavailable as exc:
            if exc.reached:
                return Outcome(False, "<p>Pluto did not answer in time; it may have been done. Check it in Pluto.</p>")
            return Outcome(False, "<p>Not done: Pluto cannot be reached right now. Please try again in a moment.</p>")
        except LmsError as exc:
            return Outcome(False, f"<p>Pluto said no: {escape(exc.message)}</p>")
        except Refusal as refusal:  # the LMS or the site cannot do it; nothing changed
            return Outcome(False, refusal.html)
        outcome = f"{result} by {who}" + (f": \u201c{reason}\u201d" if reason else "")
        html = await self.close(link.lms_user_id, item, outcome, finish=finish)
        return Outcome(True, f"<p>Done: {escape(outcome)}.</p>", html, finished=finish is not None and html is not None)

    async def _act(self, link: Link, verb: str, item: ItemRow, reason: str) -> str:
        """Returns the past-tense outcome; raises ``Refusal`` when it cannot be done."""
        kind = ItemKind(item.kind)
        token, uid = link.token, link.lms_user_id
        if kind is ItemKind.CONTACT_REQUEST:
            requester = int(item.data.get("requester") or 0)
            if verb in (ACCEPT, DECLINE):
                if requester not in await self.notifications.contact_requesters(token, uid):
                    await self.close(uid, item, "Already answered in Pluto")
                    raise Refusal("<p>That contact request was already answered in Pluto.</p>")
                if verb == ACCEPT:
                    await self.notifications.confirm_contact_request(token, requester, uid)
                else:
                    await self.notifications.decline_contact_request(token, requester, uid)
            await self._mark_read(token, uid, item)
            return {ACCEPT: "Accepted", DECLINE: "Declined"}.get(verb, "Marked read")
        if kind is ItemKind.TASK and verb in (ACCEPT, DECLINE, DISMISS):
            return await self._task(link, verb, item, reason)
        if verb in (ACCEPT, DECLINE) and item.item_key.startswith("tsh:"):
            # A Totara site without the task-action plugin: tasks look like alerts here.
            where = f' <a href="{escape(item.url)}">Open it in Pluto</a>.' if item.url else ""
            raise Refusal(
                f"<p>This Pluto site cannot {VERBS[verb]} from chat (it lacks {escape(self.task_action_function)}); "
                f"please decide in Pluto.{where}</p>"
            )
        if verb in (ACCEPT, DECLINE):
            raise Refusal(
                f"<p>{escape(item.subject or 'This item')} has nothing to {VERBS[verb]}; use ack to mark it read.</p>"
            )
        await self._mark_read(token, uid, item)
        return "Dismissed" if verb == DISMISS else "Marked read"

    async def _task(self, link: Link, verb: str, item: ItemRow, reason: str) -> str:
        site = await self.site(link.token)
        function = self.task_action_function
        if function not in site.functions:
            if verb == DISMISS:
                await self._mark_read(link.token, link.lms_user_id, item)
                return "Dismissed"
            where = f' <a href="{escape(item.url)}">Open it in Pluto</a>.' if item.url else ""
            raise Refusal(
                f"<p>This Pluto site cannot {VERBS[verb]} tasks from chat (it lacks {escape(function)}); "
                f"please decide in Pluto.{where}</p>"
            )
        open_ids = {int(t["id"]) for t in await self.notifications.totara_items(link.token, "task")}
        if item.lms_id not in open_ids:
            await self.close(link.lms_user_id, item, "Already handled in Pluto")
            raise Refusal("<p>That task was already handled in Pluto.</p>")
        action = {ACCEPT: "accept", DECLINE: "reject", DISMISS: "dismiss"}[verb]
        result = await self.notifications.task_action(link.token, function, int(item.lms_id or 0), action, reason)
        if not result.get("status"):
            warnings = "; ".join(str(w.get("message", w)) for w in result.get("warnings") or [])
            detail = f": {escape(warnings)}" if warnings else " (its workflow did not allow it, e.g. a full seminar)"
            raise Refusal(f"<p>Pluto refused to {action} this task{detail}.</p>")
        return {ACCEPT: "Accepted", DECLINE: "Rejected", DISMISS: "Dismissed"}[verb]

    async def _mark_read(self, token: str, uid: int, item: ItemRow) -> None:
        if item.lms_id is None:
            return
        if item.item_key.startswith("ntf:"):
            await self.notifications.mark_notification_read(token, item.lms_id)
        else:
            await self.notifications.mark_message_read(token, item.lms_id)

    async def close(
        self,
        lms_user_id: int,
        item: ItemRow,
        outcome: str,
        status: str = "handled",
        finish: tuple[Platform, str] | None = None,
    ) -> str | None:
        """Close the item and queue an edit of every chat copy, with the processed mark of
        the inbound event ``finish`` in the same write; returns the retired HTML."""
        html = retired(item, outcome)
        sent = [delivery for delivery, refs in await self.store.refs_of_item(item.item_key) if refs]
        edits = await self._edits(sent, {"html": html})
        if not await self.store.close_item(lms_user_id, item.item_key, status, outcome, edits=edits, finish=finish):
            return None
        if edits:
            self.wake_dispatcher()
        log.info("item %s of LMS user %s: %s", item.item_key, lms_user_id, outcome)
        return html

    async def _edit_copies(self, copies: list[Delivery], change: dict[str, Any]) -> None:
        """Queue an edit of each sent copy: its new text (and buttons; none when absent)."""
        edits = await self._edits(copies, change)
        if edits:
            await self.store.enqueue(edits)
            self.wake_dispatcher()

    async def _edits(self, copies: list[Delivery], change: dict[str, Any]) -> list[NewDelivery]:
        """An edit of each sent copy (its link still there): its new text and buttons."""
        edits = []
        for delivery in copies:
            link = await self.store.link_by_id(delivery.link_id)
            if link is None:
                continue
            edits.append(
                NewDelivery(
                    f"edit:{delivery.id}:{uuid.uuid4().hex[:12]}",
                    link.id,
                    link.identity.platform,
                    lane_of(link.identity),
                    {"kind": "edit", "target": delivery.id, **change},
                )
            )
        return edits

    async def upgrade(self, lms_user_id: int, row: ItemRow, payload: dict[str, Any]) -> bool:
        """An open item is now known to be another kind (a Totara task a read took for an
        alert): one item per LMS id, so every chat copy is edited in place, with the new
        buttons, and copies not yet sent go out as the new kind. False if it was not open."""
        sent = await self.store.upgrade_item(lms_user_id, row, payload)
        if sent is None:
            return False
        await self._edit_copies(sent, {"html": payload["html"], "actions": payload["actions"]})
        log.info("item %s of LMS user %s is a %s now", row.item_key, lms_user_id, row.kind)
        return True

    async def reconcile(self, lms_user_id: int, open_keys: set[str], window_start: int, now: int | None = None) -> int:
        """Retire copies of items handled in the LMS itself, or expired; returns how many."""
        now = int(time.time()) if now is None else now
        async with self._turns[lms_user_id]:
            return await self._reconcile(lms_user_id, open_keys, window_start, now)

    async def _reconcile(self, lms_user_id: int, open_keys: set[str], window_start: int, now: int) -> int:
        closed = 0
        for item in await self.store.open_items(lms_user_id):
            if item.created < now - EXPIRY_SECONDS:
                await self.close(lms_user_id, item, "Expired: Pluto dismisses items after 30 days", "expired")
                closed += 1
            elif item.item_key not in open_keys and item.created >= window_start:
                await self.close(lms_user_id, item, "Handled in Pluto")
                closed += 1
        return closed
