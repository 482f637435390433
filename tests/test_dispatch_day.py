"""The day simulation behind bench.dispatch_day, on a light day: every request is served
under every policy, and StaySync's merged trips show up as fewer visits."""

from __future__ import annotations

import pytest

from bench.dispatch_day import POLICIES, Day, requests
from edge.assignment import warm_up
from edge.dispatch.model import Priority
from edge.dispatch.travel import TravelModel
from shared.layout import PropertyLayout


@pytest.fixture(autouse=True, scope="module")
def _solver_compiled() -> None:
    warm_up()


def test_a_light_day_serves_everyone_under_every_policy() -> None:
    layout = PropertyLayout.generate("day", 400)
    reqs = requests(layout, scale=0.2, seed=7)
    results = {p: Day(p, reqs, TravelModel(layout)).run() for p in POLICIES}
    for name, result in results.items():
        assert len(result.waits) == len(reqs), f"{name} left requests unserved"
        assert all(
            0 <= q <= w for q, w in zip(result.queued.values(), result.waits.values(), strict=True)
        )
    ours = results["staysync"]
    ok, n = ours.within(Priority.URGENT)
    assert ok == n, "every urgent request within 10 minutes"
    assert ours.visits < results["greedy"].visits, "merged trips mean fewer visits"
    assert ours.rounds > 0
    assert ours.plan_s
