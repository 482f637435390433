"""A room's thermal response, learned online from what the twin sees.

Model (first order, the same family the rooms follow; its parameters are *learned*,
never read from the simulator or any device configuration)::

    dT/dt = (T_out - T) / tau + r_u,    r_u = +r_heat heating, 0 idle, -r_cool cooling

Estimation
----------
Each pair of successive samples ``(t0, T0, u0, Tout0) → (t1, T1, u1, Tout1)`` is one
interval. Integrating the model over it is *exact*::

    T1 - T0 = k * ∫(T_out - T) dt + r_u * dt,        k = 1 / tau

which is linear in ``θ = (k, r_heat, r_cool)`` with regressors
``x = (∫(T_out - T) dt, dt·[heating], -dt·[cooling])``. Only ``∫T dt`` is not observed;
it is computed from the two endpoints *assuming the exponential path of the model with
the current estimate of k* (``_mean_on_interval``). For short intervals this is the
trapezoid rule; for long ones it is exact once ``k`` is right, so irregular sampling and
long gaps between readings do not bias the fit as a plain finite difference would.

The intervals feed an exponentially weighted least-squares fit (recursive least squares
in its information form: a 3×3 normal matrix and a right-hand side, decayed by time with
a half-life, so a room whose response changes — a new window film, a failing compressor —
is re-learned). A prior adds pseudo-observations, so a room never seen answers with the
prior and a room that never cooled keeps the prior cooling rate; the prior is not decayed.

Which intervals count:

* the action must be the same at both ends (the action reported with a sample is the
  thermostat's action from that sample on; an interval with a switch inside it has an
  unknown switch time, so it is dropped rather than guessed);
* ``dt`` must be within ``(0, max_interval_s]``; a longer gap breaks the chain (the room
  may have switched and switched back unseen); a sample older than the last one is
  ignored (telemetry is QoS 0 and may arrive late);
* the outdoor temperature over an interval is the mean of the two ends' values;
* once the estimate is confident, an interval the model misses by more than
  ``outlier_c`` is dropped (a switch and a switch back between two readings, or a bad
  reading); without this one such 15-minute interval moved τ by 40 % in a hot room.

Outdoor temperature
-------------------
The twin has no outdoor reading: every sample carries ``outdoor_c`` and the caller must
supply it from a property-level outdoor sensor or a weather feed (neither exists in the
system yet). Without it the passive drift cannot be separated from the HVAC's effect.

Pure code: no I/O, no clock (samples carry their own times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from shared.messages import HvacAction

__all__ = [
    "DEFAULT_TOLERANCE_C",
    "PLAUSIBLE_TAU_S",
    "PRIOR",
    "ThermalEstimate",
    "ThermalEstimator",
    "ThermalSample",
    "holdable",
    "lead_time_s",
]

SECONDS_PER_HOUR = 3600.0
DEFAULT_TOLERANCE_C = 0.5


@dataclass(frozen=True, slots=True)
class ThermalSample:
    """One reading of a room as the twin saw it, with the outdoor temperature then."""

    time_s: float
    temperature_c: float
    action: HvacAction  # the thermostat's action from this moment on
    outdoor_c: float


@dataclass(frozen=True, slots=True)
class ThermalEstimate:
    """The learned response of one room.

    ``confident`` means τ and both rates rest on data; ``heat_confident`` and
    ``cool_confident`` say it per direction (a room seen only in winter may be confident
    for heating and still on the prior for cooling). ``samples`` counts the intervals that
    entered the fit.
    """

    tau_s: float
    heat_rate_c_per_s: float
    cool_rate_c_per_s: float
    samples: int
    confident: bool
    heat_confident: bool = False
    cool_confident: bool = False
    tau_confident: bool = False

    def confident_for(self, heating: bool) -> bool:
        """Whether τ and the rate of this direction rest on data."""
        if self.confident:
            return True
        return self.tau_confident and (self.heat_confident if heating else self.cool_confident)


# The prior for a room never seen: slow. A weak HVAC (1.5 °C/h, below the slowest room we
# expect) and a middling τ (4 h) where the fit starts; `lead_time_s` does not trust an
# unconfident τ and takes the slowest plausible one, so an unknown room starts early.
PRIOR = ThermalEstimate(
    tau_s=4.0 * SECONDS_PER_HOUR,
    heat_rate_c_per_s=1.5 / SECONDS_PER_HOUR,
    cool_rate_c_per_s=1.5 / SECONDS_PER_HOUR,
    samples=0,
    confident=False,
)

_DRIVE = {HvacAction.HEATING: 1, HvacAction.IDLE: 0, HvacAction.COOLING: -1}


def _mean_factor(x: float) -> float:
    """g(x) = 1/(1 - e^-x) - 1/x: where the mean of an exponential path lies (0.5 at x→0)."""
    if x < 1e-4:
        return 0.5 + x / 12.0
    return 1.0 / -math.expm1(-x) - 1.0 / x


def _mean_on_interval(t0_c: float, t1_c: float, k: float, dt_s: float) -> float:
    """The time-mean of T between two endpoints of an exponential path with rate k."""
    return t0_c + (t1_c - t0_c) * _mean_factor(k * dt_s)


def _solve3(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting on a copy (a 3×3 SPD system)."""
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    n = len(m)
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


