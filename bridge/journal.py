"""Chat events as JSON for the inbound journal, and back.

The journal keeps what a person did (who, where, the text, what they replied to) from the
moment the bridge has it until handling finished, so a crash in between loses nothing:
the event is resumed at the next start.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bridge.model import (
    ActionEvent,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    MessageEvent,
    Platform,
    RoomAddress,
    RoomChange,
    RoomEvent,
    SentRef,
)

KINDS: dict[str, type[ChatEvent]] = {
    cls.__name__: cls for cls in (ContactEvent, MessageEvent, CommandEvent, ActionEvent, RoomEvent)
}


def _room(data: dict[str, Any] | None) -> RoomAddress | None:
    return None if data is None else RoomAddress(**{**data, "platform": Platform(data["platform"])})


def event_to_json(event: ChatEvent) -> dict[str, Any]:
    """The event as plain JSON values, its type named."""
    data = dataclasses.asdict(event)
    data["identity"]["platform"] = event.identity.platform.value
    data["address"] = dict(event.address) if event.address is not None else None
    data["type"] = type(event).__name__
    for name in ("shared", "moved_to"):
        room = getattr(event, name, None)
        if isinstance(room, RoomAddress):
            data[name] = {**dataclasses.asdict(room), "platform": room.platform.value}
    if isinstance(event, RoomEvent):
        data["change"] = event.change.value
    return data


def event_from_json(data: dict[str, Any]) -> ChatEvent:
    """The event ``event_to_json`` wrote; ValueError for an unknown type."""
    fields = dict(data)
    kind = KINDS.get(str(fields.pop("type", "")))
    if kind is None:
        raise ValueError(f"unknown event type in the journal: {data.get('type')!r}")
    ident = fields["identity"]
    fields["identity"] = ChatIdentity(Platform(ident["platform"]), ident["workspace"], ident["user_id"])
    if fields.get("message") is not None:
        fields["message"] = SentRef(**fields["message"])
    for name in ("shared", "moved_to"):
        if name in fields:
            fields[name] = _room(fields[name])
    if "change" in fields:
        fields["change"] = RoomChange(fields["change"])
    known = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in fields.items() if k in known})
