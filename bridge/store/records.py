"""Rows the store hands to the core, as immutable values."""

# Cursor and ConversationInfo are re-exported: they live in the model, the LMS side makes them.

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.model import ChatIdentity, ConversationInfo, Cursor, Destination, Platform, RoomAddress

__all__ = [
    "ConversationInfo",
    "Cursor",
    "Delivery",
    "DeliveryStatus",
    "ItemRow",
    "Link",
    "LinkStatus",
    "MapEntry",
    "NewDelivery",
    "RoomLink",
    "RoomStatus",
    "room_target",
]


class LinkStatus(StrEnum):
    """Where a link stands; the values are what the ``links.status`` column holds."""

    ACTIVE = "active"
    NEEDS_SIGNIN = "needs_signin"  # the LMS rejected the token: the person signs in again
    INACTIVE = "inactive"  # the chat platform says the person cannot be reached


class DeliveryStatus(StrEnum):
    """Where a delivery stands; the values are what the ``outbox.status`` column holds."""

    PENDING = "pending"  # queued for its lane
    HELD = "held"  # quiet hours: waits for the digest
    SENDING = "sending"  # a send began (after a crash, looked for on the platform first)
    SENT = "sent"
    DEAD = "dead"  # given up
    DIGESTED = "digested"  # went out listed in a digest instead
    DROPPED = "dropped"  # given up by the operator


@dataclass(frozen=True, slots=True)
class Link:
    """A verified pair LMS user <-> chat identity. ``token`` is decrypted and never printed."""

    id: int
    identity: ChatIdentity
    lms_user_id: int
    lms_username: str
    lms_fullname: str
    status: LinkStatus
    status_reason: str
    room: str | None
    address: dict[str, Any] | None
    current_conversation_id: int | None
    current_peer_id: int | None
    created_at: int
    token: str = field(repr=False)
    origin: str = ""  # how and from where the link was made (sign-in page and address, import)

    @property
    def active(self) -> bool:
        return self.status == LinkStatus.ACTIVE

    @property
    def destination(self) -> Destination:
        return Destination(self.identity, self.room, self.address)


@dataclass(frozen=True, slots=True)
class MuteChange:
    """Groups one person has newly muted, and newly unmuted, in Pluto (``group_mutes``)."""

    muted: frozenset[int] = frozenset()
    unmuted: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery the router creates: one item to one link. With ``held_until`` it waits
    (quiet hours) and goes out in a digest."""

    item_key: str
    link_id: int
    platform: Platform
    lane: str
    payload: dict[str, Any]
    held_until: float | None = None


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An alert, task or contact request the bridge tracks until it is handled."""

    item_key: str
    kind: str
    subject: str
    url: str | None
    html: str
    created: int
    lms_id: int | None
    data: dict[str, Any]
    short_id: int = 0
    status: str = "open"
    outcome: str = ""
    lms_user_id: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox row as the dispatcher works on it."""

    id: int
    item_key: str
    link_id: int
    platform: Platform
    lane: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    last_error: str
    refs: list[dict[str, Any]]
    failing_since: float | None = None  # first transient failure in a row, if failing
    sending_at: float | None = None  # status "sending": when the send began

    @property
    def room_link_id(self) -> int | None:
        """The room link this delivery posts into (a room delivery), else None."""
        return -self.link_id if self.link_id < 0 else None


@dataclass(frozen=True, slots=True)
class MapEntry:
    """One chat message the bridge sent, and the LMS item it carried."""

    item_key: str
    link_id: int
    lms_user_id: int
    conversation_id: int | None
    platform: Platform
    workspace: str
    room: str
    remote_id: str
    thread: str | None


def room_target(room_link_id: int) -> int:
    """The ``link_id`` a room delivery carries: the room link's id, negated, so room posts
    share the outbox (lanes, retries, pacing, recovery) without a person's link."""
    return -room_link_id


class RoomStatus(StrEnum):
    """Where a room link stands; the values are what ``room_links.status`` holds."""

    CHOOSING = "choosing"  # the linker was shown their group conversations
    CONFIRMING = "confirming"  # picked; people who are not Pluto members are in the room
    ACTIVE = "active"
    PAUSED = "paused"  # bot removed, room archived, group gone, linker unlinked: ``reason``


@dataclass(frozen=True, slots=True)
class RoomLink:
    """A shared chat room linked (or being linked) to an LMS group conversation.

    ``cursor`` is how far the room has received the group's messages; ``reader`` the LMS
    user whose token reads the group (None: the linker)."""

    id: int
    room: RoomAddress
    conversation_id: int | None
    conversation_name: str
    linker_lms_user_id: int
    linker: ChatIdentity
    reader_lms_user_id: int | None
    status: RoomStatus
    reason: str
    paused_at: float | None
    created_at: float
    cursor: Cursor

    @property
    def lane(self) -> str:
        """The outbox lane of the room's posts: in order, paced as one room."""
        return f"room|{self.room.key}"
