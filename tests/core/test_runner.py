"""The inbound runner (bridge.inbound.runner): turns, journal before ack, failure answers.

The core here is a stand-in that records what it is handed and waits where a test says:
the runner is what is under test, and its contract with the core is one awaited call.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bridge.inbound.interaction import Interaction
from bridge.inbound.runner import Runner
from bridge.model import ChatEvent, ChatIdentity, MessageEvent, Platform, Reply
from bridge.notices import FAILED
from tests.support import until

ADA = ChatIdentity(Platform.TELEGRAM, "", "1")
BOB = ChatIdentity(Platform.TELEGRAM, "", "2")


def message(who: ChatIdentity, text: str) -> MessageEvent:
    return MessageEvent(
        identity=who, event_id=f"{who.user_id}-{text}", room=who.user_id, display_name="x", is_private=True, text=text
    )


@dataclass
class Core:
    """Records events; holds an event whose text is in ``gates`` until its gate opens."""

    handled: list[str] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    journalled: set[str] = field(default_factory=set)
    journal_gate: asyncio.Event | None = None
    fail_on: str = ""

    async def __call__(self, event: ChatEvent) -> Reply | None:
        assert isinstance(event, MessageEvent)
        if event.text in self.gates:
            await self.gates[event.text].wait()
        if event.text == self.fail_on:
            raise RuntimeError("the store went away")
        self.handled.append(event.text)
        return Reply(texts=(f"got {event.text}",))

    async def record(self, event: ChatEvent) -> bool:
        if self.journal_gate is not None:
            await self.journal_gate.wait()
        if event.event_id in self.journalled:
            return False
        self.journalled.add(event.event_id)
        return True


@dataclass
class Seen:
    """What the platform and the person saw, in order."""

    log: list[str] = field(default_factory=list)

    def interaction(self, event: ChatEvent, **kwargs: object) -> Interaction:
        async def ack() -> None:
            self.log.append(f"ack {event.event_id}")

        async def answer(reply: Reply | None) -> None:
            self.log.append(f"answer {reply.texts[0] if reply else None}")

        return Interaction(event, ack=ack, answer=answer, **kwargs)  # type: ignore[arg-type]


async def test_one_persons_events_wait_their_turn_while_others_go_ahead() -> None:
    core = Core(gates={"a1": asyncio.Event()})
    runner, seen = Runner.of(core), Seen()
    for event in (message(ADA, "a1"), message(ADA, "a2"), message(BOB, "b1")):
        await runner.submit(seen.interaction(event))
    await until(lambda: "answer got b1" in seen.log)
    assert core.handled == ["b1"]  # Ada's second line waits behind her first
    core.gates["a1"].set()
    await until(lambda: len(core.handled) == 3)
    assert core.handled == ["b1", "a1", "a2"]
    await until(lambda: runner.running() == 0)
    assert runner.waiting() == 0


async def test_a_resumed_event_goes_before_what_its_person_sends_later() -> None:
    core = Core(gates={"resumed": asyncio.Event()})
    runner, seen = Runner.of(core), Seen()
    runner.resume(ADA, functools.partial(core, message(ADA, "resumed")))
    for event in (message(ADA, "live"), message(BOB, "b1")):
        await runner.submit(seen.interaction(event))
    await until(lambda: "answer got b1" in seen.log)
    assert core.handled == ["b1"]  # Ada's live event waits behind her resumed one
    core.gates["resumed"].set()
    await until(lambda: len(core.handled) == 3)
    assert core.handled == ["b1", "resumed", "live"]
    await until(lambda: runner.running() == 0)
    assert runner.waiting() == 0


async def test_the_platform_is_acknowledged_only_after_the_journal_write() -> None:
    journal_gate = asyncio.Event()
    core = Core(journal_gate=journal_gate)
    runner, seen = Runner.of(core), Seen()
    submitted = asyncio.create_task(runner.submit(seen.interaction(message(ADA, "hi"))))
    await asyncio.sleep(0.05)
    assert seen.log == [] and not submitted.done()
    journal_gate.set()
    await submitted
    assert seen.log[0] == "ack 1-hi"
    await until(lambda: "answer got hi" in seen.log)


async def test_a_slow_journal_is_acknowledged_at_the_deadline_and_still_handled() -> None:
    journal_gate = asyncio.Event()
    core = Core(journal_gate=journal_gate)
    runner, seen = Runner.of(core), Seen()
    deadline = asyncio.get_running_loop().time() + 0.6
    await runner.submit(seen.interaction(message(ADA, "hi"), deadline=deadline))  # returns: acked
    assert seen.log == ["ack 1-hi"] and core.handled == []
    journal_gate.set()
    await until(lambda: core.handled == ["hi"])


async def test_a_repeat_is_acknowledged_and_dropped_with_nothing_to_show() -> None:
    core = Core()
    runner, seen = Runner.of(core), Seen()
    await runner.submit(seen.interaction(message(ADA, "hi")))
    await until(lambda: "answer got hi" in seen.log)
    await runner.submit(seen.interaction(message(ADA, "hi")))
    await until(lambda: runner.running() == 0)
    assert core.handled == ["hi"]
    assert seen.log == ["ack 1-hi", "answer got hi", "ack 1-hi", "answer None"]


async def test_a_repeat_of_an_event_still_being_handled_does_not_let_the_next_overtake_it() -> None:
    # Telegram redelivers an update whose answer it missed while the bridge still handles
    # it: the repeat is dropped at once, and what the person sends next waits all the same.
    core = Core(gates={"said once": asyncio.Event()})
    runner, seen = Runner.of(core), Seen()
    for event in (message(ADA, "said once"), message(ADA, "said once"), message(ADA, "and after that")):
        await runner.submit(seen.interaction(event))
    await until(lambda: "answer None" in seen.log)  # the repeat is done with
    await asyncio.sleep(0.05)
    assert core.handled == []
    core.gates["said once"].set()
    await until(lambda: len(core.handled) == 2)
    assert core.handled == ["said once", "and after that"]
    await until(lambda: runner.running() == 0)
    assert runner.waiting() == 0


async def test_when_the_core_fails_the_person_is_told_and_the_next_event_goes_on() -> None:
    core = Core(fail_on="boom")
    runner, seen = Runner.of(core), Seen()
    await runner.submit(seen.interaction(message(ADA, "boom")))
    await runner.submit(seen.interaction(message(ADA, "after")))
    await until(lambda: "answer got after" in seen.log)
    assert f"answer {FAILED}" in seen.log
    assert seen.log.index(f"answer {FAILED}") < seen.log.index("answer got after")


async def test_a_slow_answer_is_announced_late_then_given() -> None:
    core = Core(gates={"slow": asyncio.Event()})
    runner, seen = Runner.of(core), Seen()

    async def late() -> None:
        seen.log.append("late")
        core.gates["slow"].set()

    await runner.submit(seen.interaction(message(ADA, "slow"), answer_within=0.05, late=late))
    await until(lambda: "answer got slow" in seen.log)
    assert seen.log == ["ack 1-slow", "late", "answer got slow"]


async def test_stopping_one_platform_cancels_only_its_work() -> None:
    core = Core(gates={"held": asyncio.Event(), "other": asyncio.Event()})
    runner, seen = Runner.of(core), Seen()
    slack = ChatIdentity(Platform.SLACK, "T1", "U1")
    await runner.submit(seen.interaction(message(ADA, "held")))
    await runner.submit(seen.interaction(message(slack, "other")))
    await until(lambda: runner.running() == 2)
    await runner.stop(Platform.TELEGRAM)
    assert runner.running(Platform.TELEGRAM) == 0 and runner.running(Platform.SLACK) == 1
    core.gates["other"].set()
    await until(lambda: core.handled == ["other"])
    await runner.stop()


def test_runner_of_keeps_a_runner() -> None:
    runner = Runner.of(Core())
    same: Callable[[ChatEvent], Awaitable[Reply | None]] = runner
    assert Runner.of(same) is runner


async def test_a_place_taken_on_arrival_keeps_order_and_is_acknowledged_by_its_deadline() -> None:
    core = Core()
    runner, seen = Runner.of(core), Seen()
    acks: list[str] = []

    async def ack() -> None:
        acks.append("first")

    first = runner.place(ADA, ack, deadline=asyncio.get_running_loop().time() + 0.6)  # its lookups are slow
    await runner.submit(seen.interaction(message(ADA, "second")))
    await until(lambda: acks == ["first"])  # the platform is not kept waiting past its deadline
    assert core.handled == []  # the later event waits for the earlier one
    await runner.submit(seen.interaction(message(ADA, "first")), first)
    await until(lambda: core.handled == ["first", "second"])
    assert acks == ["first"]  # once


async def test_an_acknowledgement_the_platform_refuses_drops_the_event() -> None:
    core = Core()
    discarded: list[str] = []

    async def discard(event: ChatEvent) -> None:
        discarded.append(event.event_id)

    runner, seen = Runner(core, core.record, discard=discard), Seen()

    async def refused() -> bool:
        return False  # the interaction expired before it could be acknowledged

    await runner.submit(Interaction(message(ADA, "late"), ack=refused))
    await runner.submit(seen.interaction(message(ADA, "next")))
    await until(lambda: core.handled == ["next"])
    assert discarded == ["1-late"]  # closed in the journal: not resumed at the next start
