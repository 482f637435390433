"""The payloads of the MQTT contract, one pydantic model per device and channel.

Every payload is JSON carrying a schema version ``v``. `decode` turns a topic and
the raw bytes into a typed `Inbound` or a `Rejection` naming the reason; it never
raises for bad input, so a receiver counts and drops and keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from shared.topics import Channel, Device, RoomTopic, TopicError, parse_topic

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_VERSION",
    "CommandAck",
    "CommandId",
    "ControllerState",
    "CurtainsSet",
    "CurtainsState",
    "DeviceState",
    "DoorSet",
    "DoorState",
    "HvacAction",
    "HvacMode",
    "Inbound",
    "LightScene",
    "LightsSet",
    "LightsState",
    "MattressSet",
    "MattressState",
    "Message",
    "OccupancyState",
    "OccupancyTelemetry",
    "RejectReason",
    "Rejection",
    "ServiceSet",
    "ServiceState",
    "SetCommand",
    "SetParams",
    "Status",
    "StatusMessage",
    "Telemetry",
    "ThermostatSet",
    "ThermostatState",
    "ThermostatTelemetry",
    "WeatherTelemetry",
    "command_model",
    "decode",
    "encode",
    "set_model",
    "settable_devices",
    "state_model",
]

SCHEMA_VERSION: Final = 1
MAX_PAYLOAD_BYTES = 16 * 1024

CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Celsius = Annotated[float, Field(ge=-40.0, le=80.0)]
Setpoint = Annotated[float, Field(ge=5.0, le=35.0)]
Percent = Annotated[int, Field(ge=0, le=100)]
Firmness = Annotated[int, Field(ge=1, le=10)]


class Message(BaseModel):
    """Base of every payload: frozen, strict, no unknown fields, versioned."""

    # NaN and infinities are not readings: refuse them at the boundary.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    # A payload without `v` is read as version 1, the first schema; later versions must
    # carry their number.
    v: Literal[1] = SCHEMA_VERSION


class HvacMode(StrEnum):
    OFF = "off"
    HEAT = "heat"
    COOL = "cool"
    AUTO = "auto"
    ECO = "eco"  # setback: hold the room within a wide band to save energy
    # Unsold room: a deeper setback that only protects the building (hotel systems'
    # "unsold" mode); the gateway brings the room back in time for its next guest. A
    # thermostat without a standby band holds its eco band.
    STANDBY = "standby"


class HvacAction(StrEnum):
    IDLE = "idle"
    HEATING = "heating"
    COOLING = "cooling"


class LightScene(StrEnum):
    OFF = "off"
    WELCOME = "welcome"
    BRIGHT = "bright"
    READING = "reading"
    EVENING = "evening"
    NIGHT = "night"


class Status(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class StatusMessage(Message):
    """Retained on ``status``; the room controller's last will says offline."""

    state: Status
    ts: float | None = None


class CommandAck(BaseModel):
    """The device's answer to a command, echoed in its next retained state."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    command_id: CommandId
    applied: bool
    reason: str | None = Field(default=None, max_length=200)


# ---- state (retained, the device's whole current state) ----------------------------


class DeviceState(Message):
    ts: float
    ack: CommandAck | None = None


class ControllerState(DeviceState):
    firmware: Annotated[str, Field(max_length=40)]
    devices: tuple[Device, ...]


class ThermostatState(DeviceState):
    mode: HvacMode
    setpoint_c: Setpoint
    temperature_c: Celsius
    action: HvacAction


class OccupancyState(DeviceState):
    occupied: bool
    last_motion: float | None = None


class DoorState(DeviceState):
    open: bool
    locked: bool


class LightsState(DeviceState):
    on: bool
    level: Percent
    scene: LightScene


class CurtainsState(DeviceState):
    position: Percent  # 0 closed, 100 open


class ServiceState(DeviceState):
    dnd: bool
    mur: bool


class MattressState(DeviceState):
    firmness: Firmness


# ---- telemetry (QoS 0 readings between state changes) -------------------------------


class Telemetry(Message):
    ts: float


class ThermostatTelemetry(Telemetry):
    temperature_c: Celsius
    hvac_power_w: Annotated[float, Field(ge=0.0, le=20_000.0)]


class OccupancyTelemetry(Telemetry):
    motion: bool


class WeatherTelemetry(Telemetry):
    """The property's outdoor temperature, from its weather station (`topics.SITE_ID`)."""

    outdoor_c: Celsius


# ---- commands ----------------------------------------------------------------------


