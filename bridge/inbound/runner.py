"""The inbound runner: each person's turn, the acknowledgement, the answer, the tasks.

Every adapter hands its events over as ``Interaction`` values (``submit``). The runner

1. takes the event's place in its person's queue at once, before anything is awaited, so
   one person's events are handled in the order they arrived while other people's go
   ahead in parallel (mautrix-go bridgev2's portal queue, keyed by person here);
2. has the core journal the event, then acknowledges the platform: after the journal
   write, or at the interaction's ``deadline`` at the latest (slack-bolt's "ack first");
   ``submit`` returns once acknowledged, so a webhook answers 200 only then;
3. in a tracked task, hands the event to the core in the person's turn and shows the
   reply; when the core fails, the person is told so instead of being left waiting.

Adapters show replies that go into the person's chat through ``deliver``: a front-of-lane
delivery, paced with the chat's queued deliveries and retried with the outbox's policy
(``bridge.retry``), so no adapter keeps a retry loop of its own. What must use the
platform's one-off response channel stays immediate (Slack's ``response_url``, Discord's
interaction follow-ups, Telegram's callback toast, Teams' invoke response).

A redelivery of an event the core has handled (or is handling) is acknowledged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from bridge.inbound.interaction import Interaction
from bridge.model import ChatEvent, ChatIdentity, Platform, Reply
from bridge.notices import failed_plain
from bridge.retry import AnswerDelivery

log = logging.getLogger(__name__)
_T = TypeVar("_T")

Core = Callable[[ChatEvent], Awaitable[Reply | None]]
Journal = Callable[[ChatEvent], Awaitable[bool]]
Discard = Callable[[ChatEvent], Awaitable[None]]
Ack = Callable[[], Awaitable[bool | None]]
ACK_MARGIN = 0.5  # seconds kept in hand before a platform's deadline (the network's share)


async def _nothing() -> None:
    return None


def failure_reply(event: ChatEvent) -> Reply:
    """What the person sees when the core failed on their event (plain words: valid in
    every platform's markup)."""
    return Reply(texts=(failed_plain(),))


class Runner:
    """Owns inbound ordering, acknowledgement, answers and task tracking for all adapters.

    ``core`` handles one event and returns the reply to show; ``journal`` (optional)
    records an event durably and returns False for a repeat; ``discard`` (optional) closes
    a journalled event the platform refused to have acknowledged; ``failure`` words the
    answer when ``core`` raised; ``answers`` sends what adapters ``deliver`` (the
    dispatcher's, in the bridge; unpaced but retried otherwise).
    """

    def __init__(
        self,
        core: Core,
        journal: Journal | None = None,
        failure: Callable[[ChatEvent], Reply] = failure_reply,
        discard: Discard | None = None,
        answers: AnswerDelivery | None = None,
    ) -> None:
        self.core = core
        self.answers = answers or AnswerDelivery()
        self.journal = journal
        self.discard = discard
        self.failure = failure
        self._tails: dict[ChatIdentity, asyncio.Future[None]] = {}
        self._tasks: dict[asyncio.Task[Any], Platform] = {}

    @classmethod
    def of(cls, sink: Core) -> Runner:
        """``sink`` itself when it is a runner; else a runner around it (its ``record``, if
        it has one, journals): a test's plain sink gets the same ordering and answers."""
        if isinstance(sink, Runner):
            return sink
        return cls(sink, getattr(sink, "record", None), discard=getattr(sink, "discard", None))

    async def deliver(self, identity: ChatIdentity, send: Callable[[], Awaitable[_T]]) -> _T | None:
        """Show one post of an answer in ``identity``'s chat: ``send()`` (raising the
        ``bridge.ports`` errors) as a front-of-lane delivery, paced and retried with the
        outbox's policy; None when it was given up (logged)."""
        return await self.answers.deliver(identity, send)

    async def __call__(self, event: ChatEvent) -> Reply | None:
        """The plain ``EventSink`` face, for adapters that still order and answer themselves."""
        return await self.core(event)

    async def record(self, event: ChatEvent) -> bool:
        """Journal ``event``; False for a repeat. A sink without a journal (a test's plain
        function) records nothing: every event counts as new."""
        return True if self.journal is None else bool(await self.journal(event))

    def place(
        self,
        identity: ChatIdentity,
        ack: Ack = _nothing,
        deadline: float | None = None,
    ) -> Place:
        """Take an event's place in ``identity``'s queue now, before the adapter awaits
        anything to build the event (a name lookup), so the person's order holds; the
        platform is acknowledged by ``deadline`` even if the event is not handed over by
        then. Hand the event over with ``submit(interaction, place)``, which then owns the
        place; an adapter that cannot build the event calls ``place.leave()``."""
        return Place(self, identity, ack, deadline)

    async def submit(self, interaction: Interaction, place: Place | None = None) -> None:
        """Queue the event in its person's turn (at ``place`` when taken earlier; its ack and
        deadline then count), journal it, acknowledge it; returns once acknowledged
        (handling goes on in a tracked task)."""
        event = interaction.event
        loop = asyncio.get_running_loop()
        if place is None:
            place = self.place(event.identity, interaction.ack, interaction.deadline)
        started = loop.time()
        journal = self._spawn(event.identity.platform, self._record(event))
        try:
            budget = None if place.deadline is None else max(0.0, place.deadline - ACK_MARGIN - started)
            await asyncio.wait({journal}, timeout=budget)
            if not journal.done():
                log.warning(
                    "%s event %s not journalled within %.1fs: acknowledged anyway",
                    event.identity.platform.value,
                    event.event_id,
                    loop.time() - started,
                )
            await place.ack()
        except BaseException:
            journal.cancel()
            place.leave()
            raise
        self._spawn(event.identity.platform, self._turn(interaction, journal, place))

    def resume(self, identity: ChatIdentity, work: Callable[[], Awaitable[object]]) -> asyncio.Task[None]:
        """Queue ``work`` (an event journalled by a process that died before finishing it) in
        ``identity``'s turn now, before anything is awaited: it runs after the person's
        earlier events and before any they send later, like a live event. Nothing is
        acknowledged (the platform was, before the crash). Returns its tracked task."""
        place = self.place(identity)
        return self._spawn(identity.platform, self._resumed(place, work))

    async def _resumed(self, place: Place, work: Callable[[], Awaitable[object]]) -> None:
        try:
            previous = place.previous
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            await work()
        finally:
            place.leave()

    async def _record(self, event: ChatEvent) -> bool:
        try:
            return await self.record(event)
        except Exception:
            # Handled anyway: the core journals on its own way in, and if the store is
            # down the person is told, rather than the event vanishing unanswered.
            log.exception("journalling %s event %s failed", event.identity.platform.value, event.event_id)
            return True

    async def _turn(
        self,
        interaction: Interaction,
        journal: asyncio.Task[bool],
        place: Place,
    ) -> None:
        event = interaction.event
        try:
            if not await journal:
                log.debug("dropping repeated event %s %s", event.identity.platform.value, event.event_id)
                await self._answer(interaction, None)  # nothing to show; a spinner may stop
                return
            if place.refused:
                log.info("%s refused the acknowledgement of event %s: dropped", event.identity, event.event_id)
                if self.discard is not None:
                    await self.discard(event)
                return
            previous = place.previous
            if previous is not None and not previous.done():
                await asyncio.wait({previous})  # waiting never cancels the earlier event
            await self._answer(interaction, await self._handle(interaction))
        finally:
            place.leave()

    async def _answer(self, interaction: Interaction, reply: Reply | None) -> None:
        try:
            await interaction.answer(reply)
        except Exception:
            log.exception("answering %s event %s failed", interaction.event.identity, interaction.event.event_id)

    async def _handle(self, interaction: Interaction) -> Reply | None:
        """The core's reply; ``late`` first when it takes longer than ``answer_within``."""
        event = interaction.event
        call = asyncio.ensure_future(self.core(event))
        try:
            if interaction.late is not None and interaction.answer_within is not None:
                await asyncio.wait({call}, timeout=interaction.answer_within)
                if not call.done():
                    try:
                        await interaction.late()
                    except Exception:
                        log.exception("telling %s to wait failed", event.identity)
            return await call
        except Exception:
            log.exception("the core failed on %s event %s", event.identity.platform.value, event.event_id)
            return self.failure(event)
        finally:
            if not call.done():
                call.cancel()
                with contextlib.suppress(BaseException):
                    await call

    def _spawn(self, platform: Platform, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=f"inbound {platform.value}")
        self._tasks[task] = platform
        task.add_done_callback(self._tasks.pop)
        return task

    def running(self, platform: Platform | None = None) -> int:
        """How many inbound tasks are running (of ``platform``, or of all)."""
        return sum(1 for p in self._tasks.values() if platform is None or p is platform)

    def waiting(self) -> int:
        """How many people have events queued or being handled."""
        return len(self._tails)

    async def stop(self, platform: Platform | None = None) -> None:
        """Cancel the inbound work of ``platform`` (or all) and wait for it; safe twice. An
        event cancelled before it finished stays journalled and is resumed at next start."""
        current = asyncio.current_task()
        tasks = [t for t, p in self._tasks.items() if t is not current and (platform is None or p is platform)]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class Place:
    """One event's place in its person's queue, and the platform's acknowledgement, which
    happens once: after the journal write, or by ``deadline`` (loop time) at the latest."""

    def __init__(
        self,
        runner: Runner,
        identity: ChatIdentity,
        ack: Ack,
        deadline: float | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._runner = runner
        self.identity = identity
        self.previous = runner._tails.get(identity)
        self._mine: asyncio.Future[None] = loop.create_future()
        runner._tails[identity] = self._mine  # before any await: the order of arrival
        self._ack = ack
        self._acked = False
        self.refused = False  # the platform would not take the acknowledgement
        self.deadline = deadline
        self._timer = None if deadline is None else loop.call_at(deadline - ACK_MARGIN, self._ack_soon)

    def _ack_soon(self) -> None:
        if not self._acked:
            log.warning("%s: event not handed over in time; acknowledged at the deadline", self.identity)
            self._runner._spawn(self.identity.platform, self.ack())

    async def ack(self) -> None:
        """Acknowledge the platform, once."""
        if self._acked:
            return
        self._acked = True
        if self._timer is not None:
            self._timer.cancel()
        try:
            self.refused = await self._ack() is False
        except Exception:
            log.exception("acknowledging an event of %s failed", self.identity)

    def leave(self) -> None:
        """Let the person's next event go once the events ahead of this one are done (an
        event that went nowhere is still acknowledged); safe to call more than once."""
        if not self._acked:
            self._runner._spawn(self.identity.platform, self.ack())
        previous = self.previous
        if previous is not None and not previous.done():
            # Left early (a repeat dropped, an acknowledgement refused) while the event ahead
            # is still handled: the next one waits for that, or it would overtake it.
            previous.add_done_callback(lambda _: self._release())
        else:
            self._release()

    def _release(self) -> None:
        if not self._mine.done():
            self._mine.set_result(None)
        if self._runner._tails.get(self.identity) is self._mine:
            del self._runner._tails[self.identity]  # idle people cost nothing
