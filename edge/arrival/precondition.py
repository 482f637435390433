"""When to bring a vacant room to comfort before a guest arrives (issue 6).

The arrival planner calls `plan_preconditioning` for a room with a known ETA, again and
again (every few minutes, with the room's latest reading and a fresh ETA, and at the
returned ``start_at`` if that comes first: a room drifting fast may not wait for the next
round) until ``start_at`` is reached; then it puts the room to comfort (AUTO at the
target) and stops asking. Until then the vacant room stays in its setback (standby, or eco).
Re-calling makes the plan follow the room's drift, the outdoor temperature and ETA
changes.

Pure code: no I/O, no clock; times are POSIX seconds passed in.

Timing
------
``lead_s`` is the learned time for full power to bring the room into
``target ± tolerance_c`` (`edge.arrival.thermal.lead_time_s` without its own margin:
it aims a little inside the band, and answers conservatively for an estimate that is not
confident in this direction), from ``start_c``: the temperature the vacant room is
expected to have drifted to by then (relaxing towards ``outdoor_c`` with the learned τ,
stopped at the edges of its setback ``setback_c`` if given). On top of it comes a
stated margin for the estimate's error; the rule is::

    rule_s   = max(margin · lead_s, min_margin_s)          (20 % but at least 10 min)
    start_at = the latest time t >= now with  t + lead_s(t) + rule_s(t) <= eta
    margin_s = eta − start_at − lead_s           (so start_at = eta − (lead_s + margin_s))

Where the room's lead only grows smoothly with its drift, ``margin_s`` is the rule's
(to a second). It is larger when waiting longer would let the room drift out of reach
(a room in the band now that will leave it, a room whose HVAC barely copes): the room
then starts that much earlier, and the reason says so. Either way the HVAC never starts
earlier than ``lead_s + margin_s`` before the ETA, the bound the acceptance test checks,
and re-planning with fresh readings only refines it.

``start_at == now`` means "start now"; the reason says "late" when the ETA is closer
than the bare lead (the room will likely not be ready in time); ``margin_s`` is then the
rule's, not given. A room in the band at the start gets ``lead_s = 0`` and starts at
least ``min_margin_s`` before the ETA, so that it is held there, not left to drift out.

Three cases leave the rule:

* **Unreachable** (``lead_s is None``): full power at this outdoor temperature settles
  short of the band (or, for an unconfident estimate, might). No lead is long enough;
  the room starts at ``eta − settle`` where ``settle`` is three time constants of the
  estimate (95 % of the way to where full power settles; the slowest plausible τ when
  the estimate is not confident), capped at ``horizon_s``; ``margin_s = 0``.
* **Beyond the horizon**: no room starts more than ``horizon_s`` before the ETA; one that
  would need more (a conservative prior) starts then, and the reason says so.
* **Reachable but not holdable** (`holdable` is False): full power brings the room into
  the band but the other direction cannot keep it there, so starting early only lets it
  drift out again: the rule's margin is 0 and the room starts ``lead_s`` before the ETA
  (more only if its drift demands it, as above).

``reason`` is one line for a front-desk screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from edge.arrival.thermal import (
    DEFAULT_TOLERANCE_C,
    PLAUSIBLE_TAU_S,
    ThermalEstimate,
    holdable,
    lead_time_s,
)

__all__ = [
    "DEFAULT_HORIZON_S",
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_MARGIN_S",
    "PreconditionPlan",
    "format_duration",
    "plan_preconditioning",
]

DEFAULT_MARGIN = 0.2
DEFAULT_MIN_MARGIN_S = 600.0
DEFAULT_HORIZON_S = 12 * 3600.0
SETTLE_TIME_CONSTANTS = 3.0  # e^-3 ≈ 5 %: 95 % of the way to where full power settles


@dataclass(frozen=True, slots=True)
class PreconditionPlan:
    """When to put the room to comfort, and why.

    ``start_at``: when to switch the room to comfort (``<= eta`` unless the ETA has
    passed; ``== now`` means start now). ``lead_s``: the learned time to reach the band,
    before margin; ``None`` when unreachable. ``margin_s``: the stated margin added on
    top (the HVAC starts no earlier than ``lead_s + margin_s`` before the ETA).
    ``reachable``: full power reaches the band. ``holdable``: it can keep the room there.
    ``reason``: one line for the front desk. ``start_c``: the temperature the room is
    expected to have drifted to at ``start_at``, which ``lead_s`` starts from.
    """

    start_at: float
    lead_s: float | None
    margin_s: float
    reachable: bool
    holdable: bool
    reason: str
    start_c: float  # the room's expected temperature at start_at (after its drift)

    def start_now(self, now: float) -> bool:
        """Whether the room must go to comfort at `now`."""
        return self.start_at <= now


def format_duration(seconds: float) -> str:
    """``"1 h 12 min"``, ``"45 min"``, ``"< 1 min"`` (rounded to the minute)."""
    minutes = round(seconds / 60.0)
    if minutes < 1:
        return "< 1 min"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h" if minutes == 0 else f"{hours} h {minutes} min"


def _settle_s(estimate: ThermalEstimate, heating: bool) -> float:
    tau = estimate.tau_s if estimate.confident_for(heating) else max(PLAUSIBLE_TAU_S)
    return SETTLE_TIME_CONSTANTS * tau


def plan_preconditioning(
    estimate: ThermalEstimate,
    *,
    now: float,
    eta: float,
    room_c: float,
    target_c: float,
    outdoor_c: float,
    margin: float = DEFAULT_MARGIN,
    min_margin_s: float = DEFAULT_MIN_MARGIN_S,
    horizon_s: float = DEFAULT_HORIZON_S,
    tolerance_c: float = DEFAULT_TOLERANCE_C,
    setback_c: tuple[float, float] | None = None,
) -> PreconditionPlan:
    """The plan for one room (see the module docstring for the rule).

    `estimate`: the room's learned response (`ThermalEstimator.estimate()`). `room_c`:
    its latest reading. `outdoor_c`: the outdoor temperature expected over the coming
    hours until the ETA (a forecast mean, or the current reading). `margin`: relative
    margin on the lead time; `min_margin_s`: its floor in seconds; `horizon_s`: the
    earliest a room is ever started before its ETA. `setback_c`: the lowest and highest
    temperature the vacant room's setback lets it reach (where the eco thermostat's
    heating and cooling switch on); None: it drifts freely towards the outdoors.
    """
    values = (now, eta, room_c, target_c, outdoor_c, margin, min_margin_s, horizon_s, tolerance_c)
    if not all(map(math.isfinite, values)):
        raise ValueError("plan_preconditioning needs finite numbers")
    if margin < 0 or min_margin_s < 0 or horizon_s <= 0 or tolerance_c <= 0:
        raise ValueError("margin and min_margin_s must be >= 0, horizon_s and tolerance_c > 0")
    if setback_c is not None and not setback_c[0] <= setback_c[1]:
        raise ValueError("setback_c must be (low, high) with low <= high")
    heating = room_c < target_c
    can_hold = holdable(estimate, target_c, outdoor_c, tolerance_c=tolerance_c)

    def lead_from(start_c: float) -> float | None:
        return lead_time_s(
            estimate, start_c, target_c, outdoor_c, margin=0.0, tolerance_c=tolerance_c
        )

    def margin_for(lead: float) -> float:
        if lead == 0.0:
            return min_margin_s
        return max(margin * lead, min_margin_s) if can_hold else 0.0

    def unreachable(start_at: float, early_s: float) -> PreconditionPlan:
        when = "start now" if start_at <= now else f"start {format_duration(early_s)} ahead"
        verb = "heating" if heating else "cooling"
        source = _source(estimate, heating)
        reason = f"unreachable at {outdoor_c:.0f} °C outdoors ({source}, full {verb}): {when}"
        return PreconditionPlan(start_at, None, 0.0, False, can_hold, reason, room_c)

    if lead_from(room_c) is None:
        early_s = min(_settle_s(estimate, heating), horizon_s)
        return unreachable(max(now, eta - early_s), early_s)
    drift = _drift(estimate, room_c, outdoor_c, setback_c)

    def fits(dt: float) -> bool:
        """Starting `dt` from now, from where the room will have drifted, leaves the lead
        and its margin before the ETA."""
        lead = lead_from(drift(dt))
        return lead is not None and now + dt + lead + margin_for(lead) <= eta

    span = eta - now
    earliest = max(0.0, span - horizon_s)
    on_time = span > 0 and fits(earliest)
    delay = _latest(fits, earliest, span) if on_time else earliest
    start_at = now + delay
    start_c = drift(delay)
    lead = lead_from(start_c)
    if lead is None:  # only after a drift the horizon imposes
        return unreachable(start_at, horizon_s)
    rule_s = margin_for(lead)
    # When on time, the margin is all the time left beyond the lead: the rule's, or more
    # when the room would drift out of reach before the rule's start (the bisection
    # leaves < 1 s on top of the rule otherwise). Late, it is the rule's, not given.
    margin_s = max(rule_s, eta - start_at - lead) if on_time else rule_s
    extra_s = margin_s - rule_s if on_time else 0.0
    if lead == 0.0:
        reason = _in_band_reason(start_at > now, margin_s, drifting=extra_s >= 60.0)
        return PreconditionPlan(start_at, 0.0, margin_s, True, can_hold, reason, start_c)
    reason = f"{_source(estimate, start_c < target_c)} {format_duration(lead)}"
    if abs(start_c - room_c) >= 0.1:
        reason += f" from {start_c:.1f} °C"
    if can_hold:
        reason += f" + {margin * 100:.0f} % margin ({format_duration(rule_s)})"
    else:
        reason += f", no margin: band not holdable at {outdoor_c:.0f} °C outdoors"
    if extra_s >= 60.0:
        reason += f" + {format_duration(extra_s)} before it drifts out of reach"
    reason += _timing(now=now, eta=eta, lead=lead, start_at=start_at,
                      capped=earliest > 0 and not on_time, horizon_s=horizon_s)  # fmt: skip
    return PreconditionPlan(start_at, lead, margin_s, True, can_hold, reason, start_c)


def _in_band_reason(later: bool, margin_s: float, *, drifting: bool) -> str:
    if not later:
        return "in band: hold now"
    if drifting:
        return f"in band, drifting out: hold from {format_duration(margin_s)} ahead"
    return f"in band: hold from {format_duration(margin_s)} ahead"


def _timing(
    *,
    now: float,
    eta: float,
    lead: float,
    start_at: float,
    capped: bool,
    horizon_s: float,
) -> str:
    """The end of the reason: capped at the horizon, late, start now."""
    text = f": capped at {format_duration(horizon_s)} ahead" if capped else ""
    if start_at > now:
        return text
    if eta <= now:
        return text + ": guest due, start now"
    # Late only if even the bare lead no longer fits: eating into the margin between two
    # calls of the planner is on time.
    return text + (": late, start now" if eta - lead < now else ": start now")


def _drift(
    estimate: ThermalEstimate,
    room_c: float,
    outdoor_c: float,
    setback_c: tuple[float, float] | None,
) -> Callable[[float], float]:
    """The vacant room's temperature `dt` seconds from now: relaxing towards the outdoors
    (with the fastest plausible τ when τ is not known), stopped by the setback's edges
    (an edge the room is already beyond does not pull it back: no optimism)."""
    known = estimate.confident or estimate.tau_confident
    tau = estimate.tau_s if known else min(estimate.tau_s, PLAUSIBLE_TAU_S[0])
    low, high = setback_c if setback_c is not None else (-math.inf, math.inf)
    low, high = min(low, room_c), max(high, room_c)

    def at(dt: float) -> float:
        free = outdoor_c + (room_c - outdoor_c) * math.exp(-dt / tau)
        return min(max(free, low), high)

    return at


def _latest(fits: Callable[[float], bool], lo: float, hi: float) -> float:
    """The latest delay in [lo, hi] (to a second) that fits, given that `lo` does:
    bisection between a delay that fits and one that does not."""
    if fits(hi):
        return hi
    while hi - lo > 1.0:
        mid = 0.5 * (lo + hi)
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _source(estimate: ThermalEstimate, heating: bool) -> str:
    if estimate.samples == 0:
        return "never seen: conservative prior"
    if not estimate.confident_for(heating):
        return "little data: conservative"
    return "learned"
