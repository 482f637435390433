"""Room temperature physics: a first-order model integrated in closed form.

    dT/dt = (T_out - T) / tau + r * u,    u = +1 heating, 0 idle, -1 cooling

While T_out and u are constant the solution is exact:

    T(t) = T_eq + (T0 - T_eq) * exp(-t / tau),    T_eq = T_out + r * u * tau

The thermostat changes u only at the edges of its band, and the instant the
temperature reaches an edge has a closed form too, so `ThermalRoom.advance_to` splits
a step exactly there. The outdoor temperature is piecewise constant over slots aligned
to absolute time. Together this makes the result independent of how time is chopped
into steps: one step of a day equals 1,440 steps of a minute (up to rounding), which
is what lets an accelerated clock take big steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.messages import HvacAction, HvacMode

__all__ = [
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "ControlBand",
    "OutdoorTemperature",
    "ThermalParams",
    "ThermalRoom",
    "control_band",
    "next_action",
    "relax",
    "time_to_reach",
]

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0
# One advance never needs more than a few segments per thermostat cycle; this bound only
# turns a logic error into an exception instead of a hang.
MAX_SEGMENTS_PER_ADVANCE = 1_000_000

_DRIVE = {HvacAction.HEATING: 1.0, HvacAction.IDLE: 0.0, HvacAction.COOLING: -1.0}


@dataclass(frozen=True, slots=True)
class ThermalParams:
    """The physics of one room."""

    tau_s: float  # thermal time constant: how fast the room follows the outdoors
    hvac_rate_c_per_s: float  # rate of change at full power, losses aside
    hvac_power_w: float  # electrical power while heating or cooling

    def __post_init__(self) -> None:
        if self.tau_s <= 0 or self.hvac_rate_c_per_s <= 0 or self.hvac_power_w < 0:
            raise ValueError(f"thermal parameters must be positive: {self}")


@dataclass(frozen=True, slots=True)
class ControlBand:
    """Heat from `heat_on` up to `heat_off`; cool from `cool_on` down to `cool_off`.

    `None` disables that side. The gaps between the on and off edges are the hysteresis
    that keeps the HVAC from chattering.
    """

    heat_on: float | None = None
    heat_off: float | None = None
    cool_on: float | None = None
    cool_off: float | None = None


def control_band(
    mode: HvacMode,
    setpoint_c: float,
    deadband_c: float,
    eco_low_c: float,
    eco_high_c: float,
    standby_c: tuple[float, float] | None = None,
) -> ControlBand:
    """`standby_c`: the unsold-room band; a thermostat without one holds its eco band."""
    match mode:
        case HvacMode.OFF:
            return ControlBand()
        case HvacMode.HEAT:
            return ControlBand(heat_on=setpoint_c - deadband_c, heat_off=setpoint_c + deadband_c)
        case HvacMode.COOL:
            return ControlBand(cool_on=setpoint_c + deadband_c, cool_off=setpoint_c - deadband_c)
        case HvacMode.AUTO:
            # Both sides recover to the setpoint itself, so heating never hands over to
            # cooling at the same temperature.
            return ControlBand(
                heat_on=setpoint_c - deadband_c,
                heat_off=setpoint_c,
                cool_on=setpoint_c + deadband_c,
                cool_off=setpoint_c,
            )
        case HvacMode.ECO:
            return _setback(eco_low_c, eco_high_c, deadband_c)
        case HvacMode.STANDBY:
            low, high = standby_c if standby_c is not None else (eco_low_c, eco_high_c)
            return _setback(low, high, deadband_c)
    raise AssertionError(f"unhandled mode {mode}")  # pragma: no cover - HvacMode is exhaustive


def _setback(low_c: float, high_c: float, deadband_c: float) -> ControlBand:
    return ControlBand(
        heat_on=low_c - deadband_c,
        heat_off=low_c + deadband_c,
        cool_on=high_c + deadband_c,
        cool_off=high_c - deadband_c,
    )


def next_action(band: ControlBand, temperature_c: float, action: HvacAction) -> HvacAction:
    """The thermostat's decision at `temperature_c`, given what it is doing now."""
    if action is HvacAction.HEATING and band.heat_off is not None and temperature_c < band.heat_off:
        return HvacAction.HEATING
    if action is HvacAction.COOLING and band.cool_off is not None and temperature_c > band.cool_off:
        return HvacAction.COOLING
    if band.heat_on is not None and temperature_c <= band.heat_on:
        return HvacAction.HEATING
    if band.cool_on is not None and temperature_c >= band.cool_on:
        return HvacAction.COOLING
    return HvacAction.IDLE


def relax(temperature_c: float, equilibrium_c: float, tau_s: float, dt_s: float) -> float:
    """The exact temperature after `dt_s` seconds of relaxing towards `equilibrium_c`."""
    return equilibrium_c + (temperature_c - equilibrium_c) * math.exp(-dt_s / tau_s)


def time_to_reach(
    temperature_c: float, equilibrium_c: float, tau_s: float, target_c: float
) -> float:
    """Seconds until the temperature reaches `target_c`; infinity if it never does.

    The temperature approaches `equilibrium_c` without reaching it, so only a target
    strictly between the two (or the current temperature itself) is ever reached.
    """
    if target_c == temperature_c:
        return 0.0
    if temperature_c == equilibrium_c:
        return math.inf
    ratio = (target_c - equilibrium_c) / (temperature_c - equilibrium_c)
    if not 0.0 < ratio < 1.0:
        return math.inf
    return -tau_s * math.log(ratio)