class SetParams(BaseModel):
    """What a command changes; every field optional, at least one given."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _not_empty(self) -> SetParams:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("a command must change at least one field")
        return self


class ThermostatSet(SetParams):
    mode: HvacMode | None = None
    setpoint_c: Setpoint | None = None


class DoorSet(SetParams):
    locked: bool | None = None


class LightsSet(SetParams):
    on: bool | None = None
    level: Percent | None = None
    scene: LightScene | None = None


class CurtainsSet(SetParams):
    position: Percent | None = None


class ServiceSet(SetParams):
    dnd: bool | None = None
    mur: bool | None = None


class MattressSet(SetParams):
    firmness: Firmness | None = None


P = TypeVar("P", bound=SetParams)


class SetCommand(Message, Generic[P]):
    command_id: CommandId
    ts: float
    params: P


_STATE: dict[Device, type[DeviceState]] = {
    Device.CONTROLLER: ControllerState,
    Device.THERMOSTAT: ThermostatState,
    Device.OCCUPANCY: OccupancyState,
    Device.DOOR: DoorState,
    Device.LIGHTS: LightsState,
    Device.CURTAINS: CurtainsState,
    Device.SERVICE: ServiceState,
    Device.MATTRESS: MattressState,
}
_TELEMETRY: dict[Device, type[Telemetry]] = {
    Device.THERMOSTAT: ThermostatTelemetry,
    Device.OCCUPANCY: OccupancyTelemetry,
    Device.WEATHER: WeatherTelemetry,
}
_SET: dict[Device, type[SetParams]] = {
    Device.THERMOSTAT: ThermostatSet,
    Device.DOOR: DoorSet,
    Device.LIGHTS: LightsSet,
    Device.CURTAINS: CurtainsSet,
    Device.SERVICE: ServiceSet,
    Device.MATTRESS: MattressSet,
}
_SET_COMMAND: dict[Device, type[SetCommand[Any]]] = {
    Device.THERMOSTAT: SetCommand[ThermostatSet],
    Device.DOOR: SetCommand[DoorSet],
    Device.LIGHTS: SetCommand[LightsSet],
    Device.CURTAINS: SetCommand[CurtainsSet],
    Device.SERVICE: SetCommand[ServiceSet],
    Device.MATTRESS: SetCommand[MattressSet],
}


def settable_devices() -> tuple[Device, ...]:
    return tuple(_SET)


def state_model(device: Device) -> type[DeviceState]:
    return _STATE[device]


def command_model(device: Device) -> type[SetCommand[Any]]:
    """The whole command model of `device`; `KeyError` if it takes none."""
    return _SET_COMMAND[device]


def set_model(device: Device) -> type[SetParams]:
    """The params model of `device`'s commands; `KeyError` if it takes none."""
    return _SET[device]


# ---- decoding ----------------------------------------------------------------------


class RejectReason(StrEnum):
    OVERSIZE = "oversize"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_CHANNEL = "unknown_channel"
    NOT_JSON = "not_json"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA = "schema"


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: RoomTopic
    message: Message


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str
    topic: str


_TOPIC_REASONS = {
    "bad_topic": RejectReason.BAD_TOPIC,
    "unknown_device": RejectReason.UNKNOWN_DEVICE,
    "unknown_channel": RejectReason.UNKNOWN_CHANNEL,
}


def _model_for(topic: RoomTopic) -> type[Message] | None:
    match topic.channel:
        case Channel.STATE:
            return _STATE.get(topic.device)
        case Channel.STATUS:
            return StatusMessage
        case Channel.TELEMETRY:
            return _TELEMETRY.get(topic.device)
        case Channel.SET:
            return _SET_COMMAND.get(topic.device)


def decode(topic: str, payload: bytes | bytearray) -> Inbound | Rejection:
    """Validate one MQTT message; never raises for bad input."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejection(
            RejectReason.OVERSIZE, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}", topic
        )
    try:
        parsed = parse_topic(topic)
    except TopicError as exc:
        return Rejection(_TOPIC_REASONS[exc.reason], str(exc), topic)
    model = _model_for(parsed)
    if model is None:
        return Rejection(
            RejectReason.UNKNOWN_CHANNEL,
            f"device {parsed.device} has no {parsed.channel} channel",
            topic,
        )
    try:
        return Inbound(parsed, model.model_validate_json(payload))
    except ValidationError as exc:
        return _rejection(exc, topic)


def _rejection(exc: ValidationError, topic: str) -> Rejection:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return Rejection(RejectReason.NOT_JSON, first["msg"], topic)
    if first["loc"] and first["loc"][0] == "v":
        return Rejection(
            RejectReason.UNSUPPORTED_VERSION,
            f"schema version must be {SCHEMA_VERSION}: {first['msg']}",
            topic,
        )
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return Rejection(RejectReason.SCHEMA, f"{where}: {first['msg']}", topic)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=False).encode()
