"""The contract every chat-platform adapter fulfils.

An adapter translates between one platform and the core's vocabulary (``bridge.model``)
and nothing more: it never calls the LMS and never touches the store. Inbound, it turns
platform events into ``ChatEvent`` values and hands them to the ``EventSink`` the core
gave it at start; outbound, it sends, edits and deletes ``Post`` values the core has
already rendered in the adapter's markup and cut to its length limit.

Failures are reported with the exceptions below, so the dispatcher can decide between
retrying later, honouring a platform's retry-after, and giving up with a reason.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.model import (
    Capabilities,
    ChatEvent,
    ChatIdentity,
    Destination,
    Platform,
    Post,
    Reply,
    RoomAddress,
    SentRef,
)

EventSink = Callable[[ChatEvent], Awaitable[Reply | None]]
"""The core's entry point for inbound events, handed to ``Adapter.start``. Adapters wrap it
in ``bridge.inbound.runner.Runner.of`` and submit each event as an ``Interaction``: the
runner owns the person's turn, journals the event before the platform is acknowledged and
shows the answer (or a failure answer)."""


class DeliveryError(Exception):
    """Base of every send/edit failure an adapter reports."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(DeliveryError):
    """The platform said "too fast" for this room (or overall, with ``scope_all``).
    ``given``: the platform named the wait; when False, ``retry_after`` is the adapter's
    first guess and the core doubles it while the room stays throttled."""

    def __init__(
        self, retry_after: float, reason: str = "rate limited", *, scope_all: bool = False, given: bool = True
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.scope_all = scope_all
        self.given = given

    def wait(self, streak: int) -> float:
        """Seconds to wait after the ``streak``-th 429 in a row: the platform's wait, or the
        guess doubled per 429 (exponential back-off)."""
        return self.retry_after if self.given else self.retry_after * 2 ** (streak - 1)


class TransientError(DeliveryError):
    """Worth retrying with back-off: time-outs, connection errors, 5xx. ``retry_after``:
    the least wait the platform asked for (0: none), honoured on top of the back-off."""

    def __init__(self, reason: str, *, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying the same post will not help (bad request, message too long, not found)."""


class RecipientUnreachable(PermanentError):
    """The person cannot be reached any more (blocked the bot, app uninstalled, DMs
    closed). The core marks their link inactive and stops their deliveries."""


class RoomUnavailable(PermanentError):
    """The bot cannot post into a shared room any more (removed, room deleted or
    archived). The core pauses the room's link with ``reason`` and keeps its messages."""


class Adapter(abc.ABC):
    """One chat platform behind the core's small interface."""

    platform: Platform
    capabilities: Capabilities

    @abc.abstractmethod
    async def start(self, sink: EventSink) -> None:
        """Connect (polling, gateway, socket or webhook routes) and begin feeding events
        to ``sink``. Returns once the adapter is ready to send."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and release every resource; safe to call twice."""

    @abc.abstractmethod
    async def send(self, dest: Destination, post: Post) -> SentRef:
        """Send one post to a person's private chat with the bot."""

    @abc.abstractmethod
    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """Replace the text and actions of a post sent earlier (retiring its buttons).
        ``dest`` is the person it was sent to: the workspace token (Slack) and the stored
        address (Teams ``serviceUrl``) come from it."""

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """Delete a post sent earlier. Platforms that cannot delete raise PermanentError."""
        raise PermanentError(f"{self.platform.value} adapter cannot delete messages")

    async def find_sent(self, dest: Destination, post: Post, since: float) -> SentRef | None:
        """A post with this content the bot sent to ``dest`` since ``since`` (Unix time), if
        the platform can say (its history): after a crash between a send and its record, the
        core resends only what is not there. None where the platform cannot tell."""
        return None

    async def health_problem(self) -> str | None:
        """None while the adapter can send and receive; else what is wrong, in a few words
        (``/readyz`` and ``pluto-bridge status`` show it). Webhook-only platforms are ready
        once started."""
        return None

    def web_routes(self) -> list[web.RouteDef]:
        """Routes this adapter serves on the bridge's one web server (Slack events,
        Telegram webhook, Teams ``/api/messages``). Called once, before ``start``."""
        return []

    async def profile_email(self, identity: ChatIdentity) -> str | None:
        """The person's email address as the platform knows it (Slack's profile), so the
        sign-in page can suggest their Pluto account; None where the platform does not
        share one. A suggestion only: linking still needs the person's own sign-in."""
        return None

    def bot_link(self, code: str) -> str | None:
        """A link that opens the bot with a linking code (Telegram deep link), if the
        platform has such links; otherwise None and the person types ``link CODE``."""
        return None

    # --- shared rooms (group rooms) -------------------------------------------------
    # An adapter whose ``capabilities.rooms`` is True implements these; the defaults say
    # "this platform has no rooms", so the core never links one there. Like mautrix
    # bridgev2's NetworkAPI, each call is one platform request or a cached answer, and the
    # core decides what it means.

    async def send_to_room(self, room: RoomAddress, post: Post, author: str) -> SentRef:
        """Post into a shared room on behalf of ``author`` (a Pluto person's name): shown
        as the sender where the platform allows (Slack ``username``, a Discord webhook),
        else as a header line. Mentions stay inert. Failures as for ``send``; the room
        gone or the bot out of it raises ``RoomUnavailable``."""
        raise PermanentError(f"{self.platform.value} adapter has no rooms")

    async def tell_in_room(self, room: RoomAddress, identity: ChatIdentity, post: Post) -> bool:
        """Show ``post`` to ``identity`` alone, inside ``room`` (Slack and Discord ephemeral
        messages). False where the platform cannot: the core then writes to the person's
        private chat with the bot instead."""
        return False

    async def room_members(self, room: RoomAddress) -> list[ChatIdentity] | None:
        """The people in ``room`` (bots left out), or None where the platform cannot list
        them to a bot (Telegram): the member report then says it could not check."""
        return None

    async def room_member_names(self, room: RoomAddress) -> dict[str, str]:
        """The names the platform gave with ``room_members`` (chat user id -> display
        name), for the member report where ids mean nothing to people (Discord's numeric
        ids); empty where the ids are all there is."""
        return {}

    async def can_manage(self, room: RoomAddress, identity: ChatIdentity) -> bool | None:
        """Whether ``identity`` may link ``room`` (Telegram administrator, Discord Manage
        Channels, Teams team owner or group-chat member, Slack channel member); None where
        the platform cannot say (the core then lets the LMS membership check decide)."""
        return None

    async def room_problem(self, room: RoomAddress) -> str | None:
        """None while the bot can post into ``room``; else why not, in a few words ("the
        bot was removed", "the channel is archived"). The core pauses the room's link."""
        return None

    async def room_notes(self, room: RoomAddress) -> tuple[str, ...]:
        """Plain-text facts the linker should know about ``room`` (``room status`` shows
        them): Telegram's privacy mode and how to turn it off, missing consent in Teams."""
        return ()
