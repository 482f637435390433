"""When to bring a vacant room to comfort before a guest arrives (issue 6).

The arrival planner calls `plan_preconditioning` for a room with a known ETA, again and
again (every few minutes, with the room's latest reading and a fresh ETA) until the
returned ``start_at`` is reached; then it puts the room to comfort (AUTO at the target)
and stops asking. Until then the vacant room stays in its eco setback. Re-calling makes
the plan follow the room's drift in setback, the outdoor temperature and ETA changes.

Pure code: no I/O, no clock; times are POSIX seconds passed in.

Timing
------
``lead_s`` is the learned time for full power to bring the room from ``room_c`` into
``target ± tolerance_c`` (`edge.arrival.thermal.lead_time_s` without its own margin:
it aims a little inside the band, and answers conservatively for an estimate that is not
confident in this direction). On top of it comes a stated margin for the estimate's
error::

    margin_s = max(margin · lead_s, min_margin_s)         (20 % but at least 10 min)
    start_at = max(now, eta − (lead_s + margin_s))         (horizon_s at most)

so the HVAC never starts earlier than ``lead_s + margin_s`` before the ETA, the bound the
acceptance test checks. ``start_at == now`` means "start now"; the reason says "late"
when the ETA is closer than the bare lead (the room will likely not be ready in time).
A room already in the band gets ``lead_s = 0`` and starts ``min_margin_s`` before the
ETA, so that it is held there, not left to drift out.

Three cases leave the rule:

* **Unreachable** (``lead_s is None``): full power at this outdoor temperature settles
  short of the band (or, for an unconfident estimate, might). No lead is long enough;
  the room starts at ``eta − settle`` where ``settle`` is three time constants of the
  estimate (95 % of the way to where full power settles; the slowest plausible τ when
  the estimate is not confident), capped at ``horizon_s``; ``margin_s = 0``.
* **Beyond the horizon**: ``lead_s + margin_s`` longer than ``horizon_s`` (only a
  conservative prior gets there) starts ``horizon_s`` before the ETA and says so.
* **Reachable but not holdable** (`holdable` is False): full power brings the room into
  the band but the other direction cannot keep it there, so starting early only lets it
  drift out again: ``margin_s = 0`` and the room starts ``lead_s`` before the ETA.

``reason`` is one line for a front-desk screen.
"""

from __future__ import annotations

import math
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
    ``reason``: one line for the front desk.
    """

    start_at: float
    lead_s: float | None
    margin_s: float
    reachable: bool
    holdable: bool
    reason: str

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
) -> PreconditionPlan:
    """The plan for one room (see the module docstring for the rule).

    `estimate`: the room's learned response (`ThermalEstimator.estimate()`). `room_c`:
    its latest reading. `outdoor_c`: the outdoor temperature expected over the coming
    hours until the ETA (a forecast mean, or the current reading). `margin`: relative
    margin on the lead time; `min_margin_s`: its floor in seconds; `horizon_s`: the
    earliest a room is ever started before its ETA (bounds unreachable rooms).
    """
    values = (now, eta, room_c, target_c, outdoor_c, margin, min_margin_s, horizon_s, tolerance_c)
    if not all(map(math.isfinite, values)):
        raise ValueError("plan_preconditioning needs finite numbers")
    if margin < 0 or min_margin_s < 0 or horizon_s <= 0 or tolerance_c <= 0:
        raise ValueError("margin and min_margin_s must be >= 0, horizon_s and tolerance_c > 0")
    heating = room_c < target_c
    lead = lead_time_s(estimate, room_c, target_c, outdoor_c, margin=0.0, tolerance_c=tolerance_c)
    can_hold = holdable(estimate, target_c, outdoor_c, tolerance_c=tolerance_c)
    source = _source(estimate, heating)
    if lead is None:
        early_s = min(_settle_s(estimate, heating), horizon_s)
        start_at = max(now, eta - early_s)
        when = "start now" if start_at <= now else f"start {format_duration(early_s)} ahead"
        verb = "heating" if heating else "cooling"
        reason = f"unreachable at {outdoor_c:.0f} °C outdoors ({source}, full {verb}): {when}"
        return PreconditionPlan(start_at, None, 0.0, False, can_hold, reason)
    if lead == 0.0:
        margin_s = min_margin_s
        start_at = max(now, eta - margin_s)
        hold = "hold now" if start_at <= now else f"hold from {format_duration(margin_s)} ahead"
        return PreconditionPlan(start_at, 0.0, margin_s, True, can_hold, f"in band: {hold}")
    if can_hold:
        margin_s = max(margin * lead, min_margin_s)
        reason = (
            f"{source} {format_duration(lead)} + {margin * 100:.0f} % margin"
            f" ({format_duration(margin_s)})"
        )
    else:
        margin_s = 0.0
        reason = (
            f"{source} {format_duration(lead)}, no margin:"
            f" band not holdable at {outdoor_c:.0f} °C outdoors"
        )
    start_at = max(now, eta - min(lead + margin_s, horizon_s))
    if lead + margin_s > horizon_s:
        reason += f": capped at {format_duration(horizon_s)} ahead"
    if start_at <= now:
        if eta <= now:
            reason += ": guest due, start now"
        else:
            # Late only if even the bare lead no longer fits: eating into the margin
            # between two calls of the planner is on time.
            reason += ": late, start now" if eta - lead < now else ": start now"
    return PreconditionPlan(start_at, lead, margin_s, True, can_hold, reason)


def _source(estimate: ThermalEstimate, heating: bool) -> str:
    if estimate.samples == 0:
        return "never seen: conservative prior"
    if not estimate.confident_for(heating):
        return "little data: conservative"
    return "learned"
