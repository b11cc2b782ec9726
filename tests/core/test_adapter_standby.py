"""A singleton platform's adapter on a replica not elected for it: not started, shown as
standby (ready), started once elected (issue 20)."""

from __future__ import annotations

from bridge.metrics import Metrics
from bridge.model import ChatEvent, Platform, Reply
from bridge.ports import EventSink
from bridge.starts import AdapterStarts
from tests.core.test_outbox import StandInPlatform


class Counted(StandInPlatform):
    """Counts its starts (a polling connection opened)."""

    starts = 0

    async def start(self, sink: EventSink) -> None:
        self.starts += 1


async def no_events(event: ChatEvent) -> Reply | None:
    return None


async def test_a_standby_adapter_waits_for_its_election() -> None:
    adapter = Counted()
    starts = AdapterStarts({Platform.TELEGRAM: adapter}, no_events, standby={Platform.TELEGRAM})
    await starts.start()
    assert adapter.starts == 0  # another replica holds the connection
    said = await starts.state(Platform.TELEGRAM)
    assert said.startswith("standby")
    metrics = Metrics()
    metrics.set_adapter_states({"telegram": said})
    assert metrics.adapter_state.labels("telegram", "standby")._value.get() == 1  # not "failing"

    await starts.start_one(Platform.TELEGRAM)  # elected
    assert adapter.starts == 1
    assert await starts.state(Platform.TELEGRAM) == "connected"
    await starts.stop()
