"""The day simulation behind bench.dispatch_day, on a light day: every request is served
under every policy, and StaySync's merged trips show up as fewer visits; calibration
moves along one request stream and one nested ladder of rosters."""

from __future__ import annotations

import pytest

from bench.dispatch_day import (
    POLICIES,
    ROSTER,
    TRIMS,
    Day,
    NoKitchenLeg,
    hotel_layout,
    requests,
    scaled_speeds,
    staffing,
)
from edge.assignment import warm_up
from edge.dispatch.catalogue import CATALOGUE
from edge.dispatch.model import Priority
from edge.dispatch.travel import TravelModel
from shared.layout import ServicePointKind


@pytest.fixture(autouse=True, scope="module")
def _solver_compiled() -> None:
    warm_up()


def test_a_light_day_serves_everyone_under_every_policy() -> None:
    layout = hotel_layout("day")
    reqs = requests(layout, scale=0.4, seed=7)
    results = {p: Day(p, reqs, TravelModel(layout)).run() for p in POLICIES}
    for name, result in results.items():
        assert len(result.waits) == len(reqs), f"{name} left requests unserved"
        assert all(
            0 <= q <= w for q, w in zip(result.queued.values(), result.waits.values(), strict=True)
        )
        ok, n = result.within(Priority.URGENT)
        assert ok == n, f"{name}: every urgent request within 10 minutes"
    ours = results["staysync"]
    assert ours.visits < results["greedy"].visits, "merged trips mean fewer visits"
    assert ours.rounds > 0
    assert ours.plan_s


def test_a_larger_demand_only_adds_requests() -> None:
    layout = hotel_layout("day")
    small, large = requests(layout, 0.3, seed=3), requests(layout, 0.6, seed=3)
    assert len(small) < len(large)
    assert set(small) <= set(large), "one stream, thinned"


def test_smaller_staffings_are_the_roster_less_people() -> None:
    assert staffing(()) == ROSTER
    assert sum(ROSTER.values()) == 25
    for n in range(len(TRIMS)):
        larger, smaller = staffing(TRIMS[:n]), staffing(TRIMS[: n + 1])
        assert sum(larger.values()) - sum(smaller.values()) == 1
        assert all(smaller[cell] <= larger[cell] for cell in ROSTER)
        assert min(smaller.values()) >= 1, "every role a shift has keeps someone"


def test_the_relaxed_worlds_of_the_bounds_only_take_travel_away() -> None:
    layout = hotel_layout("day")
    real, half, none = (TravelModel(layout, scaled_speeds(f)) for f in (1.0, 0.5, 0.0))
    kitchen = real.point(ServicePointKind.KITCHEN, 0)
    far = real.room(layout.room_ids[-1])
    assert half.seconds(kitchen, far) == pytest.approx(real.seconds(kitchen, far) / 2)
    assert none.seconds(kitchen, far) == 0.0
    reqs = requests(layout, scale=0.4, seed=7)
    teleported = Day("greedy", reqs, none).run()
    assert teleported.waits == pytest.approx(teleported.queued), "no time on the way"
    day = NoKitchenLeg("staysync", reqs, real)
    result = day.run()
    assert any(CATALOGUE[r.kind].pickup is ServicePointKind.KITCHEN for r in reqs)
    assert all(t.pickup is not ServicePointKind.KITCHEN for t in day.tasks.values())
    assert len(result.waits) == len(reqs), "everyone is still served"
