"""The pieces every platform sandbox shares (sandbox/kit.py), on their own."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.kit import FaultPlan, SlidingWindow, TokenBucket


@dataclass
class _Fault:
    name: str
    count: int = 1
    over: bool = False

    def live(self) -> bool:
        return not self.over


def test_fault_plan_serves_matching_faults_in_order_and_spends_them() -> None:
    plan: FaultPlan[_Fault] = FaultPlan()
    plan.add(_Fault("a", count=2))
    plan.add(_Fault("b"))
    assert plan.take(lambda f: f.name == "b") is not None
    assert plan.take(lambda f: f.name == "b") is None  # spent
    assert [plan.take(lambda f: True) for _ in range(3)][-1] is None  # "a" twice, then nothing
    assert len(plan) == 2  # spent faults stay listed unless the sandbox drops them


def test_a_fault_that_is_over_is_passed_by_and_spent_ones_can_be_dropped() -> None:
    plan: FaultPlan[_Fault] = FaultPlan(drop_spent=True)
    outage = plan.add(_Fault("outage", count=10))
    outage.over = True  # a time-based fault past its end
    assert plan.take(lambda f: True) is None
    outage.over = False
    plan.add(_Fault("once"))
    outage.count = 1
    assert plan.take(lambda f: True) is outage and [f.name for f in plan] == ["once"]
    assert plan.take(lambda f: True) is not None and len(plan) == 0


def test_token_bucket_lets_a_burst_through_then_refills_at_its_rate() -> None:
    now = [100.0]
    bucket = TokenBucket(2, 0.5, lambda: now[0])
    assert [bucket.acquire(), bucket.acquire()] == [0.0, 0.0]
    assert bucket.acquire() == 2.0  # one token at 0.5/s
    now[0] += 2
    assert bucket.acquire() == 0.0


def test_sliding_window_counts_hits_within_its_window() -> None:
    window = SlidingWindow(2, 1.0)
    assert window.take(10.0) and window.take(10.5)
    assert not window.take(10.6) and window.remaining(10.6) == 0
    assert 0.4 <= window.reset_after(10.6) <= 0.401  # rounded up to the millisecond
    assert window.take(11.0)  # the hit at 10.0 has left