@dataclass(slots=True)
class ThermalEstimator:
    """Online estimate of one room's thermal response (see the module docstring).

    ``half_life_s``: how fast old data fades (default 14 days of room time).
    ``max_interval_s``: the longest gap between samples still used as one interval.
    ``prior_weight_s``: the prior counts as this many seconds of each kind of data
    (sampled once a minute, with a 5 °C indoor–outdoor difference for the passive part).
    ``confident_after_s``: seconds of data of a kind (after decay; for τ, weighted by the
    indoor–outdoor difference up to 5 °C) before that part is called confident.
    ``outlier_c``: once confident, an interval the model misses by more than this is
    dropped (`rejected` counts them).
    """

    prior: ThermalEstimate = PRIOR
    half_life_s: float = 14 * 86_400.0
    max_interval_s: float = 900.0
    prior_weight_s: float = 60.0
    confident_after_s: float = 1800.0
    outlier_c: float = 0.25
    _last: ThermalSample | None = None
    _a: list[list[float]] = field(default_factory=lambda: [[0.0] * 3 for _ in range(3)])
    _b: list[float] = field(default_factory=lambda: [0.0] * 3)
    _k: float = 0.0
    _theta: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _samples: int = 0
    _rejected: int = 0
    _seen: list[float] = field(default_factory=lambda: [0.0] * 3)  # decayed seconds per kind

    def __post_init__(self) -> None:
        if self.half_life_s <= 0 or self.max_interval_s <= 0 or self.prior_weight_s <= 0:
            raise ValueError("half_life_s, max_interval_s and prior_weight_s must be positive")
        self._theta = self._prior_theta()
        self._k = self._theta[0]

    def _prior_theta(self) -> tuple[float, float, float]:
        p = self.prior
        return (1.0 / p.tau_s, p.heat_rate_c_per_s, p.cool_rate_c_per_s)

    def _prior_precision(self) -> tuple[float, float, float]:
        # An interval of dt seconds adds dt² to a rate's information (x = dt); the prior
        # is worth prior_weight_s seconds of data sampled once a minute.
        w = self.prior_weight_s * 60.0
        return (25.0 * w, w, w)

    def add(self, sample: ThermalSample) -> bool:
        """Take one sample; True if it closed an interval that entered the fit."""
        if not all(map(math.isfinite, (sample.time_s, sample.temperature_c, sample.outdoor_c))):
            return False
        last = self._last
        if last is not None and sample.time_s <= last.time_s:
            return False  # late or duplicate reading: the chain goes on from the newer one
        self._last = sample
        if last is None:
            return False
        dt = sample.time_s - last.time_s
        if dt > self.max_interval_s or last.action is not sample.action:
            return False
        u = _DRIVE[last.action]
        outdoor = 0.5 * (last.outdoor_c + sample.outdoor_c)
        if self._is_outlier(last, sample, u, outdoor, dt):
            self._rejected += 1
            return False
        mean_t = _mean_on_interval(last.temperature_c, sample.temperature_c, self._k, dt)
        x = (
            (outdoor - mean_t) * dt,
            dt if u > 0 else 0.0,
            -dt if u < 0 else 0.0,
        )
        y = sample.temperature_c - last.temperature_c
        decay = 0.5 ** (dt / self.half_life_s)
        for i in range(3):
            self._b[i] = self._b[i] * decay + x[i] * y
            for j in range(3):
                self._a[i][j] = self._a[i][j] * decay + x[i] * x[j]
        self._seen[0] = self._seen[0] * decay + dt * min(abs(outdoor - mean_t) / 5.0, 1.0)
        self._seen[1] = self._seen[1] * decay + (dt if u > 0 else 0.0)
        self._seen[2] = self._seen[2] * decay + (dt if u < 0 else 0.0)
        self._samples += 1
        self._refit()
        return True

    def _is_outlier(
        self, last: ThermalSample, sample: ThermalSample, u: int, outdoor: float, dt: float
    ) -> bool:
        """Once the parts this interval depends on are confident, an interval the model
        misses by more than `outlier_c` is dropped: most likely the thermostat switched
        and switched back between two readings, or a reading is wrong."""
        need = self.confident_after_s
        if self._seen[0] < need or (u > 0 and self._seen[1] < need):
            return False
        if u < 0 and self._seen[2] < need:
            return False
        k, r_heat, r_cool = self._theta
        drive = r_heat if u > 0 else -r_cool if u < 0 else 0.0
        equilibrium = outdoor + drive / k
        predicted = equilibrium + (last.temperature_c - equilibrium) * math.exp(-k * dt)
        return abs(sample.temperature_c - predicted) > self.outlier_c

    def _refit(self) -> None:
        prior = self._prior_theta()
        precision = self._prior_precision()
        a = [row[:] for row in self._a]
        b = self._b[:]
        for i in range(3):
            a[i][i] += precision[i]
            b[i] += precision[i] * prior[i]
        k, r_heat, r_cool = _solve3(a, b)
        # Physical bounds: a room always leaks (τ ≤ 7 days) and HVAC always helps.
        k = min(max(k, 1.0 / (7 * 86_400.0)), 1.0 / 60.0)
        self._theta = (k, max(r_heat, 1e-7), max(r_cool, 1e-7))
        self._k = k

    @property
    def rejected(self) -> int:
        return self._rejected

    def estimate(self) -> ThermalEstimate:
        k, r_heat, r_cool = self._theta
        need = self.confident_after_s
        tau_ok, heat_ok, cool_ok = (seen >= need for seen in self._seen)
        return ThermalEstimate(
            tau_s=1.0 / k,
            heat_rate_c_per_s=r_heat,
            cool_rate_c_per_s=r_cool,
            samples=self._samples,
            confident=tau_ok and heat_ok and cool_ok,
            heat_confident=heat_ok,
            cool_confident=cool_ok,
            tau_confident=tau_ok,
        )


