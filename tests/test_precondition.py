"""The arrival plan: when a vacant room goes to comfort so it is ready at the ETA.

Pure and fast: the plan is checked against the closed form of `lead_time_s` and, for the
end-to-end properties, against the simulator's exact physics (`firmware_sim.thermal`)
with the true parameters as the estimate.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.arrival.precondition import (
    PreconditionPlan,
    format_duration,
    plan_preconditioning,
)
from edge.arrival.thermal import PRIOR, ThermalEstimate, holdable, lead_time_s
from firmware_sim.thermal import OutdoorTemperature, ThermalParams, ThermalRoom
from shared.messages import HvacMode

H = 3600.0
NOW = 1_767_000_000.0  # some POSIX time
TARGET_C = 22.0


def _truth(tau_h: float, rate_c_per_h: float) -> ThermalEstimate:
    rate = rate_c_per_h / H
    return ThermalEstimate(
        tau_s=tau_h * H, heat_rate_c_per_s=rate, cool_rate_c_per_s=rate, samples=100,
        confident=True, heat_confident=True, cool_confident=True, tau_confident=True,
    )  # fmt: skip


LEARNED = _truth(4.0, 3.0)
ECO_C = (16.7, 28.3)  # the simulator's eco band (17–28 °C) with its 0.3 °C deadband


def _plan(estimate: ThermalEstimate = LEARNED, **kwargs: Any) -> PreconditionPlan:
    """By default a room at the top of its eco setback on a hot day: it drifts no
    further, so the plan is the closed form from 28 °C."""
    args: dict[str, Any] = {"now": NOW, "eta": NOW + 10 * H, "room_c": 28.0, "target_c": TARGET_C,
            "outdoor_c": 30.0, "setback_c": (16.7, 28.0)} | kwargs  # fmt: skip
    return plan_preconditioning(estimate, **args)


def test_a_learned_room_starts_at_the_lead_time_plus_twenty_percent() -> None:
    plan = _plan()
    lead = lead_time_s(LEARNED, 28.0, TARGET_C, 30.0, margin=0.0)
    assert lead is not None
    assert lead > 3000.0  # 20 % of it is above the 10-minute floor
    assert plan.lead_s == pytest.approx(lead)
    assert plan.lead_s is not None
    assert plan.margin_s == pytest.approx(0.2 * lead, abs=2.0)  # the bisection's second
    assert plan.start_at == pytest.approx(NOW + 10 * H - (plan.lead_s + plan.margin_s))
    assert plan.start_at == pytest.approx(NOW + 10 * H - 1.2 * lead, abs=2.0)
    assert plan.start_c == 28.0
    assert plan.reachable
    assert plan.holdable
    assert plan.reason.startswith("learned ")
    assert "+ 20 % margin" in plan.reason
    assert not plan.start_now(NOW)
    assert plan.start_now(plan.start_at)


def test_a_short_lead_gets_the_minimum_margin() -> None:
    plan = _plan(room_c=23.0, outdoor_c=23.0)  # at the outdoor temperature: no drift
    assert plan.lead_s is not None
    assert 0.2 * plan.lead_s < 600.0
    assert plan.margin_s == pytest.approx(600.0, abs=2.0)
    assert plan.start_at == pytest.approx(NOW + 10 * H - plan.lead_s - plan.margin_s)
    assert "(10 min)" in plan.reason


def test_margins_are_parameters() -> None:
    plan = _plan(margin=0.5, min_margin_s=0.0)
    assert plan.lead_s is not None
    assert plan.margin_s == pytest.approx(0.5 * plan.lead_s, abs=2.0)
    assert "+ 50 % margin" in plan.reason
    bare = _plan(margin=0.0, min_margin_s=0.0)
    assert bare.margin_s == pytest.approx(0.0, abs=2.0)
    assert bare.start_at == pytest.approx(NOW + 10 * H - plan.lead_s, abs=2.0)


def test_no_room_starts_before_the_horizon() -> None:
    plan = _plan(horizon_s=H)
    assert plan.lead_s is not None
    assert plan.lead_s + plan.margin_s > H
    assert plan.start_at == NOW + 9 * H
    assert plan.reason.endswith(": capped at 1 h ahead")


def test_a_room_in_the_band_is_held_from_the_minimum_margin_on() -> None:
    plan = _plan(room_c=22.4, outdoor_c=22.4)  # no drift
    assert plan.lead_s == 0.0
    assert plan.margin_s == pytest.approx(600.0, abs=2.0)
    assert plan.start_at == NOW + 10 * H - plan.margin_s
    assert plan.start_c == 22.4
    assert plan.reason == "in band: hold from 10 min ahead"
    assert _plan(room_c=22.4, eta=NOW + 300.0).reason == "in band: hold now"


def test_the_drift_in_setback_is_planned_for() -> None:
    """A room that will drift from 28 to 30 °C before its start is planned from 30 °C,
    not from its reading: re-planning alone would find it late."""
    free = _plan(setback_c=None, outdoor_c=30.0, eta=NOW + 30 * H, horizon_s=40 * H)
    assert free.start_c == pytest.approx(30.0, abs=0.1)
    lead_30 = lead_time_s(LEARNED, free.start_c, TARGET_C, 30.0, margin=0.0)
    assert free.lead_s == pytest.approx(lead_30)
    assert "from 30.0 °C" in free.reason
    pinned = _plan(eta=NOW + 30 * H, horizon_s=40 * H)  # the setback stops it at 28 °C
    assert pinned.lead_s is not None
    assert free.lead_s is not None
    assert pinned.lead_s < free.lead_s
    assert pinned.start_at > free.start_at


def test_a_room_whose_heating_barely_copes_starts_before_its_drift_makes_it_late() -> None:
    """Full heating settles at 22.3 °C, 0.55 °C above the point it aims at: the room in
    band now would, after drifting to the setback's 16.7 °C, need 15 h. The plan starts
    it where lead + margin meet the ETA on its way down, and the room is ready."""
    barely = _truth(6.93, 3.28)
    eta = NOW + 10 * H
    plan = _plan(barely, room_c=22.7, outdoor_c=-0.4, eta=eta, setback_c=ECO_C)
    assert plan.lead_s is not None
    assert NOW < plan.start_at < eta - 6 * H
    assert plan.start_at == pytest.approx(eta - (plan.lead_s + plan.margin_s))
    assert plan.reason.startswith(f"learned 7 h 46 min from {plan.start_c:.1f} °C + 20 %")
    room = _eco_room(6.93, 3.28, OutdoorTemperature(-0.4), NOW, 22.7)
    room.advance_to(plan.start_at)
    assert room.temperature_c == pytest.approx(plan.start_c, abs=0.01)
    room.set_control(HvacMode.AUTO, TARGET_C)
    room.advance_to(eta)
    assert abs(room.temperature_c - TARGET_C) <= 0.5


def test_a_room_that_would_drift_out_of_reach_is_held_before_it_does() -> None:
    """Weak heating (full power settles at 14 °C) cannot bring the room back into the
    band once it leaves it: it is held from the moment it would, ~8 min from now, and the
    margin says how long before the ETA that is."""
    weak = _truth(2.0, 2.0)
    eta = NOW + 10 * H
    plan = _plan(weak, room_c=22.3, outdoor_c=10.0, eta=eta, setback_c=ECO_C)
    leaves = NOW + 2 * H * math.log(12.3 / 11.5)  # 10 + 12.3·e^(−t/τ) = 21.5
    assert plan.lead_s == 0.0
    assert leaves - 2.0 <= plan.start_at <= leaves
    assert plan.margin_s == pytest.approx(eta - plan.start_at)
    assert plan.reason == "in band, drifting out: hold from 9 h 52 min ahead"


def test_a_late_plan_starts_now() -> None:
    plan = _plan(eta=NOW + H)
    assert plan.lead_s is not None
    assert plan.lead_s + plan.margin_s > H
    assert plan.start_at == NOW
    assert plan.start_now(NOW)
    assert plan.reason.endswith(": late, start now")
    assert plan.lead_s > H  # even the bare lead does not fit
    in_margin = _plan(eta=NOW + plan.lead_s + 60.0)
    assert in_margin.start_at == NOW
    assert in_margin.reason == "learned 3 h 25 min + 20 % margin (41 min): start now"
    due = _plan(eta=NOW - 60.0)
    assert due.start_at == NOW
    assert due.reason.endswith(": guest due, start now")


def test_an_unreachable_band_starts_three_time_constants_ahead_within_the_horizon() -> None:
    # Full cooling settles at 38 − 12 = 26 °C, short of 22.5.
    plan = _plan(outdoor_c=38.0, eta=NOW + 20 * H)
    assert plan.lead_s is None
    assert not plan.reachable
    assert not plan.holdable
    assert plan.margin_s == 0.0
    assert plan.start_at == NOW + 20 * H - 3 * 4 * H
    assert plan.reason == "unreachable at 38 °C outdoors (learned, full cooling): start 12 h ahead"
    soon = _plan(outdoor_c=38.0)
    assert soon.start_at == NOW
    assert soon.reason.endswith(": start now")
    capped = _plan(outdoor_c=38.0, eta=NOW + 20 * H, horizon_s=6 * H)
    assert capped.start_at == NOW + 14 * H
    assert capped.reason.endswith("start 6 h ahead")


def test_a_room_never_seen_is_planned_on_the_slow_prior() -> None:
    plan = _plan(PRIOR, room_c=26.0, outdoor_c=24.0, eta=NOW + 20 * H)
    learned = _plan(room_c=26.0, outdoor_c=24.0, eta=NOW + 20 * H)
    assert plan.lead_s is not None
    assert learned.lead_s is not None
    assert plan.lead_s > learned.lead_s
    assert plan.start_at < learned.start_at
    assert plan.reason.startswith("never seen: conservative prior ")
    partly = ThermalEstimate(
        tau_s=4 * H, heat_rate_c_per_s=3 / H, cool_rate_c_per_s=3 / H, samples=12,
        confident=False, heat_confident=True, tau_confident=True,
    )  # fmt: skip
    assert _plan(partly, room_c=26.0, outdoor_c=24.0).reason.startswith("little data")
    assert _plan(partly, room_c=18.0, outdoor_c=10.0).reason.startswith("learned ")


def test_a_band_reached_but_not_held_gets_no_margin() -> None:
    """Heating from 20 °C with 40 °C outdoors is quick, but the weak cooling cannot stop
    the room from drifting on above the band: an early start would only let it out."""
    weak = _truth(2.0, 2.0)
    assert not holdable(weak, TARGET_C, 40.0)
    plan = _plan(weak, room_c=20.0, outdoor_c=40.0, setback_c=(16.7, 20.0))
    assert plan.reachable
    assert not plan.holdable
    assert plan.lead_s is not None
    assert plan.margin_s == pytest.approx(0.0, abs=2.0)
    assert plan.start_at == pytest.approx(NOW + 10 * H - plan.lead_s, abs=2.0)
    assert "no margin: band not holdable at 40 °C outdoors" in plan.reason


@pytest.mark.parametrize(
    "kwargs",
    [{"margin": -0.1}, {"min_margin_s": -1.0}, {"horizon_s": 0.0}, {"room_c": math.nan},
     {"eta": math.inf}, {"tolerance_c": 0.0}, {"setback_c": (28.0, 17.0)}],
)  # fmt: skip
def test_nonsense_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be|finite"):
        _plan(LEARNED, **kwargs)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "< 1 min"), (29.0, "< 1 min"), (45 * 60.0, "45 min"), (H, "1 h"),
     (H + 12 * 60.0 + 10.0, "1 h 12 min"), (3599.0, "1 h")],
)  # fmt: skip
def test_durations_read_as_on_a_front_desk_screen(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@settings(max_examples=200, deadline=None)
@given(
    tau_h=st.floats(2.0, 8.0),
    rate_c_per_h=st.floats(2.0, 6.0),
    outdoor_c=st.floats(-10.0, 40.0),
    room_c=st.floats(10.0, 34.0),
    ahead_h=st.floats(-1.0, 24.0),
    estimate_known=st.booleans(),
    setback=st.booleans(),
)
def test_property_the_stated_bound_holds(
    tau_h: float,
    rate_c_per_h: float,
    outdoor_c: float,
    room_c: float,
    ahead_h: float,
    estimate_known: bool,
    setback: bool,
) -> None:
    """Never before now; never earlier than lead + margin before the ETA; never earlier
    than the horizon; the margin is at least the rule's, and exactly what is left."""
    estimate = _truth(tau_h, rate_c_per_h) if estimate_known else PRIOR
    eta = NOW + ahead_h * H
    plan = plan_preconditioning(
        estimate, now=NOW, eta=eta, room_c=room_c, target_c=TARGET_C, outdoor_c=outdoor_c,
        setback_c=ECO_C if setback else None,
    )  # fmt: skip
    assert plan.start_at >= NOW
    assert plan.start_at >= eta - 12 * H - 1e-6
    assert plan.reachable == (plan.lead_s is not None)
    if plan.lead_s is not None:
        assert plan.start_at >= eta - (plan.lead_s + plan.margin_s) - 1e-3
        if plan.lead_s == 0.0:
            rule = 600.0
        elif plan.holdable:
            rule = max(0.2 * plan.lead_s, 600.0)
        else:
            rule = 0.0
        assert plan.margin_s >= rule - 1e-6
        if plan.start_at > NOW and "capped" not in plan.reason:
            assert plan.start_at == pytest.approx(eta - (plan.lead_s + plan.margin_s), abs=1e-3)
    assert plan.reason
    assert "\n" not in plan.reason


