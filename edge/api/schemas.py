"""What the API shows of the twin: public models built from it, nothing else leaks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from edge.twin import RoomTwin
from shared.messages import DoorState, OccupancyState, ServiceState
from shared.topics import Device


class RoomSummary(BaseModel):
    room_id: str
    online: bool
    complete: bool = Field(description="every announced device has reported its state")
    temperature_c: float | None = None
    setpoint_c: float | None = None
    hvac_mode: str | None = None
    hvac_action: str | None = None
    occupied: bool | None = None
    door_open: bool | None = None
    dnd: bool | None = None
    mur: bool | None = None
    last_seen: float | None = None

    @classmethod
    def of(cls, room: RoomTwin) -> RoomSummary:
        thermostat = room.thermostat
        occupancy = room.state(Device.OCCUPANCY)
        door = room.state(Device.DOOR)
        service = room.state(Device.SERVICE)
        return cls(
            room_id=room.room_id,
            online=room.controller_online,
            complete=room.complete,
            temperature_c=thermostat.temperature_c if thermostat else None,
            setpoint_c=thermostat.setpoint_c if thermostat else None,
            hvac_mode=thermostat.mode.value if thermostat else None,
            hvac_action=thermostat.action.value if thermostat else None,
            occupied=occupancy.occupied if isinstance(occupancy, OccupancyState) else None,
            door_open=door.open if isinstance(door, DoorState) else None,
            dnd=service.dnd if isinstance(service, ServiceState) else None,
            mur=service.mur if isinstance(service, ServiceState) else None,
            last_seen=room.last_seen,
        )


class DeviceView(BaseModel):
    online: bool
    last_seen: float | None
    state: dict[str, Any] | None


class RoomDetail(RoomSummary):
    devices: dict[str, DeviceView]

    @classmethod
    def detail(cls, room: RoomTwin) -> RoomDetail:
        devices = {
            str(device): DeviceView(
                online=room.device_online(device),
                last_seen=twin.last_seen,
                state=twin.state.model_dump(mode="json") if twin.state is not None else None,
            )
            for device, twin in room.devices.items()
        }
        return cls(**RoomSummary.of(room).model_dump(), devices=devices)


class CommandRequest(BaseModel):
    device: str = Field(examples=["thermostat"])
    params: dict[str, Any] = Field(examples=[{"mode": "cool", "setpoint_c": 22.0}])


class Health(BaseModel):
    status: str
    property_id: str
    broker_connected: bool
    rooms: int
    rooms_online: int
    rooms_complete: int
    commands_pending: int
    faults: list[str] = Field(default_factory=list, description="what stopped and why")