# The thermal time constants an unknown room may plausibly have. A leaky room (short τ)
# is the slow one when the outdoors works against the HVAC, an insulated one (long τ) when
# the outdoors helps; an unconfident estimate answers for the slowest of them.
PLAUSIBLE_TAU_S = tuple(2.0 * SECONDS_PER_HOUR * 1.1**i for i in range(20))  # 2 h … 12.2 h


def _time_to_band(
    tau_s: float, rate: float, start_c: float, target_c: float, outdoor_c: float, tol: float
) -> float | None:
    if start_c < target_c:
        equilibrium = outdoor_c + rate * tau_s
        edge = target_c - tol
    else:
        equilibrium = outdoor_c - rate * tau_s
        edge = target_c + tol
    if start_c == equilibrium:
        return None  # already settled outside the band
    ratio = (edge - equilibrium) / (start_c - equilibrium)
    if not 0.0 < ratio < 1.0:
        return None
    return -tau_s * math.log(ratio)


def lead_time_s(
    estimate: ThermalEstimate,
    start_c: float,
    target_c: float,
    outdoor_c: float,
    margin: float = 0.2,
    *,
    tolerance_c: float = DEFAULT_TOLERANCE_C,
) -> float | None:
    """Seconds before arrival the HVAC must start so the room is within `target ± tolerance`.

    Closed form of the first-order model at full power towards the target (heating if
    the room is below it, cooling if above) with the outdoor temperature held at
    `outdoor_c` (the forecast mean over the window)::

        T_eq = T_out ± r·τ,     t = τ · ln((start − T_eq) / (edge − T_eq))

    where `edge` is the near edge of the tolerance band. The result is scaled by
    ``1 + margin`` for the estimate's error. 0.0 if the room is already in the band.

    When the estimate is not confident for this direction (`confident_for`), the answer
    is conservative: the rate is the smaller of the estimate's and the prior's, and the
    time is the longest over the estimate's τ and every `PLAUSIBLE_TAU_S`.

    Returns ``None`` when the band is unreachable: full power at this outdoor temperature
    settles at `T_eq` short of the band. ``None`` means "no lead time is long enough":
    the planner should start as early as its horizon allows and report the room. For an
    unconfident estimate it is returned if *any* plausible τ misses the band, which is
    the conservative reading (an unseen room in a heat wave starts at once).
    """
    if margin < 0 or tolerance_c <= 0:
        raise ValueError("margin must be >= 0 and tolerance_c > 0")
    if abs(start_c - target_c) <= tolerance_c:
        return 0.0
    heating = start_c < target_c
    rate = estimate.heat_rate_c_per_s if heating else estimate.cool_rate_c_per_s
    if estimate.confident_for(heating):
        t = _time_to_band(estimate.tau_s, rate, start_c, target_c, outdoor_c, tolerance_c)
    else:
        rate = min(rate, PRIOR.heat_rate_c_per_s if heating else PRIOR.cool_rate_c_per_s)
        times = [
            _time_to_band(tau, rate, start_c, target_c, outdoor_c, tolerance_c)
            for tau in (estimate.tau_s, *PLAUSIBLE_TAU_S)
        ]
        t = None if None in times else max(t for t in times if t is not None)
    return None if t is None else t * (1.0 + margin)


def holdable(
    estimate: ThermalEstimate,
    target_c: float,
    outdoor_c: float,
    *,
    tolerance_c: float = DEFAULT_TOLERANCE_C,
) -> bool:
    """Whether the HVAC can keep the room within `target ± tolerance` at this outdoor
    temperature once there: full heating must settle above the band's low edge and full
    cooling below its high edge. A room reached but not holdable drifts out again, so
    starting early (the margin) no longer helps; the planner should time such a room
    without margin and report it.
    """
    tau = estimate.tau_s
    heat_eq = outdoor_c + estimate.heat_rate_c_per_s * tau
    cool_eq = outdoor_c - estimate.cool_rate_c_per_s * tau
    return heat_eq >= target_c - tolerance_c and cool_eq <= target_c + tolerance_c
