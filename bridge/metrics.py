"""Prometheus metrics (prometheus-client), served at ``/metrics``.

A registry per bridge instance, so tests and the demo can run several in one process. One
``Metrics`` object is made by the bridge and handed to every part (pipeline, dispatcher,
inbound, LMS client); the gauges read from the store (backlog, dead deliveries, links) are
set by ``refresh`` just before each scrape.

Series (all prefixed ``pluto_bridge_``):

- ``poll_cycles_total``: LMS poll cycles completed.
- ``lms_up``: 1 while the LMS answers, 0 while it does not.
- ``lms_calls_total{function, outcome}``: web-service calls; outcome ``ok``, ``error`` (the LMS
  answered with an error) or ``unreachable``.
- ``lms_call_seconds{function}``: latency of those calls (histogram).
- ``deliveries_total{platform, outcome}``: delivery attempts (sent, retry, rate_limited, dead).
- ``delivery_latency_seconds{platform}``: from the item's time in the LMS to the chat
  platform's acknowledgement (histogram; messages, alerts and tasks, not the bridge's notices).
- ``backlog{platform}``: deliveries waiting to be sent (pending).
- ``dead_deliveries{platform}``: deliveries that were given up (``pluto-bridge deliveries``).
- ``links{status}``: links by status (active, needs_signin, inactive).
- ``inbound_events_total{platform, kind, outcome}``: chat events; outcome ``handled``,
  ``duplicate`` or ``error``.
- ``push_wakeups_total``: polls started early because the LMS pushed a notice that something
  is new (incremented by the push receiver).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bridge.store.records import LinkStatus

# LMS-to-chat latency spans a poll interval (default 10 s) up to quiet hours' digests.
DELIVERY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900, 3600, 6 * 3600)
LMS_CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LINK_STATUSES = tuple(status.value for status in LinkStatus)
ADAPTER_STATES = ("connecting", "connected", "failing", "standby")


class Metrics:
    """The bridge's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.deliveries = Counter(
            "pluto_bridge_deliveries",
            "Delivery attempts by platform and outcome (sent, retry, rate_limited, dead)",
            ["platform", "outcome"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "pluto_bridge_delivery_latency_seconds",
            "Seconds from an item's time in the LMS to the chat platform's acknowledgement",
            ["platform"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.resends = Counter(
            "pluto_bridge_resends_after_crash",
            "Deliveries sent again after a restart because the platform cannot say whether the "
            "interrupted send arrived (at most one duplicate each)",
            ["platform"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "pluto_bridge_inbound_events",
            "Chat events by platform, kind and outcome (handled, duplicate, error)",
            ["platform", "kind", "outcome"],
            registry=r,
        )
        self.polls = Counter("pluto_bridge_poll_cycles", "LMS poll cycles completed", registry=r)
        self.poll_due = Gauge("pluto_bridge_poll_due_people", "People the last poll cycle read", registry=r)
        self.poll_cycle_seconds = Gauge(
            "pluto_bridge_poll_cycle_seconds", "How long the last poll cycle took", registry=r
        )
        self.poll_overruns = Counter(
            "pluto_bridge_poll_cycle_overruns", "Poll cycles that outlasted lms.poll_interval", registry=r
        )
        self.poll_failures = Counter(
            "pluto_bridge_poll_failures",
            "Unexpected failures while polling, by scope (cycle, person, item)",
            ["scope"],
            registry=r,
        )
        self.lms_up = Gauge("pluto_bridge_lms_up", "1 while the LMS answers, 0 while it does not", registry=r)
        self.lms_up.set(1)
        self.lms_calls = Counter(
            "pluto_bridge_lms_calls",
            "LMS web-service calls by function and outcome (ok, error, unreachable)",
            ["function", "outcome"],
            registry=r,
        )
        self.lms_call_seconds = Histogram(
            "pluto_bridge_lms_call_seconds",
            "Seconds per LMS web-service call, retries included, by function",
            ["function"],
            buckets=LMS_CALL_BUCKETS,
            registry=r,
        )
        self.backlog = Gauge(
            "pluto_bridge_backlog", "Deliveries waiting to be sent, by platform", ["platform"], registry=r
        )
        self.dead = Gauge(
            "pluto_bridge_dead_deliveries", "Deliveries given up, by platform", ["platform"], registry=r
        )
        self.links = Gauge("pluto_bridge_links", "Links by status", ["status"], registry=r)
        self.adapter_state = Gauge(
            "pluto_bridge_adapter_state",
            "1 for each platform's current state (connecting, connected, failing), 0 for the others",
            ["platform", "state"],
            registry=r,
        )
        self.push_wakeups = Counter(
            "pluto_bridge_push_wakeups",
            "Polls started early because the LMS pushed a notice that something is new",
            registry=r,
        )
        self.push_ignored = Counter(
            "pluto_bridge_push_ignored",
            "Pushes and device registrations not acted on, by reason (unknown_device, refused, malformed)",
            ["reason"],
            registry=r,
        )

    def observe_lms_call(self, function: str, outcome: str, seconds: float) -> None:
        """One LMS web-service call finished (the LMS client's hook)."""
        self.lms_calls.labels(function, outcome).inc()
        self.lms_call_seconds.labels(function).observe(seconds)

    def set_store_gauges(
        self,
        platforms: list[str],
        backlog: Mapping[str, int],
        dead: Mapping[str, int],
        links: Mapping[str, int],
    ) -> None:
        """Set the gauges read from the store; every platform and status gets a value (0
        included), so a series never disappears when its count drops to nothing."""
        for platform in sorted({*platforms, *backlog, *dead}):
            self.backlog.labels(platform).set(backlog.get(platform, 0))
            self.dead.labels(platform).set(dead.get(platform, 0))
        for status in sorted({*LINK_STATUSES, *links}):
            self.links.labels(status).set(links.get(status, 0))

    def set_adapter_states(self, states: Mapping[str, str]) -> None:
        """Each platform's state as ``/readyz`` words it (``connected``, ``connecting``,
        ``failing: why``; any other problem counts as failing)."""
        for platform, said in states.items():
            phase = said.split(":", 1)[0]
            phase = phase if phase in ADAPTER_STATES else "failing"
            for state in ADAPTER_STATES:
                self.adapter_state.labels(platform, state).set(1 if state == phase else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
