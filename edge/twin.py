"""The room twin: what the gateway knows of every device of every room, from MQTT alone.

It holds each device's last retained state, the latest telemetry, whether the room
controller (and each device) is online, and when it was last heard from. It is pure
in-memory bookkeeping, fed by the link and read by everything else; persistence of
the changes is the gateway's business (`dirty_documents`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.clock import Clock
from shared.layout import PropertyLayout
from shared.messages import (
    CommandAck,
    ControllerState,
    DeviceState,
    Message,
    Status,
    StatusMessage,
    Telemetry,
    ThermostatState,
    state_model,
)
from shared.topics import Channel, Device, RoomTopic

from .errors import UnknownRoom

log = logging.getLogger(__name__)

__all__ = ["DeviceTwin", "PropertyTwin", "RoomTwin"]


@dataclass(slots=True)
class DeviceTwin:
    state: DeviceState | None = None
    online: bool = True  # the device's own status; the room's controller status comes first
    last_seen: float | None = None


@dataclass(slots=True)
class RoomTwin:
    room_id: str
    controller_online: bool = False
    last_seen: float | None = None
    devices: dict[Device, DeviceTwin] = field(default_factory=dict)
    telemetry: dict[Device, Telemetry] = field(default_factory=dict)
    complete: bool = False  # every device the controller announced has reported its state

    def device(self, device: Device) -> DeviceTwin:
        twin = self.devices.get(device)
        if twin is None:
            twin = self.devices[device] = DeviceTwin()
        return twin

    def state(self, device: Device) -> DeviceState | None:
        twin = self.devices.get(device)
        return twin.state if twin is not None else None

    def device_online(self, device: Device) -> bool:
        twin = self.devices.get(device)
        return self.controller_online and twin is not None and twin.online

    @property
    def announced_devices(self) -> tuple[Device, ...]:
        controller = self.state(Device.CONTROLLER)
        return controller.devices if isinstance(controller, ControllerState) else ()

    @property
    def thermostat(self) -> ThermostatState | None:
        state = self.state(Device.THERMOSTAT)
        return state if isinstance(state, ThermostatState) else None

    def _check_complete(self) -> bool:
        announced = self.announced_devices
        self.complete = bool(announced) and all(
            self.state(device) is not None for device in announced
        )
        return self.complete


class PropertyTwin:
    """All rooms of one property, keyed by room id from the layout."""

    def __init__(self, layout: PropertyLayout, clock: Clock) -> None:
        self.property_id = layout.property_id
        self._clock = clock
        self._rooms = {room_id: RoomTwin(room_id) for room_id in layout.room_ids}
        self._dirty: set[tuple[str, Device]] = set()
        self.rooms_online = 0
        self.rooms_complete = 0

    @property
    def rooms(self) -> Mapping[str, RoomTwin]:
        return self._rooms

    def has_room(self, room_id: str) -> bool:
        return room_id in self._rooms

    def room(self, room_id: str) -> RoomTwin:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise UnknownRoom(self.property_id, room_id) from None

    def apply(
        self, topic: RoomTopic, message: Message, *, retained: bool = False
    ) -> CommandAck | None:
        """Take one validated message into the twin; return a command ack it carries.

        `last_seen` means "heard from": a retained copy the broker replays on every
        subscription, or the last will it publishes for a dead connection, is not the
        device speaking, so neither moves it (the offline watchers rely on that).
        """
        room = self.room(topic.room_id)
        now = self._clock.now()
        heard = not retained and not (
            isinstance(message, StatusMessage) and message.state is Status.OFFLINE
        )
        if heard:
            room.last_seen = now
        if topic.channel is Channel.STATE:
            assert isinstance(message, DeviceState)
            twin = room.device(topic.device)
            twin.state = message
            if heard:
                twin.last_seen = now
            self._dirty.add((room.room_id, topic.device))
            if not room.complete and room._check_complete():
                self.rooms_complete += 1
            return message.ack
        if topic.channel is Channel.STATUS:
            assert isinstance(message, StatusMessage)
            online = message.state is Status.ONLINE
            if topic.device is Device.CONTROLLER:
                if online != room.controller_online:
                    self.rooms_online += 1 if online else -1
                room.controller_online = online
            else:
                room.device(topic.device).online = online
            self._dirty.add((room.room_id, topic.device))
            return None
        if topic.channel is Channel.TELEMETRY:
            assert isinstance(message, Telemetry)
            room.telemetry[topic.device] = message
            if heard:
                room.device(topic.device).last_seen = now
        return None

    # ---- persistence: the gateway saves what changed and restores it at start ----

    def dirty_documents(self) -> list[dict[str, Any]]:
        """Documents for the devices changed since the last call, for the store."""
        docs = [self._document(room_id, device) for room_id, device in self._dirty]
        self._dirty.clear()
        return docs

    def _document(self, room_id: str, device: Device) -> dict[str, Any]:
        room = self._rooms[room_id]
        twin = room.device(device)
        return {
            "key": f"{room_id}/{device}",
            "room": room_id,
            "device": str(device),
            "state": twin.state.model_dump_json() if twin.state is not None else None,
            "online": room.controller_online if device is Device.CONTROLLER else twin.online,
            "last_seen": twin.last_seen,
        }

    def mark_dirty(self, documents: Iterable[Mapping[str, Any]]) -> None:
        """Put back documents whose save failed, so the next flush tries them again."""
        self._dirty.update((doc["room"], Device(doc["device"])) for doc in documents)

    def restore(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Load persisted states; rooms stay offline and incomplete until the broker
        speaks (a restored state is a hint, not news); unreadable documents are skipped,
        since the broker re-sends everything retained anyway."""
        restored = 0
        for doc in documents:
            try:
                room = self._rooms.get(doc["room"])
                if room is None:  # the layout lost a room since: nothing to restore it into
                    continue
                device = Device(doc["device"])
                state = (
                    state_model(device).model_validate_json(doc["state"])
                    if doc["state"] is not None
                    else None
                )
            except (KeyError, TypeError, ValueError) as exc:  # ValidationError is a ValueError
                log.warning("twin: skipped an unreadable stored document: %s", exc)
                continue
            twin = room.device(device)
            twin.state = state
            twin.last_seen = doc.get("last_seen")
            if device is not Device.CONTROLLER:
                twin.online = bool(doc.get("online", True))
            restored += 1
        return restored

    def __iter__(self) -> Iterator[RoomTwin]:
        return iter(self._rooms.values())
