"""LMS to chat: read every linked person when due, route what is new, queue it with the cursor.

Per person and read: the conversation list (one call, which says per conversation what
changed), then the changed conversations' messages from the stored watermark; then
notifications (alerts, tasks, contact requests) and which open ones the LMS still has
open. Deliveries, items and the new cursors are written in one transaction, so nothing
intake has seen can be skipped. Who is due and how many are read at once follow
``bridge.poll_cadence`` and ``bridge.lms.in_flight`` (issue 19); held deliveries go out
as one digest (``bridge.digest``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from bridge import notices
from bridge.actions import ItemActions, buttons
from bridge.digest import release_held
from bridge.intake_share import IntakeShare
from bridge.lms.api import LmsApi, SiteInfo
from bridge.lms.errors import FunctionUnavailable, LmsError, LmsUnavailable, TokenRejected
from bridge.lms.in_flight import InFlightLimit
from bridge.lms.intake import BASELINE, MessageIntake, later
from bridge.lms.legacy_intake import LEGACY_MESSAGES, LegacyMessageIntake
from bridge.lms.notification_prefs import NotificationSwitches
from bridge.lms.notifications import NOTIFICATIONS, NotificationIntake
from bridge.log_format import link_context
from bridge.metrics import Metrics
from bridge.model import Cursor, Item, ItemKind
from bridge.own_signins import SIGNINS, drop_own
from bridge.poll_budget import CycleBudget
from bridge.poll_cadence import Cadence
from bridge.poll_reads import FULL_READ, PollSchedule, Read, item_row
from bridge.profile import Profiles
from bridge.router import notice, payload_of, route, told_unshowable
from bridge.store.records import ItemRow, Link, LinkStatus, MuteChange
from bridge.store.store import Store

log = logging.getLogger(__name__)

SITE_TTL = 300.0
# Seconds after a mark-read before a poll is sure to see what arrived up to it: Moodle
# returns a message only once its timecreated second has passed (observed 5f), plus margin.
HELD_BACK_MARGIN = 2.0
# Unexpected failures in a row (one person's poll, or whole cycles) before "degraded": a repeat is a stall.
DEGRADED_AFTER = 3
NOTICE_STRETCH = 2.0  # an idle person's notifications ceiling, in idle_interval


class Pipeline:
    """The polling loop that feeds the outbox."""

    def __init__(
        self,
        store: Store,
        api: LmsApi,
        intake: MessageIntake,
        notifications: NotificationIntake,
        actions: ItemActions,
        *,
        interval: float,
        idle_interval: float | None = None,
        concurrency: int = 8,
        max_in_flight: int = 64,
        sweep_every: float = 60.0,
        wake_dispatcher: Callable[[], None] = lambda: None,
        profiles: Profiles | None = None,
        metrics: Metrics | None = None,
        schedule: PollSchedule | None = None,
        on_dead_token: Callable[[list[Link]], Awaitable[None]] | None = None,
        share: IntakeShare | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.share = share  # with replicas: the people this one reads (None: everyone)
        # The quiet-hours digest is released by one replica only (the singleton "digest").
        self.releases_digests = True
        self.schedule = schedule
        self.on_dead_token = on_dead_token
        # One LMS read per person at a time: poll, push wake-up and the baseline linking takes.
        self._reading: dict[int, asyncio.Lock] = {}
        self.store = store
        self.api = api
        self.intake = intake
        self.legacy_intake = LegacyMessageIntake(api)
        self.notifications = notifications
        self.actions = actions
        self.interval = interval
        self.sweep_every = sweep_every
        self.wake_dispatcher = wake_dispatcher
        self.profiles = profiles or Profiles()
        self._limit = InFlightLimit(api.client, concurrency, max_in_flight)
        # Messages and notifications each come round at their own pace per person; an idle
        # person's notifications half as often as their messages (people expect a message
        # soon; an alert or task has days).
        ceiling = idle_interval if idle_interval is not None else interval
        self.message_cadence = Cadence(interval, ceiling)
        self.notice_cadence = Cadence(interval, ceiling * NOTICE_STRETCH)
        self._site: tuple[float, SiteInfo] | None = None
        self._site_fetch: asyncio.Future[SiteInfo] | None = None
        self._met: set[int] = set()  # people whose first cycle here has been planned
        self.budget = CycleBudget(self.metrics, interval, self.api.client.max_requests_per_second)
        self._last_sweep: dict[int, float] = {}
        self._read_regardless: dict[int, float] = {}
        self._unavailable: set[str] = set()  # functions the site's service lacks, already logged
        self._lms_switches = NotificationSwitches(notifications.api.notification_prefs)
        self.lms_down_since: float | None = None
        self.cycles = 0
        self.last_poll_at: float | None = None  # epoch seconds the last cycle ended
        self._failing: dict[int, int] = {}  # LMS user -> unexpected poll failures in a row
        self._cycles_failing = 0

    async def run(self) -> None:
        """Poll forever, one cycle per interval; no exception ends the loop."""
        while True:
            started = time.monotonic()
            try:
                await self.poll_once()
                self._cycles_failing = 0
            except Exception:
                self._cycles_failing += 1
                self.metrics.poll_failures.labels("cycle").inc()
                log.exception("poll cycle failed; the next one runs as usual")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def degraded(self) -> str | None:
        """Why polling is degraded (the same failure repeating), or None when it is not;
        for a readiness check."""
        if self._cycles_failing >= DEGRADED_AFTER:
            return f"the last {self._cycles_failing} poll cycles failed"
        stuck = sorted(uid for uid, n in self._failing.items() if n >= DEGRADED_AFTER)
        if stuck:
            return f"polling fails repeatedly for {len(stuck)} person(s) (LMS user {', '.join(map(str, stuck[:5]))})"
        return None

    async def poll_once(self) -> int:
        """One cycle over every linked person who is due; returns the number of deliveries queued."""
        started = time.monotonic()
        by_user: dict[int, list[Link]] = defaultdict(list)
        for link in await self.store.active_links():
            by_user[link.lms_user_id].append(link)
        if self.share is not None:
            mine = set(await self.share.mine(by_user))
            by_user = defaultdict(list, {uid: links for uid, links in by_user.items() if uid in mine})
        await self._meet([uid for uid in by_user if uid not in self._met])
        plan = {uid: what for uid in by_user if (what := self._due(uid)) is not None}
        self.budget.before(len(plan), sum(m + n for m, n in plan.values()))
        uids = list(plan)
        cursors = await self.store.cursors_of_users(uids)
        open_items = await self.store.open_items_of_users(uids)
        mutes = await self.store.group_mutes_of_users(uids)
        reads = {uid: Read(*plan[uid], cursors[uid], open_items[uid], mutes[uid]) for uid in uids}
        results = await asyncio.gather(*(self._guarded(uid, by_user[uid], reads[uid]) for uid in uids))
        if self.schedule is not None:
            for uid, found in zip(uids, results, strict=True):
                self.schedule.polled(uid, found)
        queued = sum(results) + (await self.release_held() if self.releases_digests else 0)
        self.budget.after(time.monotonic() - started, len(plan))
        self.cycles += 1
        self.last_poll_at = time.time()
        self.metrics.polls.inc()
        self.metrics.lms_up.set(0 if self.lms_down_since is not None else 1)
        if queued:
            self.wake_dispatcher()
        return queued

    async def _meet(self, lms_user_ids: list[int]) -> None:
        """People this process has not polled yet: those still without a baseline (linked
        but never read) are read at once; the others' first reads spread over their gap."""
        if not lms_user_ids:
            return
        baselined = await self.store.users_with_cursor(lms_user_ids, BASELINE)
        for uid in lms_user_ids:
            if uid not in baselined:
                self.message_cadence.active(uid)
                self.notice_cadence.active(uid)
        self._met.update(lms_user_ids)

    def _due(self, lms_user_id: int) -> tuple[bool, bool] | None:
        """What to read of the person this cycle: (messages, notifications), or None."""
        if self.schedule is not None and self.schedule.covers(lms_user_id):
            return (True, True) if self.schedule.due(lms_user_id) else None
        messages = self.message_cadence.due(lms_user_id)
        notes = self.notice_cadence.due(lms_user_id)
        return (messages, notes) if messages or notes else None

    async def site(self, token: str) -> SiteInfo:
        """Site info, asked once per site every few minutes (with whichever token comes first:
        what the pipeline reads of it, the site's functions and address, is the same for
        every token of the service)."""
        cached = self._site
        if cached and time.monotonic() - cached[0] < SITE_TTL:
            return cached[1]
        pending = self._site_fetch
        if pending is not None:  # a cycle's first people all ask at once: one asks the LMS
            with contextlib.suppress(Exception):
                return await asyncio.shield(pending)
            # It failed with another person's token (perhaps a dead one): ask with this one,
            # so that a failure is this person's own.
        fetch = asyncio.ensure_future(self.api.site_info(token))
        self._site_fetch = fetch
        try:
            info = await asyncio.shield(fetch)
        finally:
            if self._site_fetch is fetch:
                self._site_fetch = None
        self._site = (time.monotonic(), info)
        return info

    async def read_now(self, lms_user_id: int) -> int:
        """Read one person at once (a push woke them); returns deliveries queued."""
        links = await self.store.links_of_user(lms_user_id)
        if not links:
            return 0
        self.message_cadence.active(lms_user_id)
        queued = await self._guarded(lms_user_id, links)
        if queued:
            self.wake_dispatcher()
        return queued

    async def _guarded(self, lms_user_id: int, links: list[Link], read: Read = FULL_READ) -> int:
        async with self._turn(lms_user_id), self._limit:
            try:
                queued = await self.poll_user(lms_user_id, links, read)
            except LmsUnavailable as exc:
                if self.lms_down_since is None:
                    self.lms_down_since = time.monotonic()
                    log.warning("Pluto LMS unreachable (%s); will keep trying, nothing is skipped", exc)
                return 0
            except TokenRejected as exc:
                await self._token_rejected(links, exc)
                return 0
            except FunctionUnavailable as exc:
                # The site's configuration, not this person: said once, not every cycle.
                if exc.function not in self._unavailable:
                    self._unavailable.add(exc.function)
                    log.error("%s; polling cannot work until it does (see `pluto-bridge check`)", exc.message)
                return 0
            except LmsError as exc:
                log.warning("poll of LMS user %s failed: %s", lms_user_id, exc)
                return 0
            except Exception:
                # A bug or unexpected data for one person must not stop the others.
                self._failing[lms_user_id] = self._failing.get(lms_user_id, 0) + 1
                self.metrics.poll_failures.labels("person").inc()
                log.exception("poll of LMS user %s failed unexpectedly; the others go on", lms_user_id)
                return 0
        self._failing.pop(lms_user_id, None)
        if self.lms_down_since is not None:
            log.info("Pluto LMS reachable again after %.0fs", time.monotonic() - self.lms_down_since)
            self.lms_down_since = None
        return queued

    async def baseline(self, token: str, lms_user_id: int) -> None:
        """Mark everything already in the LMS as seen (taken when a person links).

        Linking and the first poll may both ask at once: taken once, as a second one read
        later would skip what arrived in between (and a "New sign in" it swallowed would
        leave the bridge's sign-in record unmatched)."""
        async with self._turn(lms_user_id):
            if BASELINE not in await self.store.cursors_of(lms_user_id):
                await self._take_baseline(token, lms_user_id)

    def _turn(self, lms_user_id: int) -> asyncio.Lock:
        return self._reading.setdefault(lms_user_id, asyncio.Lock())

    async def _take_baseline(self, token: str, lms_user_id: int) -> None:
        self.message_cadence.active(lms_user_id)  # just linked: read often for a while
        self.notice_cadence.active(lms_user_id)
        site = await self.site(token)
        batch = await self.intake.baseline(token, lms_user_id) if site.generation == "modern" else None
        cursors = dict(batch.cursors) if batch else {BASELINE: Cursor(0, frozenset())}
        if self._legacy_messages(site):
            cursors[LEGACY_MESSAGES] = await self.legacy_intake.baseline(token, lms_user_id)
        if "core_message_get_messages" in site.functions:
            cursors[NOTIFICATIONS] = await self.notifications.baseline(token, lms_user_id, site)
        mutes = await self.store.mute_change(lms_user_id, batch.groups_listed, batch.groups_muted) if batch else None
        await self.store.commit_intake(lms_user_id, cursors, [], batch.conversations if batch else (), mutes=mutes)

    async def poll_user(self, lms_user_id: int, links: list[Link], read: Read = FULL_READ) -> int:
        """Read what is new for one person and queue it; returns deliveries queued.

        ``read``: messages, notifications or both (both on push and sweeps), and what the
        cycle already loaded of the person."""
        token = links[-1].token  # the newest sign-in
        cursors = read.cursors if read.cursors is not None else await self.store.cursors_of(lms_user_id)
        if BASELINE not in cursors:
            # Linking may have just taken it: only the store knows (read under the person's turn).
            cursors = await self.store.cursors_of(lms_user_id)
            if BASELINE not in cursors:
                await self._take_baseline(token, lms_user_id)
                return 0
        site = await self.site(token)
        found: list[Item] = []
        new_cursors: dict[str, Cursor] = {}
        conversation_rows = []
        mutes: MuteChange | None = None
        if read.messages:
            self.message_cadence.read(lms_user_id)
            if site.generation == "modern":
                batch = await self.intake.poll(token, lms_user_id, cursors, sweep=self._sweep_due(lms_user_id))
                found += self._with_links(batch.items)
                new_cursors.update(batch.cursors)
                conversation_rows = batch.conversations
                mutes = await self.store.mute_change(
                    lms_user_id, batch.groups_listed, batch.groups_muted, read.group_mutes
                )
            elif self._legacy_messages(site):
                legacy_cursor = cursors.get(LEGACY_MESSAGES)
                if legacy_cursor is None:  # linked before the bridge read them: start from now
                    new_cursors[LEGACY_MESSAGES] = await self.legacy_intake.baseline(token, lms_user_id)
                else:
                    batch = await self.legacy_intake.poll(token, lms_user_id, legacy_cursor)
                    found += batch.items
                    new_cursors.update(batch.cursors)
                    conversation_rows = batch.conversations
            if found:
                self.message_cadence.active(lms_user_id)
        new_items: list[ItemRow] = []
        if read.notifications and "core_message_get_messages" in site.functions:
            self.notice_cadence.read(lms_user_id)
            notes = await self.notifications.poll(
                token, lms_user_id, site, cursors.get(NOTIFICATIONS, cursors[BASELINE])
            )
            if notes.items:
                self.notice_cadence.active(lms_user_id)
                # A sign-in recorded since the cycle loaded the cursors must be matched too.
                cursors = await self.store.cursors_of(lms_user_id)
            note_items, signins = drop_own(notes.items, cursors, time.time())
            if signins is not None:
                new_cursors[SIGNINS] = signins
            for item in note_items:
                item = dataclasses.replace(item, actions=buttons(item.kind, item.key, item.url, item.data))
                found.append(item)
                new_items.append(item_row(item))
            if notes.cursor != cursors.get(NOTIFICATIONS):
                new_cursors[NOTIFICATIONS] = notes.cursor
            open_items = read.open_items if read.open_items is not None else await self.store.open_items(lms_user_id)
            await self._upgrade(lms_user_id, open_items, notes.tasks, {i.key for i in notes.items})
            await self._reconcile(
                token, lms_user_id, site, open_items, notes.open_keys, notes.window_start, notes.lms_ids
            )
        if not new_cursors and not found and mutes is None:
            return 0
        if read.cursors is not None:
            # Another read of the person (a push) may have moved a cursor since the cycle
            # loaded them: never write one back (what both found is queued once, by key).
            stored = await self.store.cursors_of(lms_user_id)
            new_cursors = {
                scope: c if scope == SIGNINS else later(stored.get(scope), c) for scope, c in new_cursors.items()
            }
        preferences = await self.store.preferences_of(lms_user_id)
        if new_items and "core_message_get_user_notification_preferences" in site.functions:
            lms_prefs = await self._lms_switches.of(token, lms_user_id)
            lms_prefs.apply_to(preferences, pushed=self.schedule is not None and self.schedule.covers(lms_user_id))
        now = time.time()
        deliveries = []
        for item in found:
            try:
                deliveries += route(item, links, preferences, now)
            except Exception:
                # Only this item is lost; the person hears of it and the rest flows.
                self.metrics.poll_failures.labels("item").inc()
                log.exception("item %s of LMS user %s could not be routed", item.key, lms_user_id)
                payload = payload_of(item)
                site_url = self.api.client.base_url
                told = [told_unshowable(link, payload, "", site_url) for link in links if link.active]
                deliveries += [t for t in told if t is not None]
        return await self.store.commit_intake(lms_user_id, new_cursors, deliveries, conversation_rows, new_items, mutes)

    @staticmethod
    def _legacy_messages(site: SiteInfo) -> bool:
        """A site without conversations (Totara): personal messages come through the legacy
        ``core_message_get_messages`` (issue 11 bug 3)."""
        return site.generation == "legacy" and "core_message_get_messages" in site.functions

    def read_soon(self, lms_user_id: int) -> None:
        """The person's conversation was just marked read in the LMS: read their conversations
        at every poll, whatever the unread count says, until one poll has run late enough to
        see every message the marking may have hidden (the LMS holds back its current second)."""
        self._read_regardless[lms_user_id] = time.monotonic()
        self.message_cadence.active(lms_user_id)  # they are writing: read often for a while

    def _with_links(self, items: list[Item]) -> list[Item]:
        """Messages with where "Open in Pluto" leads, should one fail to show in chat."""
        base = self.api.client.base_url
        return [
            i if i.url else dataclasses.replace(i, url=f"{base}/message/index.php?convid={i.conversation_id}")
            for i in items
        ]

    def _sweep_due(self, lms_user_id: int) -> bool:
        """Whether this read of the conversations is a sweep (every conversation, whatever
        its unread count says) rather than of the changed ones only.

        No unread-count gate before the listing: the gate counts conversations, not
        messages, so it stayed open for anyone with an unread message delivered to chat
        (gate, listing and notifications every cycle: issue 19). The listing alone shows
        each conversation's latest message and unread count, which the intake compares with
        what it saw last: an idle person costs this one call either way."""
        now = time.monotonic()
        marked = self._read_regardless.get(lms_user_id)
        if marked is not None:
            if now - marked >= HELD_BACK_MARGIN:
                del self._read_regardless[lms_user_id]
            return True
        if now - self._last_sweep.get(lms_user_id, 0.0) >= self.sweep_every:
            self._last_sweep[lms_user_id] = now
            return True
        return False

    async def _upgrade(
        self, lms_user_id: int, open_items: list[ItemRow], tasks: dict[str, Item], new_keys: set[str]
    ) -> None:
        """Items an earlier read took for alerts that the task list now shows as tasks become
        tasks in place (never a second copy)."""
        if not tasks:
            return
        for stored in open_items:
            task = tasks.get(stored.item_key)
            if task is None or stored.kind == task.kind.value or stored.item_key in new_keys:
                continue
            task = dataclasses.replace(task, actions=buttons(task.kind, task.key, task.url, task.data))
            await self.actions.upgrade(lms_user_id, item_row(task), payload_of(task))

    async def _reconcile(
        self,
        token: str,
        lms_user_id: int,
        site: SiteInfo,
        open_items: list[ItemRow],
        open_keys: set[str],
        window_start: int,
        lms_ids: dict[str, int],
    ) -> None:
        """Items handled in the LMS itself (or expired) get their chat copies retired."""
        if not open_items:
            return
        still_open = set(open_keys)
        requests = [i for i in open_items if i.kind == ItemKind.CONTACT_REQUEST.value]
        if requests and "core_message_get_contact_requests" in site.functions:
            # Answering a request in the LMS leaves its notification unread: ask the requests.
            pending = await self.notifications.api.contact_requesters(token, lms_user_id)
            still_open -= {i.item_key for i in requests if int(i.data.get("requester") or 0) not in pending}
        for item in open_items:
            current = lms_ids.get(item.item_key)
            if current is not None and current != item.lms_id:
                await self.store.set_item_lms_id(lms_user_id, item.item_key, current)
        await self.actions.reconcile(lms_user_id, still_open, window_start)

    async def release_held(self, now: float | None = None) -> int:
        """Quiet hours over: one digest per person of what was held; returns digests queued."""
        return await release_held(self.store, time.time() if now is None else now)

    async def _token_rejected(self, links: list[Link], exc: TokenRejected) -> None:
        """Mark the links as needing a new sign-in and tell each person once."""
        if self.on_dead_token is not None:
            await self.on_dead_token(links)
        for link in links:
            if await self.store.set_link_status(
                link.id, LinkStatus.NEEDS_SIGNIN, f"the LMS rejected the token ({exc.errorcode})"
            ):
                log.warning(
                    "token of link %s rejected by the LMS (%s); waiting for a new sign-in",
                    link.id,
                    exc.errorcode,
                    extra=link_context(link),
                )
                profile = self.profiles[link.identity.platform]
                await self.store.enqueue([notice(link, notices.signin_lost(profile))])
        self.wake_dispatcher()
