"""The "New sign in" notifications the bridge's own sign-ins cause (moodle-4.5-observed.md item 20)."""

from __future__ import annotations

from bridge.model import Cursor, Item, ItemKind
from bridge.own_signins import CLOCK_MARGIN, KEEP, SIGNINS, drop_own

T = 1_800_000_000


def note(key: str, time: int, eventtype: str = "newlogin") -> Item:
    return Item(key, ItemKind.ALERT, 4, "<p>x</p>", time, data={"component": "moodle", "eventtype": eventtype})


def signed_in(*times: int) -> dict[str, Cursor]:
    return {SIGNINS: Cursor(max(times), frozenset(times))}


def test_one_notification_per_sign_in_the_rest_are_relayed() -> None:
    items = [note("a", T + 120), note("b", T + 120), note("c", T + 130, "posts")]
    kept, cursor = drop_own(items, signed_in(T), now=T + 200)
    assert [i.key for i in kept] == ["b", "c"]  # a second sign-in (the app, say) is news
    assert cursor == Cursor(0, frozenset())


def test_the_lms_clock_may_lag_but_a_notification_before_the_sign_in_is_not_its() -> None:
    kept, _ = drop_own([note("late-clock", T - CLOCK_MARGIN + 1)], signed_in(T), now=T + 10)
    assert kept == []
    kept, cursor = drop_own([note("older", T - CLOCK_MARGIN - 1)], signed_in(T), now=T + 10)
    assert [i.key for i in kept] == ["older"] and cursor is None


def test_without_a_sign_in_record_everything_is_relayed_and_old_records_expire() -> None:
    items = [note("a", T)]
    assert drop_own(items, {}, now=T) == (items, None)
    kept, cursor = drop_own(items, signed_in(T - KEEP - 10), now=T)
    assert kept == items and cursor is None