class OutdoorTemperature:
    """A property's outdoor temperature: a mean plus an optional daily sinusoid.

    The sinusoid is sampled at the middle of fixed slots aligned to absolute time and
    held over the slot, so that the room physics can be integrated exactly.
    """

    def __init__(
        self,
        mean_c: float,
        daily_amplitude_c: float = 0.0,
        coldest_hour: float = 5.0,
        resolution_s: float = 300.0,
    ) -> None:
        if resolution_s <= 0:
            raise ValueError("resolution_s must be positive")
        self.mean_c = mean_c
        self.daily_amplitude_c = daily_amplitude_c
        self.coldest_hour = coldest_hour
        self.resolution_s = resolution_s

    @property
    def constant(self) -> bool:
        return self.daily_amplitude_c == 0.0

    def at(self, t: float) -> float:
        if self.constant:
            return self.mean_c
        middle = (math.floor(t / self.resolution_s) + 0.5) * self.resolution_s
        phase = 2 * math.pi * (middle - self.coldest_hour * SECONDS_PER_HOUR) / SECONDS_PER_DAY
        return self.mean_c - self.daily_amplitude_c * math.cos(phase)

    def slot_end(self, t: float) -> float:
        """When the value at `t` next changes."""
        if self.constant:
            return math.inf
        end = (math.floor(t / self.resolution_s) + 1) * self.resolution_s
        # Rounding in the division may land on `t` itself; never return an empty slot.
        return end if end > t else end + self.resolution_s


class ThermalRoom:
    """The air of one room, its HVAC unit and the thermostat that drives it."""

    def __init__(
        self,
        params: ThermalParams,
        outdoor: OutdoorTemperature,
        *,
        temperature_c: float,
        time_s: float,
        mode: HvacMode,
        setpoint_c: float,
        deadband_c: float,
        eco_low_c: float,
        eco_high_c: float,
        standby_c: tuple[float, float] | None = None,
    ) -> None:
        self.params = params
        self.outdoor = outdoor
        self.temperature_c = temperature_c
        self.time_s = time_s
        self.energy_j = 0.0
        self._deadband_c = deadband_c
        self._eco = (eco_low_c, eco_high_c)
        self._standby = standby_c
        self._mode = mode
        self._setpoint_c = setpoint_c
        self._band = control_band(mode, setpoint_c, deadband_c, eco_low_c, eco_high_c, standby_c)
        self.action = next_action(self._band, temperature_c, HvacAction.IDLE)

    @property
    def mode(self) -> HvacMode:
        return self._mode

    @property
    def setpoint_c(self) -> float:
        return self._setpoint_c

    @property
    def power_w(self) -> float:
        return 0.0 if self.action is HvacAction.IDLE else self.params.hvac_power_w

    def set_control(self, mode: HvacMode, setpoint_c: float) -> None:
        """Change the thermostat's settings (advance to the moment first)."""
        self._mode = mode
        self._setpoint_c = setpoint_c
        self._band = control_band(mode, setpoint_c, self._deadband_c, *self._eco, self._standby)
        self.action = next_action(self._band, self.temperature_c, self.action)

    def advance_to(self, t: float) -> None:
        """Integrate exactly up to hotel time `t`; earlier times are ignored."""
        params = self.params
        segments = 0
        while self.time_s < t:
            segments += 1
            if segments > MAX_SEGMENTS_PER_ADVANCE:
                raise RuntimeError(f"thermal model did not converge advancing to {t}")
            # Re-decide at every segment start: rounding may leave the temperature a hair
            # past an edge, and the decision must follow the temperature, not the plan.
            self.action = next_action(self._band, self.temperature_c, self.action)
            outdoor_c = self.outdoor.at(self.time_s)
            end = min(t, self.outdoor.slot_end(self.time_s))
            equilibrium = outdoor_c + params.hvac_rate_c_per_s * _DRIVE[self.action] * params.tau_s
            dt = end - self.time_s
            edge = self._switching_edge(equilibrium)
            to_edge = (
                math.inf
                if edge is None
                else time_to_reach(self.temperature_c, equilibrium, params.tau_s, edge)
            )
            self.energy_j += self.power_w * min(dt, to_edge)
            if edge is not None and to_edge <= dt:
                self.temperature_c = edge
                self.time_s += to_edge
                self.action = next_action(self._band, edge, self.action)
            else:
                self.temperature_c = relax(self.temperature_c, equilibrium, params.tau_s, dt)
                self.time_s = end
        self.action = next_action(self._band, self.temperature_c, self.action)

    def _switching_edge(self, equilibrium_c: float) -> float | None:
        """The band edge at which the current action would change, on the current drift."""
        band = self._band
        match self.action:
            case HvacAction.HEATING:
                return band.heat_off
            case HvacAction.COOLING:
                return band.cool_off
            case HvacAction.IDLE:
                if equilibrium_c < self.temperature_c:
                    return band.heat_on
                if equilibrium_c > self.temperature_c:
                    return band.cool_on
                return None
        raise AssertionError(f"unhandled action {self.action}")  # pragma: no cover
