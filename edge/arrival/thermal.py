"""A room's thermal response, learned online from what the twin sees.

Model (first order, the same family the rooms follow; its parameters are *learned*,
never read from the simulator or any device configuration)::

    dT/dt = (T_out - T) / tau + r_u,    r_u = +r_heat heating, 0 idle, -r_cool cooling

Estimation
----------
Successive samples with the same action are joined into intervals of at least
``min_interval_s`` (10 minutes by default), ``(t0, T0) → (t1, T1)``. Integrating the
model over one is *exact*::

    T1 - T0 = k * ∫(T_out - T) dt + r_u * dt,        k = 1 / tau

which is linear in ``θ = (k, r_heat, r_cool)`` with regressors
``x = (∫(T_out - T) dt, dt·[heating], -dt·[cooling])``. Only ``∫T dt`` is not observed;
it is computed from the two endpoints *assuming the exponential path of the model with
the current estimate of k* (``_mean_on_interval``). For short intervals this is the
trapezoid rule; for long ones it is exact once ``k`` is right, so irregular sampling and
long intervals do not bias the fit as a plain finite difference would. Long intervals
are what a noisy sensor needs: the noise in ``T1 - T0`` stays the same while the change
grows with ``dt`` (the measured effect is in the module's tests and in the report).

The intervals feed an exponentially weighted least-squares fit (recursive least squares
in its information form: a 3×3 normal matrix and a right-hand side, decayed by time with
a half-life, so a room whose response changes — a new window film, a failing compressor —
is re-learned). A prior adds pseudo-observations, so a room never seen answers with the
prior and a room that never cooled keeps the prior cooling rate; the prior is not decayed.

Which intervals count:

* the action must be the same at every sample of the interval (the action reported with
  a sample is the thermostat's action from that sample on); a switch ends the interval
  without using it, since the switch time inside it is unknown, and the next one starts
  at the switch;
* two successive samples more than ``max_gap_s`` apart break the chain (the room may
  have switched and switched back unseen); a sample not newer than the last one is
  ignored (telemetry is QoS 0 and may arrive late or twice);
* the outdoor temperature over an interval is the time-mean of the samples' values;
* once the estimate is confident, an interval the model misses by more than
  ``outlier_c`` and by more than 4× the recent RMS miss is dropped (a switch and a switch
  back between two readings, or a bad reading); without this one such 15-minute
  interval moved τ by 40 % in a hot room. A fixed threshold alone is wrong for a noisy
  sensor: it rejected honest intervals and locked in an early estimate.
  More than ``max_outlier_run`` misses in a row are taken in: the room has changed.

Outdoor temperature
-------------------
Every sample carries ``outdoor_c``, which the caller supplies: the gateway takes it from
the property's weather station (`edge.arrival.learning`). Without it the passive drift
cannot be separated from the HVAC's effect.

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
    ``min_interval_s``: successive samples are joined into intervals at least this long
    (the exact form makes a long interval as good as a short one, and a sensor's noise
    then weighs less against the change it measures).
    ``max_gap_s``: the longest gap between two successive samples inside an interval.
    ``prior_weight_s``: the prior counts as this many seconds of each kind of data
    (sampled once a minute, with a 5 °C indoor–outdoor difference for the passive part).
    ``confident_after_s``: seconds of data of a kind (after decay; for τ, weighted by the
    indoor–outdoor difference up to 5 °C) before that part is called confident.
    ``outlier_c``: once confident, an interval the model misses by more than this and
    by more than 4× its usual miss (which a noisy sensor raises) is dropped (`rejected`
    counts them), but never more than ``max_outlier_run`` in a row: misses that persist
    mean the room has changed, and are learned.
    """

    prior: ThermalEstimate = PRIOR
    half_life_s: float = 14 * 86_400.0
    min_interval_s: float = 600.0
    max_gap_s: float = 900.0
    prior_weight_s: float = 60.0
    confident_after_s: float = 1800.0
    outlier_c: float = 0.25
    max_outlier_run: int = 3
    _last: ThermalSample | None = None
    _anchor: ThermalSample | None = None
    _outdoor_integral: float = 0.0
    _a: list[list[float]] = field(default_factory=lambda: [[0.0] * 3 for _ in range(3)])
    _b: list[float] = field(default_factory=lambda: [0.0] * 3)
    _k: float = 0.0
    _theta: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _samples: int = 0
    _rejected: int = 0
    _outlier_run: int = 0
    _miss_var: float = 0.0  # exponentially weighted mean square miss of accepted intervals
    _seen: list[float] = field(default_factory=lambda: [0.0] * 3)  # decayed seconds per kind

    def __post_init__(self) -> None:
        if min(self.half_life_s, self.max_gap_s, self.prior_weight_s) <= 0:
            raise ValueError("half_life_s, max_gap_s and prior_weight_s must be positive")
        if self.min_interval_s < 0:
            raise ValueError("min_interval_s must be >= 0")
        self._theta = self._prior_theta()
        self._k = self._theta[0]
        self._miss_var = (self.outlier_c / 4.0) ** 2

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
        anchor = self._anchor
        if last is None or anchor is None:
            self._restart(sample)
            return False
        if sample.time_s - last.time_s > self.max_gap_s or last.action is not sample.action:
            # A gap or a switch: what was gathered up to the last sample is an interval of
            # one action (if any), and the next one starts here.
            fitted = False
            if last.time_s > anchor.time_s:
                span = last.time_s - anchor.time_s
                fitted = self._fit_interval(anchor, last, self._outdoor_integral / span, span)
            self._restart(sample)
            return fitted
        self._outdoor_integral += (
            0.5 * (last.outdoor_c + sample.outdoor_c) * (sample.time_s - last.time_s)
        )
        dt = sample.time_s - anchor.time_s
        if dt < self.min_interval_s:
            return False
        outdoor = self._outdoor_integral / dt
        self._restart(sample)
        return self._fit_interval(anchor, sample, outdoor, dt)

    def _restart(self, sample: ThermalSample) -> None:
        self._anchor = sample
        self._outdoor_integral = 0.0

    def _fit_interval(
        self, last: ThermalSample, sample: ThermalSample, outdoor: float, dt: float
    ) -> bool:
        u = _DRIVE[last.action]
        miss = self._miss(last, sample, u, outdoor, dt)
        if miss is not None:
            # Misses beyond the floor and 4× the usual miss (a noisy sensor) are glitches…
            if miss > max(self.outlier_c, 4.0 * math.sqrt(self._miss_var)):
                if self._outlier_run < self.max_outlier_run:
                    self._outlier_run += 1
                    self._rejected += 1
                    return False
                # …unless they go on: then the room has changed; learn it.
            else:
                self._outlier_run = 0
            self._miss_var += 0.05 * (
                min(miss, 4.0 * math.sqrt(self._miss_var)) ** 2 - self._miss_var
            )
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

    def _miss(
        self, last: ThermalSample, sample: ThermalSample, u: int, outdoor: float, dt: float
    ) -> float | None:
        """How far the model misses this interval, once the parts it depends on are
        confident (None before): a large miss is most likely a switch and a switch back
        between two readings, or a wrong reading."""
        need = self.confident_after_s
        if self._seen[0] < need or (u > 0 and self._seen[1] < need):
            return None
        if u < 0 and self._seen[2] < need:
            return None
        k, r_heat, r_cool = self._theta
        drive = r_heat if u > 0 else -r_cool if u < 0 else 0.0
        equilibrium = outdoor + drive / k
        predicted = equilibrium + (last.temperature_c - equilibrium) * math.exp(-k * dt)
        return abs(sample.temperature_c - predicted)

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


