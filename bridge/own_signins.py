"""The "New sign in" notifications the bridge's own sign-ins cause, kept out of chat.

Every ``login/token.php`` call makes Moodle queue a ``moodle/newlogin`` notification that
cron sends later, possibly minutes later and in a batch (moodle-4.5-observed.md item 20):
without this, a person's first message after linking would be "New sign in to your
account". The bridge records when it signed in for a person; the first ``newlogin``
notification created at or after that time (less a margin for the two clocks) is that
sign-in's, and is not relayed. Each record matches one notification, and expires.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from bridge.model import Cursor, Item
from bridge.store.store import Store

SIGNINS = "signins"  # cursor scope: seen_ids holds the sign-in times still to be matched
CLOCK_MARGIN = 300  # seconds the LMS's clock may be behind the bridge's
# A sign-in whose notification never came (notifications off, or sent before the baseline
# was read) is forgotten after this long, so it cannot swallow a later, real one for long.
KEEP = 3600


def is_new_login(item: Item) -> bool:
    """Moodle's "New sign in to your account" notification."""
    return item.data.get("component") == "moodle" and item.data.get("eventtype") == "newlogin"


def pending(cursors: Mapping[str, Cursor], now: float) -> set[int]:
    """The bridge's sign-ins whose notification has not been seen yet."""
    cursor = cursors.get(SIGNINS)
    return {t for t in cursor.seen_ids if t >= now - KEEP} if cursor else set()


def as_cursor(signins: set[int]) -> Cursor:
    return Cursor(max(signins, default=0), frozenset(signins))


async def record_signin(store: Store, lms_user_id: int, when: float | None = None) -> None:
    """The bridge just signed in to the LMS as this person."""
    now = time.time() if when is None else when
    signins = pending(await store.cursors_of(lms_user_id), now) | {int(now)}
    await store.commit_intake(lms_user_id, {SIGNINS: as_cursor(signins)}, [])


def drop_own(items: list[Item], cursors: Mapping[str, Cursor], now: float) -> tuple[list[Item], Cursor | None]:
    """``items`` without the notifications the bridge's own sign-ins caused, and the
    sign-in record after matching (None when unchanged)."""
    signins = pending(cursors, now)
    if not signins:
        return items, None
    kept: list[Item] = []
    for item in items:
        match = min((t for t in signins if t - CLOCK_MARGIN <= item.time), default=None) if is_new_login(item) else None
        if match is None:
            kept.append(item)
        else:
            signins.discard(match)
    changed = cursors.get(SIGNINS) is not None and frozenset(signins) != cursors[SIGNINS].seen_ids
    return kept, as_cursor(signins) if changed else None