def _eco_room(
    tau_h: float, rate_c_per_h: float, outdoor: OutdoorTemperature, t: float, room_c: float
) -> ThermalRoom:
    params = ThermalParams(tau_s=tau_h * H, hvac_rate_c_per_s=rate_c_per_h / H, hvac_power_w=1e3)
    return ThermalRoom(
        params, outdoor, temperature_c=room_c, time_s=t, mode=HvacMode.ECO,
        setpoint_c=TARGET_C, deadband_c=0.3, eco_low_c=17.0, eco_high_c=28.0,
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    tau_h=st.floats(2.0, 8.0),
    rate_c_per_h=st.floats(2.0, 6.0),
    outdoor_c=st.floats(-5.0, 38.0),
    room_c=st.floats(16.0, 29.0),
    ahead_h=st.floats(0.0, 16.0),
)
def test_property_replanning_every_five_minutes_has_the_room_ready_at_the_eta(
    tau_h: float, rate_c_per_h: float, outdoor_c: float, room_c: float, ahead_h: float
) -> None:
    """The planner's loop on the simulator's physics, with the truth as the estimate: a
    room in eco setback, re-planned every 5 minutes or at `start_at` if that comes first
    (a planner that only looked every 5 minutes could start a fast-drifting room up to
    5 minutes late), put to AUTO at the target when `start_at` comes, is within ±0.5 °C at
    the ETA whenever the band is reachable and holdable and there is time enough within
    the horizon."""
    estimate = _truth(tau_h, rate_c_per_h)
    outdoor = OutdoorTemperature(outdoor_c)
    room = _eco_room(tau_h, rate_c_per_h, outdoor, NOW, room_c)
    eta = NOW + ahead_h * H
    t = NOW
    first: PreconditionPlan | None = None
    started = False
    while t < eta:
        room.advance_to(t)
        plan = plan_preconditioning(
            estimate, now=t, eta=eta, room_c=room.temperature_c, target_c=TARGET_C,
            outdoor_c=outdoor_c, setback_c=ECO_C,
        )  # fmt: skip
        first = first or plan
        if plan.start_now(t):
            room.set_control(HvacMode.AUTO, TARGET_C)
            started = True
            break
        t = min(t + 300.0, plan.start_at)
    room.advance_to(eta)
    assert first is not None or eta == NOW
    if first is None or first.start_at <= NOW or not first.reachable or not first.holdable:
        return  # late from the outset, or a room the HVAC cannot keep in the band
    if "capped" in first.reason:
        return  # a room whose HVAC barely copes needs more than the 12 h horizon allows
    assert started
    assert abs(room.temperature_c - TARGET_C) <= 0.5, (first, room.temperature_c)