def _time_to(tau_s: float, equilibrium_c: float, start_c: float, edge_c: float) -> float | None:
    if start_c == equilibrium_c:
        return None  # already settled outside the band
    ratio = (edge_c - equilibrium_c) / (start_c - equilibrium_c)
    if not 0.0 < ratio < 1.0:
        return None
    return -tau_s * math.log(ratio)


def _time_to_band(
    tau_s: float,
    rate: float,
    start_c: float,
    target_c: float,
    outdoor_c: float,
    tol: float,
    inside_c: float,
) -> float | None:
    """Full power towards the target: the time to `inside_c` within the band's near edge,
    or to the edge itself if that point is out of reach; None if the edge is."""
    sign = 1.0 if start_c < target_c else -1.0
    equilibrium = outdoor_c + sign * rate * tau_s
    edge = target_c - sign * tol
    to_edge = _time_to(tau_s, equilibrium, start_c, edge)
    if to_edge is None:
        return None
    to_inside = _time_to(tau_s, equilibrium, start_c, edge + sign * inside_c)
    return to_edge if to_inside is None else to_inside


def lead_time_s(
    estimate: ThermalEstimate,
    start_c: float,
    target_c: float,
    outdoor_c: float,
    margin: float = 0.2,
    *,
    tolerance_c: float = DEFAULT_TOLERANCE_C,
    inside_c: float = 0.25,
) -> float | None:
    """Seconds before arrival the HVAC must start so the room is within `target ± tolerance`.

    Closed form of the first-order model at full power towards the target (heating if
    the room is below it, cooling if above) with the outdoor temperature held at
    `outdoor_c` (the forecast mean over the window)::

        T_eq = T_out ± r·τ,     t = τ · ln((start − T_eq) / (edge − T_eq))

    where `edge` is the near edge of the tolerance band, moved `inside_c` into the band
    (or the edge itself if that point is out of reach). The result is scaled by
    ``1 + margin`` for the estimate's error. The two margins cover different cases: the
    time margin a rate or τ off by some percent, the temperature margin a room whose HVAC
    barely copes, where the time to the edge grows without bound as the equilibrium nears
    it and a small error in the estimate makes the room late (seen with a noisy sensor
    in a hot climate). 0.0 if the room is already in the band.

    When the estimate is not confident for this direction (`confident_for`), the answer
    is conservative: the rate is the smaller of the estimate's and the prior's, and the
    time is the longest over the estimate's τ and every `PLAUSIBLE_TAU_S`.

    Returns ``None`` when the band is unreachable: full power at this outdoor temperature
    settles at `T_eq` short of the band. ``None`` means "no lead time is long enough":
    the planner should start as early as its horizon allows and report the room. For an
    unconfident estimate it is returned if *any* plausible τ misses the band, which is
    the conservative reading (an unseen room in a heat wave starts at once).
    """
    if margin < 0 or tolerance_c <= 0 or not 0 <= inside_c < tolerance_c:
        raise ValueError("margin must be >= 0, tolerance_c > 0, 0 <= inside_c < tolerance_c")
    if abs(start_c - target_c) <= tolerance_c:
        return 0.0
    heating = start_c < target_c
    rate = estimate.heat_rate_c_per_s if heating else estimate.cool_rate_c_per_s
    if estimate.confident_for(heating):
        t = _time_to_band(estimate.tau_s, rate, start_c, target_c, outdoor_c, tolerance_c, inside_c)
    else:
        rate = min(rate, PRIOR.heat_rate_c_per_s if heating else PRIOR.cool_rate_c_per_s)
        times = [
            _time_to_band(tau, rate, start_c, target_c, outdoor_c, tolerance_c, inside_c)
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
