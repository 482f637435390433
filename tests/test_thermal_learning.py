"""The arrival lead time: the estimator learns each room from twin-like samples.

The samples come from `firmware_sim.thermal` (the simulator's exact physics) the way the
twin sees them: irregular readings rounded to 0.01 °C, the thermostat's action, telemetry
gaps. The estimator never sees the simulator's parameters; the tests compare against them.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.arrival.thermal import (
    PRIOR,
    ThermalEstimate,
    ThermalEstimator,
    ThermalSample,
    holdable,
    lead_time_s,
)
from firmware_sim.thermal import (
    OutdoorTemperature,
    ThermalParams,
    ThermalRoom,
    time_to_reach,
)
from shared.messages import HvacAction, HvacMode

H = 3600.0
DEADBAND_C = 0.3  # the simulator's default
# Modes a day of a room goes through: warm up, cool down, drift, hold.
SCHEDULE = (
    (HvacMode.HEAT, 26.0),
    (HvacMode.COOL, 18.0),
    (HvacMode.OFF, 21.0),
    (HvacMode.AUTO, 23.0),
)


def _room(
    params: ThermalParams,
    outdoor: OutdoorTemperature,
    temperature_c: float,
    t: float,
    mode: HvacMode,
    setpoint_c: float,
) -> ThermalRoom:
    return ThermalRoom(
        params, outdoor, temperature_c=temperature_c, time_s=t, mode=mode,
        setpoint_c=setpoint_c, deadband_c=DEADBAND_C, eco_low_c=18.0, eco_high_c=26.0,
    )  # fmt: skip


def learn(
    params: ThermalParams,
    outdoor: OutdoorTemperature,
    *,
    seed: int,
    days: int = 2,
    gap_rate: float = 0.01,
    estimator: ThermalEstimator | None = None,
) -> ThermalEstimator:
    """Run the simulator through `days` of the schedule and feed what a twin would see."""
    rng = random.Random(seed)
    est = estimator if estimator is not None else ThermalEstimator()
    t = 0.0
    room = _room(params, outdoor, 21.0, t, HvacMode.OFF, 21.0)
    for _ in range(days):
        for mode, setpoint in SCHEDULE:
            room.set_control(mode, setpoint)
            end = t + rng.uniform(2.5, 4.0) * H
            while t < end:
                t += rng.uniform(20.0, 120.0)  # irregular telemetry
                if rng.random() < gap_rate:
                    t += rng.uniform(600.0, 3 * H)  # a telemetry gap
                room.advance_to(t)
                est.add(ThermalSample(t, round(room.temperature_c, 2), room.action, outdoor.at(t)))
    return est


def _params(tau_h: float, rate_c_per_h: float) -> ThermalParams:
    return ThermalParams(tau_s=tau_h * H, hvac_rate_c_per_s=rate_c_per_h / H, hvac_power_w=1500.0)


def _rel(estimated: float, true: float) -> float:
    return abs(estimated - true) / true


def test_a_room_never_seen_answers_with_the_slow_prior() -> None:
    est = ThermalEstimator().estimate()
    assert (est.tau_s, est.heat_rate_c_per_s, est.cool_rate_c_per_s) == pytest.approx(
        (PRIOR.tau_s, PRIOR.heat_rate_c_per_s, PRIOR.cool_rate_c_per_s)
    )
    assert est.samples == 0
    assert not est.confident
    # The prior is slower than any plausible room (2–6 °C/h), so it starts early.
    assert PRIOR.heat_rate_c_per_s * H < 2.0
    assert PRIOR.cool_rate_c_per_s * H < 2.0


@settings(max_examples=300, deadline=None)
@given(
    tau_h=st.floats(2.0, 8.0),
    rate_c_per_h=st.floats(2.0, 6.0),
    outdoor_c=st.floats(-5.0, 35.0),
    start_c=st.floats(10.0, 32.0),
    target_c=st.floats(18.0, 26.0),
)
def test_a_room_never_seen_starts_no_later_than_it_needs_to(
    tau_h: float, rate_c_per_h: float, outdoor_c: float, start_c: float, target_c: float
) -> None:
    """The prior's lead time is at least the true one for any plausible room; None
    (start as early as possible) whenever the truth is unreachable."""
    unseen = ThermalEstimator().estimate()
    prior_lead = lead_time_s(unseen, start_c, target_c, outdoor_c, margin=0.0)
    true_lead = lead_time_s(_truth(_params(tau_h, rate_c_per_h)), start_c, target_c, outdoor_c,
                            margin=0.0)  # fmt: skip
    if true_lead is None:
        assert prior_lead is None
    elif prior_lead is not None:
        assert prior_lead >= true_lead


@pytest.mark.parametrize(
    ("tau_h", "rate_c_per_h", "outdoor_c", "amplitude_c"),
    [(2.0, 2.0, -5.0, 0.0), (8.0, 6.0, 35.0, 0.0), (4.0, 3.0, 10.0, 5.0), (6.0, 4.5, 25.0, 6.0),
     (3.0, 5.0, 0.0, 4.0)],
)  # fmt: skip
def test_estimates_converge_to_the_rooms_physics(
    tau_h: float, rate_c_per_h: float, outdoor_c: float, amplitude_c: float
) -> None:
    est = learn(_params(tau_h, rate_c_per_h), OutdoorTemperature(outdoor_c, amplitude_c), seed=7)
    e = est.estimate()
    assert e.tau_confident, e
    assert _rel(e.tau_s, tau_h * H) < 0.03, e
    assert e.heat_confident, e
    assert _rel(e.heat_rate_c_per_s, rate_c_per_h / H) < 0.05, e
    if outdoor_c + amplitude_c + 2 * tau_h < 18.0:
        # Too cold to ever warm above the cooling setpoint: cooling is never seen.
        assert not e.cool_confident, e
        assert e.cool_rate_c_per_s == pytest.approx(PRIOR.cool_rate_c_per_s)
    else:
        assert e.cool_confident, e
        assert _rel(e.cool_rate_c_per_s, rate_c_per_h / H) < 0.05, e


def test_late_duplicate_and_gapped_samples_do_not_enter_the_fit() -> None:
    est = ThermalEstimator(min_interval_s=0.0, max_gap_s=900.0)
    idle = HvacAction.IDLE
    assert not est.add(ThermalSample(0.0, 25.0, idle, 10.0))  # first: no interval yet
    assert est.add(ThermalSample(60.0, 24.9, idle, 10.0))
    assert not est.add(ThermalSample(60.0, 24.9, idle, 10.0))  # duplicate
    assert not est.add(ThermalSample(30.0, 24.95, idle, 10.0))  # late
    assert not est.add(ThermalSample(60.0 + 901.0, 23.0, idle, 10.0))  # gap
    assert not est.add(ThermalSample(2000.0, 23.0, HvacAction.HEATING, 10.0))  # switch inside
    assert not est.add(ThermalSample(2060.0, math.nan, HvacAction.HEATING, 10.0))
    assert est.add(ThermalSample(2120.0, 23.1, HvacAction.HEATING, 10.0))
    assert est.estimate().samples == 2


def test_samples_are_joined_into_intervals_and_a_switch_restarts_one() -> None:
    est = ThermalEstimator(min_interval_s=600.0)
    idle, heating = HvacAction.IDLE, HvacAction.HEATING
    results = [est.add(ThermalSample(60.0 * i, 25.0 - 0.01 * i, idle, 10.0)) for i in range(21)]
    assert results == [False] * 10 + [True] + [False] * 9 + [True]  # 0→600 s, 600→1200 s
    assert not est.add(ThermalSample(1260.0, 24.8, heating, 10.0))  # switch: restart here
    assert [est.add(ThermalSample(1260.0 + 60.0 * i, 24.8, heating, 10.0)) for i in (1, 10)] == [
        False,
        True,
    ]
    assert est.estimate().samples == 3


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_a_noisy_sensor_still_gets_the_room_ready(seed: int) -> None:
    """Readings with 0.1 °C of white noise (on top of 0.01 °C rounding): τ may be poorly
    known when the outdoors is close to the room (it then matters little), but the room
    pre-conditioned at the learned lead time is ready."""
    rng = random.Random(seed)
    params = _params(rng.uniform(2, 8), rng.uniform(2, 6))
    outdoor_c = rng.uniform(-5, 35)
    est = ThermalEstimator()
    noise = random.Random(seed + 1)

    class Noisy(ThermalEstimator):
        def add(self, sample: ThermalSample) -> bool:
            noisy = round(sample.temperature_c + noise.gauss(0.0, 0.1), 2)
            return est.add(ThermalSample(sample.time_s, noisy, sample.action, sample.outdoor_c))

    learn(params, OutdoorTemperature(outdoor_c), seed=seed, estimator=Noisy())
    e = est.estimate()
    if e.heat_confident:
        assert _rel(e.heat_rate_c_per_s, params.hvac_rate_c_per_s) < 0.5, e
    lead = lead_time_s(e, 28.0, 22.0, outdoor_c, margin=0.2)
    # Promised only with 1 °C of headroom: a room whose full cooling settles right at the
    # band's edge takes unboundedly long, and no estimate from noisy readings times it.
    headroom_c = 22.5 - (outdoor_c - params.hvac_rate_c_per_s * params.tau_s)
    if lead is not None and holdable(_truth(params), 22.0, outdoor_c) and headroom_c >= 1.0:
        assert abs(precondition(params, outdoor_c, lead) - 22.0) <= 0.5, (e, lead)


def test_long_telemetry_gaps_do_not_bias_the_estimate() -> None:
    """Readings every 5–15 minutes (the exact interval form, not a finite difference)."""
    params = _params(2.0, 6.0)
    outdoor = OutdoorTemperature(0.0)
    rng = random.Random(3)
    est = ThermalEstimator()
    t = 0.0
    room = _room(params, outdoor, 21.0, t, HvacMode.OFF, 21.0)
    for mode, setpoint in SCHEDULE * 3:
        room.set_control(mode, setpoint)
        end = t + 3 * H
        while t < end:
            t += rng.uniform(300.0, 900.0)
            room.advance_to(t)
            est.add(ThermalSample(t, round(room.temperature_c, 2), room.action, outdoor.at(t)))
    e = est.estimate()
    assert _rel(e.tau_s, 2 * H) < 0.03, e
    assert _rel(e.heat_rate_c_per_s, 6.0 / H) < 0.05, e


def test_a_changed_room_is_relearned() -> None:
    """Exponential forgetting: after the HVAC weakens, the estimate follows."""
    outdoor = OutdoorTemperature(5.0)
    est = learn(_params(4.0, 6.0), outdoor, seed=1, days=2)
    est.half_life_s = 2 * 86_400.0
    # 8 more days at half the power; the chain restarts (a gap) because times restart.
    learn(_params(4.0, 3.0), outdoor, seed=2, days=8, estimator=_shifted(est, 3 * 86_400.0))
    e = est.estimate()
    assert _rel(e.heat_rate_c_per_s, 3.0 / H) < 0.1, e


def _shifted(est: ThermalEstimator, offset_s: float) -> ThermalEstimator:
    """The same estimator, fed with times shifted by `offset_s` (a later stretch of life)."""

    class Shifted(ThermalEstimator):
        def add(self, sample: ThermalSample) -> bool:
            return est.add(
                ThermalSample(
                    sample.time_s + offset_s,
                    sample.temperature_c,
                    sample.action,
                    sample.outdoor_c,
                )
            )

    return Shifted()


def test_lead_time_is_the_closed_form_of_the_model() -> None:
    """(With a confident estimate: an unconfident one is answered conservatively.)"""
    e = ThermalEstimate(
        tau_s=4 * H, heat_rate_c_per_s=3 / H, cool_rate_c_per_s=4 / H, samples=1, confident=True
    )
    # Cooling 28 → 22.5 with 30 °C outside: equilibrium 30 − 16 = 14.
    expected = time_to_reach(28.0, 30.0 - 16.0, 4 * H, 22.5)
    assert lead_time_s(e, 28.0, 22.0, 30.0, margin=0.0, inside_c=0.0) == pytest.approx(expected)
    inside = time_to_reach(28.0, 30.0 - 16.0, 4 * H, 22.25)
    assert lead_time_s(e, 28.0, 22.0, 30.0, margin=0.25) == pytest.approx(1.25 * inside)
    # 28 → 22.25 is out of reach (equilibrium 22.4 with 38.4 °C outside), 22.5 is not.
    edge_only = time_to_reach(28.0, 38.4 - 16.0, 4 * H, 22.5)
    assert lead_time_s(e, 28.0, 22.0, 38.4, margin=0.0) == pytest.approx(edge_only)
    # Heating 16 → 21.5 with 0 °C outside: equilibrium 12 — never reached.
    assert lead_time_s(e, 16.0, 22.0, 0.0) is None
    assert lead_time_s(e, 28.0, 22.0, 40.0) is None  # equilibrium 24 °C
    assert lead_time_s(e, 22.3, 22.0, 0.0) == 0.0
    with pytest.raises(ValueError, match="margin"):
        lead_time_s(e, 28.0, 22.0, 30.0, margin=-0.1)


def precondition(params: ThermalParams, outdoor_c: float, lead_s: float) -> float:
    """Start AUTO 22 °C `lead_s` before arrival with the room at 28 °C; its temperature then."""
    arrival = 10 * 86_400.0
    room = _room(params, OutdoorTemperature(outdoor_c), 28.0, arrival - lead_s, HvacMode.AUTO, 22.0)
    room.advance_to(arrival)
    return room.temperature_c


@pytest.mark.parametrize(
    ("tau_h", "rate_c_per_h", "outdoor_c"),
    [(3.0, 3.0, 15.0), (8.0, 4.0, 0.0), (8.0, 6.0, 35.0), (4.0, 3.0, 30.0), (6.0, 4.0, 20.0)],
)
def test_preconditioning_at_the_learned_lead_time_is_ready_at_arrival(
    tau_h: float, rate_c_per_h: float, outdoor_c: float
) -> None:
    params = _params(tau_h, rate_c_per_h)
    e = learn(params, OutdoorTemperature(outdoor_c), seed=11).estimate()
    assert holdable(_truth(params), 22.0, outdoor_c)
    lead = lead_time_s(e, 28.0, 22.0, outdoor_c, margin=0.2)
    assert lead is not None
    assert abs(precondition(params, outdoor_c, lead) - 22.0) <= 0.5
    # …and not absurdly early: within the margin of the true time.
    true = lead_time_s(_truth(params), 28.0, 22.0, outdoor_c, margin=0.0)
    assert true is not None
    if e.cool_confident:
        assert lead <= 1.3 * true


def _truth(params: ThermalParams) -> ThermalEstimate:
    return ThermalEstimate(
        tau_s=params.tau_s, heat_rate_c_per_s=params.hvac_rate_c_per_s,
        cool_rate_c_per_s=params.hvac_rate_c_per_s, samples=0, confident=True,
        heat_confident=True, cool_confident=True, tau_confident=True,
    )  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tau_h=st.floats(2.0, 8.0),
    rate_c_per_h=st.floats(2.0, 6.0),
    outdoor_c=st.floats(-5.0, 35.0),
    seed=st.integers(0, 2**16),
)
def test_property_learned_lead_time_over_the_parameter_ranges(
    tau_h: float, rate_c_per_h: float, outdoor_c: float, seed: int
) -> None:
    params = _params(tau_h, rate_c_per_h)
    e = learn(params, OutdoorTemperature(outdoor_c), seed=seed).estimate()
    assert e.tau_confident, e
    assert _rel(e.tau_s, params.tau_s) < 0.05, e
    if e.cool_confident:
        assert _rel(e.cool_rate_c_per_s, params.hvac_rate_c_per_s) < 0.05, e
    else:
        # A cold room that (nearly) never cooled stays near the slow prior.
        assert e.cool_rate_c_per_s <= 1.05 * params.hvac_rate_c_per_s
    lead = lead_time_s(e, 28.0, 22.0, outdoor_c, margin=0.2)
    true_equilibrium = outdoor_c - params.hvac_rate_c_per_s * params.tau_s
    if lead is None:
        # Declared unreachable: the true room settles at (or within the estimate's error
        # of) the tolerance band's edge.
        assert true_equilibrium > 22.5 - 0.1 * params.hvac_rate_c_per_s * params.tau_s
    elif holdable(_truth(params), 22.0, outdoor_c):
        assert abs(precondition(params, outdoor_c, lead) - 22.0) <= 0.5


def test_a_target_the_heating_cannot_hold_is_flagged() -> None:
    # 2 °C/h against −5 °C with τ = 2 h: full heating settles at −1 °C.
    weak = _truth(_params(2.0, 2.0))
    assert not holdable(weak, 22.0, -5.0)
    assert holdable(weak, 22.0, 20.0)


def test_an_interval_the_confident_model_misses_is_dropped() -> None:
    """A switch and a switch back between two readings looks like an impossible jump."""
    params = _params(4.0, 4.0)
    outdoor = OutdoorTemperature(30.0)
    est = learn(params, outdoor, seed=5)
    last_t = 10 * 86_400.0
    est.add(ThermalSample(last_t, 23.0, HvacAction.COOLING, 30.0))  # a gap: a new chain
    before = est.estimate()
    # 15 minutes of cooling at 4 °C/h against 30 °C outside cannot lose 2 °C.
    assert not est.add(ThermalSample(last_t + 900.0, 21.0, HvacAction.COOLING, 30.0))
    assert est.rejected >= 1
    assert est.estimate() == before
