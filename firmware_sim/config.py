"""Configuration of a simulated property: timings, physics ranges, weather, guests.

All durations are hotel seconds (they go through the `Clock`) unless the name says
real seconds; temperatures are °C.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.messages import HvacMode
from shared.topics import Device

__all__ = [
    "ROOM_DEVICES",
    "BehaviourConfig",
    "OutdoorConfig",
    "SimConfig",
    "Span",
    "ThermalConfig",
]

# Every device a fully equipped guest room has; the controller itself is not listed.
ROOM_DEVICES: tuple[Device, ...] = (
    Device.THERMOSTAT,
    Device.OCCUPANCY,
    Device.DOOR,
    Device.LIGHTS,
    Device.CURTAINS,
    Device.SERVICE,
    Device.MATTRESS,
)

Positive = Annotated[float, Field(gt=0.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Span(_Frozen):
    """A closed range a per-room value is drawn from (uniformly, seeded)."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.low > self.high:
            raise ValueError(f"span low {self.low} is above high {self.high}")
        return self


class ThermalConfig(_Frozen):
    """Ranges the rooms' physics are drawn from, and the thermostat's control law."""

    tau_h: Span = Span(low=2.0, high=8.0)  # thermal time constant, hours
    hvac_rate_c_per_h: Span = Span(low=2.0, high=6.0)  # full-power heating/cooling rate
    hvac_power_w: Span = Span(low=700.0, high=2000.0)  # electrical power while running
    deadband_c: Annotated[float, Field(gt=0.0, le=5.0)] = 0.3
    eco_low_c: float = 17.0  # eco mode holds the room between these two
    eco_high_c: float = 28.0
    # standby (the unsold room) holds between these two: wide, but no frost, damp or
    # heat damage to the room
    standby_low_c: float = 12.0
    standby_high_c: float = 32.0
    # The modes the thermostat's firmware takes; an older one refuses standby.
    modes: frozenset[HvacMode] = frozenset(HvacMode)
    initial_mode: HvacMode = HvacMode.AUTO
    initial_setpoint_c: Annotated[float, Field(ge=5.0, le=35.0)] = 21.0
    initial_spread_c: Annotated[float, Field(ge=0.0, le=10.0)] = 2.0  # start at setpoint ± this

    @model_validator(mode="after")
    def _eco_band(self) -> ThermalConfig:
        if self.eco_high_c - self.eco_low_c <= 2 * self.deadband_c:
            raise ValueError("the eco band must be wider than twice the deadband")
        if not self.standby_low_c <= self.eco_low_c < self.eco_high_c <= self.standby_high_c:
            raise ValueError("the standby band must contain the eco band")
        return self


class OutdoorConfig(_Frozen):
    """The property's outdoor temperature: a mean with an optional daily sinusoid."""

    mean_c: Annotated[float, Field(ge=-40.0, le=50.0)] = 8.0
    daily_amplitude_c: Annotated[float, Field(ge=0.0, le=20.0)] = 0.0
    coldest_hour: Annotated[float, Field(ge=0.0, lt=24.0)] = 5.0  # UTC hour of the daily low
    # The sinusoid is held constant over slots of this length so that integration stays exact.
    resolution_s: Annotated[float, Field(ge=1.0, le=3600.0)] = 300.0


class BehaviourConfig(_Frozen):
    """The random guest; off by default so that tests get quiet, predictable rooms."""

    enabled: bool = False
    mean_event_interval_s: Positive = 2 * 3600.0  # between guest events in one room
    door_open_s: Positive = 15.0  # how long the door stays open when someone passes
    occupancy_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.7  # rooms occupied at start


class SimConfig(_Frozen):
    firmware: Annotated[str, Field(max_length=40)] = "staysync-sim/0.1.0"
    telemetry_interval_s: Positive = 60.0
    # How often each room advances its physics and checks whether its state must be
    # republished. The physics are exact at any step; this only bounds reporting latency.
    physics_step_s: Positive = 60.0
    state_report_delta_c: Positive = 0.1  # republish thermostat state after this much drift
    devices: tuple[Device, ...] = ROOM_DEVICES
    room_devices: dict[str, tuple[Device, ...]] = Field(default_factory=dict)  # per-room override
    recent_command_ids: Annotated[int, Field(ge=1, le=10_000)] = 64  # idempotency memory per room
    keepalive_real_s: Annotated[int, Field(ge=5, le=3600)] = 60  # MQTT keepalive, real seconds
    thermal: ThermalConfig = ThermalConfig()
    outdoor: OutdoorConfig = OutdoorConfig()
    behaviour: BehaviourConfig = BehaviourConfig()

    @model_validator(mode="after")
    def _room_devices(self) -> SimConfig:
        for devices in (self.devices, *self.room_devices.values()):
            if Device.CONTROLLER in devices:
                raise ValueError("the controller is not a room device; do not list it")
            if len(set(devices)) != len(devices):
                raise ValueError(f"device list {devices} repeats a device")
        return self

    def devices_of(self, room_id: str) -> tuple[Device, ...]:
        return self.room_devices.get(room_id, self.devices)
