"""The polling loop with group rooms: each cycle reads the linked group conversations once
(``bridge.rooms.intake``), then every due person as usual; their own reads leave the
linked groups out (``MessageIntake.skip``). With replicas each group is read by one of them
(``IntakeShare.groups``)."""

from __future__ import annotations

import logging
from typing import Any

from bridge.pipeline import Pipeline
from bridge.rooms.intake import RoomIntake

log = logging.getLogger(__name__)


class RoomsPipeline(Pipeline):
    """``Pipeline`` whose cycle starts with the linked groups."""

    def __init__(self, *args: Any, rooms: RoomIntake, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rooms = rooms
        self.intake.skip = lambda: rooms.linked

    async def poll_once(self) -> int:
        """One cycle: each linked group read once for everyone in it, then the people due."""
        try:
            rooms_queued = await self.rooms.poll_once(None if self.share is None else self.share.groups)
        except Exception:
            log.exception("reading the linked group conversations failed; the next cycle tries again")
            rooms_queued = 0
        if rooms_queued:
            self.wake_dispatcher()
        return rooms_queued + await super().poll_once()
