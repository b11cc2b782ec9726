"""LMS to chat: poll every linked person, route what is new, queue it with the cursor.

Per person and cycle: a cheap unread-count gate (with a periodic full sweep, because
counts miss messages read in the LMS before the bridge saw them), then the changed
conversations, then their messages from the stored watermark. Deliveries and the new
cursors are written in one transaction, so nothing intake has seen can be skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable

from bridge.lms.api import LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable, TokenRejected
from bridge.lms.intake import BASELINE, MessageIntake
from bridge.render import escape
from bridge.router import notice, route
from bridge.store.records import Link
from bridge.store.store import Store

log = logging.getLogger(__name__)


class Pipeline:
    """The polling loop that feeds the outbox."""

    def __init__(
        self,
        store: Store,
        api: LmsApi,
        intake: MessageIntake,
        *,
        interval: float,
        concurrency: int = 8,
        sweep_every: float = 60.0,
        wake_dispatcher: Callable[[], None] = lambda: None,
        link_hint: Callable[[Link], str] = lambda link: "link",
    ) -> None:
        self.store = store
        self.api = api
        self.intake = intake
        self.interval = interval
        self.sweep_every = sweep_every
        self.wake_dispatcher = wake_dispatcher
        self.link_hint = link_hint
        self._limit = asyncio.Semaphore(concurrency)
        self._last_sweep: dict[int, float] = {}
        self.lms_down_since: float | None = None
        self.cycles = 0

    async def run(self) -> None:
        """Poll forever, one cycle per interval."""
        while True:
            started = time.monotonic()
            await self.poll_once()
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def poll_once(self) -> int:
        """One cycle over every linked person; returns the number of deliveries queued."""
        by_user: dict[int, list[Link]] = defaultdict(list)
        for link in await self.store.active_links():
            by_user[link.lms_user_id].append(link)
        results = await asyncio.gather(*(self._guarded(uid, links) for uid, links in by_user.items()))
        self.cycles += 1
        queued = sum(results)
        if queued:
            self.wake_dispatcher()
        return queued

    async def _guarded(self, lms_user_id: int, links: list[Link]) -> int:
        async with self._limit:
            try:
                queued = await self.poll_user(lms_user_id, links)
            except LmsUnavailable as exc:
                if self.lms_down_since is None:
                    self.lms_down_since = time.monotonic()
                    log.warning("Pluto LMS unreachable (%s); will keep trying, nothing is skipped", exc)
                return 0
            except TokenRejected as exc:
                await self._token_rejected(links, exc)
                return 0
            except LmsError as exc:
                log.warning("poll of LMS user %s failed: %s", lms_user_id, exc)
                return 0
        if self.lms_down_since is not None:
            log.info("Pluto LMS reachable again after %.0fs", time.monotonic() - self.lms_down_since)
            self.lms_down_since = None
        return queued

    async def poll_user(self, lms_user_id: int, links: list[Link]) -> int:
        """Read what is new for one person and queue it; returns deliveries queued."""
        token = links[-1].token  # the newest sign-in
        cursors = await self.store.cursors_of(lms_user_id)
        if BASELINE not in cursors:
            batch = await self.intake.baseline(token, lms_user_id)
            await self.store.commit_intake(lms_user_id, batch.cursors, [], batch.conversations)
            return 0
        now = time.monotonic()
        sweep_due = now - self._last_sweep.get(lms_user_id, 0.0) >= self.sweep_every
        if not sweep_due and await self.api.unread_conversation_total(token, lms_user_id) == 0:
            return 0
        batch = await self.intake.poll(token, lms_user_id, cursors)
        self._last_sweep[lms_user_id] = now
        if not batch.cursors:
            return 0
        preferences = await self.store.preferences_of(lms_user_id)
        deliveries = [d for item in batch.items for d in route(item, links, preferences)]
        return await self.store.commit_intake(lms_user_id, batch.cursors, deliveries, batch.conversations)

    async def _token_rejected(self, links: list[Link], exc: TokenRejected) -> None:
        """Mark the links as needing a new sign-in and tell each person once."""
        for link in links:
            if await self.store.set_link_status(link.id, "needs_signin", f"the LMS rejected the token ({exc.errorcode})"):
                log.warning("token of link %s rejected by the LMS (%s); waiting for a new sign-in", link.id, exc.errorcode)
                hint = escape(self.link_hint(link))
                await self.store.enqueue(
                    [
                        notice(
                            link,
                            "<p>Your Pluto sign-in no longer works (it was revoked or expired), so messages "
                            f"are paused. Send <code>{hint}</code> to sign in again.</p>",
                        )
                    ]
                )
        self.wake_dispatcher()
