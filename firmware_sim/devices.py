"""The devices of one guest room: their state, how commands change it, their messages.

Pure and synchronous: no MQTT and no clock here, so that command semantics can be
tested on their own. A command either applies completely or not at all; a refusal
names its reason, which the room echoes in the device's next state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_sim.thermal import ThermalRoom
from shared.messages import (
    CommandAck,
    ControllerState,
    CurtainsSet,
    CurtainsState,
    DeviceState,
    DoorSet,
    DoorState,
    HvacMode,
    LightScene,
    LightsSet,
    LightsState,
    MattressSet,
    MattressState,
    OccupancyState,
    ServiceSet,
    ServiceState,
    SetParams,
    ThermostatSet,
    ThermostatState,
    set_model,
)
from shared.topics import Device

__all__ = ["SCENE_LEVELS", "Lights", "RoomDevices"]

# Dimmer level each scene recalls, in percent.
SCENE_LEVELS: dict[LightScene, int] = {
    LightScene.OFF: 0,
    LightScene.WELCOME: 80,
    LightScene.BRIGHT: 100,
    LightScene.READING: 60,
    LightScene.EVENING: 40,
    LightScene.NIGHT: 10,
}
# Published temperatures are rounded like a real sensor's display; the model keeps full precision.
TEMPERATURE_DECIMALS = 2
DEFAULT_FIRMNESS = 5


@dataclass(slots=True)
class Lights:
    on: bool = False
    level: int = 0
    scene: LightScene = LightScene.OFF


@dataclass(slots=True)
class RoomDevices:
    """Everything the room's devices know; `thermal` is the thermostat and the air."""

    devices: tuple[Device, ...]
    thermal: ThermalRoom
    firmware: str
    occupied: bool = False
    last_motion: float | None = None
    door_open: bool = False
    door_locked: bool = True
    lights: Lights = field(default_factory=Lights)
    curtains_position: int = 0
    dnd: bool = False
    mur: bool = False
    firmness: int = DEFAULT_FIRMNESS
    thermostat_modes: frozenset[HvacMode] = frozenset(HvacMode)

    def has(self, device: Device) -> bool:
        return device in self.devices

    def apply(self, device: Device, params: SetParams, now: float) -> str | None:
        """Apply a command; return why it was refused, or `None` if it was applied.

        Raises `ValueError` if `params` are not `device`'s command model: `decode`
        guarantees the match for anything received, so a mismatch is a caller's bug.
        """
        try:
            expected = set_model(device)
        except KeyError:
            raise ValueError(f"device {device} takes no commands") from None
        if type(params) is not expected:
            raise ValueError(f"{type(params).__name__} is not a command for {device}")
        if not self.has(device):
            return f"this room has no {device}"
        refusal: str | None = None
        match params:
            case ThermostatSet():
                refusal = self._thermostat(params, now)
            case DoorSet():
                refusal = self._door(params)
            case LightsSet():
                refusal = self._lights(params)
            case CurtainsSet():
                if params.position is not None:
                    self.curtains_position = params.position
            case ServiceSet():
                refusal = self._service(params)
            case MattressSet():
                if params.firmness is not None:
                    self.firmness = params.firmness
            case _:  # pragma: no cover - set_model covers every device that takes commands
                raise AssertionError(f"unhandled command {params!r}")
        return refusal

    def _thermostat(self, params: ThermostatSet, now: float) -> str | None:
        # The new settings take effect now; the past ran under the old ones.
        self.thermal.advance_to(now)
        mode = params.mode if params.mode is not None else self.thermal.mode
        if mode not in self.thermostat_modes:
            return f"mode {mode.value} is not supported by this thermostat"
        setpoint = params.setpoint_c if params.setpoint_c is not None else self.thermal.setpoint_c
        self.thermal.set_control(mode, setpoint)
        return None

    def _door(self, params: DoorSet) -> str | None:
        if params.locked and self.door_open:
            return "cannot lock: the door is open"
        if params.locked is not None:
            self.door_locked = params.locked
        return None

    def _lights(self, params: LightsSet) -> str | None:
        if params.scene is LightScene.OFF and params.on:
            return "scene off contradicts on=true"
        lights = Lights(self.lights.on, self.lights.level, self.lights.scene)
        if params.scene is not None:
            lights.scene = params.scene
            lights.level = SCENE_LEVELS[params.scene]
            lights.on = params.scene is not LightScene.OFF
        if params.level is not None:
            lights.level = params.level
            lights.on = params.level > 0
        if params.on is not None:
            lights.on = params.on
        if not lights.on:
            lights.scene = LightScene.OFF  # the dimmer keeps its level for the next switch-on
        else:
            if lights.scene is LightScene.OFF:
                # Lights switched on without a scene come up in the welcome scene.
                lights.scene = LightScene.WELCOME
            if lights.level == 0:
                lights.level = SCENE_LEVELS[lights.scene]
        self.lights = lights
        return None

    def _service(self, params: ServiceSet) -> str | None:
        dnd = self.dnd if params.dnd is None else params.dnd
        mur = self.mur if params.mur is None else params.mur
        if dnd and mur:
            return "do-not-disturb and make-up-room cannot both be on"
        self.dnd, self.mur = dnd, mur
        return None

    # ---- what a guest does in the room ---------------------------------------------

    def guest_presses_service(self, *, dnd: bool | None = None, mur: bool | None = None) -> None:
        """The room's buttons: pressing one of DND/MUR on clears the other."""
        if dnd is not None:
            self.dnd = dnd
            if dnd:
                self.mur = False
        if mur is not None:
            self.mur = mur
            if mur:
                self.dnd = False

    # ---- messages ------------------------------------------------------------------

    def controller_state(self, ts: float, ack: CommandAck | None) -> ControllerState:
        return ControllerState(ts=ts, ack=ack, firmware=self.firmware, devices=self.devices)

    def state(self, device: Device, ts: float, ack: CommandAck | None) -> DeviceState:
        """The device's whole state as of `ts` (the thermal model is advanced to `ts`)."""
        message: DeviceState
        match device:
            case Device.CONTROLLER:
                message = self.controller_state(ts, ack)
            case Device.THERMOSTAT:
                self.thermal.advance_to(ts)
                message = ThermostatState(
                    ts=ts,
                    ack=ack,
                    mode=self.thermal.mode,
                    setpoint_c=self.thermal.setpoint_c,
                    temperature_c=round(self.thermal.temperature_c, TEMPERATURE_DECIMALS),
                    action=self.thermal.action,
                )
            case Device.OCCUPANCY:
                message = OccupancyState(
                    ts=ts, ack=ack, occupied=self.occupied, last_motion=self.last_motion
                )
            case Device.DOOR:
                message = DoorState(ts=ts, ack=ack, open=self.door_open, locked=self.door_locked)
            case Device.LIGHTS:
                message = LightsState(
                    ts=ts,
                    ack=ack,
                    on=self.lights.on,
                    level=self.lights.level,
                    scene=self.lights.scene,
                )
            case Device.CURTAINS:
                message = CurtainsState(ts=ts, ack=ack, position=self.curtains_position)
            case Device.SERVICE:
                message = ServiceState(ts=ts, ack=ack, dnd=self.dnd, mur=self.mur)
            case Device.MATTRESS:
                message = MattressState(ts=ts, ack=ack, firmness=self.firmness)
        return message
