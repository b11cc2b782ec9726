"""Room events survive the inbound journal (a crash between receipt and handling): the
room's address, the change and a moved room's new address come back as they were."""

from __future__ import annotations

from bridge.journal import event_from_json, event_to_json
from bridge.model import ChatIdentity, MessageEvent, Platform, RoomAddress, RoomChange, RoomEvent

ROOM = RoomAddress(Platform.TELEGRAM, "", "-100", name="Cohort A")
SAM = ChatIdentity(Platform.TELEGRAM, "", "7")


def test_room_events_round_trip_through_the_journal() -> None:
    moved = RoomEvent(
        SAM,
        "501",
        "-100",
        is_private=False,
        shared=ROOM,
        change=RoomChange.MOVED,
        moved_to=RoomAddress(Platform.TELEGRAM, "", "-1009"),
    )
    said = MessageEvent(SAM, "502", "-100", is_private=False, shared=ROOM, text="hi", reply_to="12")
    for event in (moved, said):
        assert event_from_json(event_to_json(event)) == event
