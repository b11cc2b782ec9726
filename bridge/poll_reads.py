"""What one poll read of a person covers, who the regular poll reads, and an LMS item as
the store keeps it: the pipeline's small vocabulary."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from bridge.model import Cursor, Item
from bridge.store.records import ItemRow


def item_row(item: Item) -> ItemRow:
    """The store's row for an item intake found."""
    return ItemRow(
        item_key=item.key,
        kind=item.kind.value,
        subject=item.subject,
        url=item.url,
        html=item.html,
        created=item.time,
        lms_id=item.lms_id,
        data=dict(item.data),
    )


class PollSchedule(Protocol):
    """Who the regular poll reads (push: only people whose pushes do not arrive, plus a sweep)."""

    def covers(self, lms_user_id: int) -> bool:
        """Whether pushes cover this person now (read on push plus the schedule's sweep)."""
        ...

    def due(self, lms_user_id: int) -> bool: ...

    def polled(self, lms_user_id: int, queued: int) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Read:
    """What one read of a person covers, and their intake state where the cycle loaded it
    with everyone else's (None: read from the store)."""

    messages: bool = True
    notifications: bool = True
    cursors: dict[str, Cursor] | None = None
    open_items: list[ItemRow] | None = None
    group_mutes: frozenset[int] | None = None


FULL_READ = Read()
