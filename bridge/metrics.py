"""Prometheus metrics (prometheus-client), served at ``/metrics``.

A registry per bridge instance, so tests and the demo can run several in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """The bridge's counters and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "pluto_bridge_deliveries",
            "Deliveries by platform and outcome (sent, retry, dead)",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "pluto_bridge_inbound_events",
            "Chat events by platform and kind",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.polls = Counter("pluto_bridge_poll_cycles", "LMS poll cycles completed", registry=self.registry)
        self.poll_failures = Counter(
            "pluto_bridge_poll_failures",
            "Unexpected failures while polling, by scope (cycle, person, item)",
            ["scope"],
            registry=self.registry,
        )
        self.lms_up = Gauge(
            "pluto_bridge_lms_up", "1 while the LMS answers, 0 while it does not", registry=self.registry
        )
        self.lms_up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
