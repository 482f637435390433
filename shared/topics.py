"""The MQTT topic contract: ``staysync/{property}/{room}/{device}/{channel}``.

Topics are built and parsed here and nowhere else. Identifiers are checked when a
value is created, so an invalid topic can never be published or subscribed to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = [
    "PREFIX",
    "SITE_ID",
    "Channel",
    "Device",
    "InvalidId",
    "RoomTopic",
    "TopicError",
    "UnknownChannel",
    "UnknownDevice",
    "check_id",
    "parse_topic",
    "subscription",
]

PREFIX = "staysync"
MAX_ID_LENGTH = 64
# Letters, digits, '_', '-', '.'; never MQTT's '/', '+', '#', nor whitespace or control bytes.
_ID = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_ID_LENGTH}}}")


class Channel(StrEnum):
    """The four channels of a device.

    - ``telemetry``: sensor readings, QoS 0, never retained.
    - ``state``: the device's whole current state, QoS 1, retained; its ``ack`` echoes
      the last command the device handled. The room controller's own ``state`` answers
      commands for devices the room does not have (``applied=false``).
    - ``set``: commands, QoS 1, each with a command id; **never retained**, or a broker
      would replay an old command at every reconnect and undo later changes.
    - ``status``: retained online/offline. The controller's is its last will; a device
      publishes its own only once it has gone offline on its own (a room of eight
      devices would otherwise add seven retained messages for nothing), and until then
      follows the controller's.
    """

    TELEMETRY = "telemetry"
    STATE = "state"
    SET = "set"
    STATUS = "status"


class Device(StrEnum):
    """The devices of a guest room, as its room controller exposes them."""

    CONTROLLER = "controller"  # the room controller itself: carries the room's last will
    THERMOSTAT = "thermostat"
    OCCUPANCY = "occupancy"
    DOOR = "door"
    LIGHTS = "lights"
    CURTAINS = "curtains"
    SERVICE = "service"  # do-not-disturb and make-up-room buttons
    MATTRESS = "mattress"
    # Not in a guest room: the property's weather station, under the reserved room id
    # `SITE_ID` (staysync/<property>/site/weather/telemetry), telemetry only.
    WEATHER = "weather"


SITE_ID = "site"  # the reserved "room" of property-wide sensors; no guest room has this id


class TopicError(ValueError):
    """A topic that is not part of the contract."""

    reason = "bad_topic"


class InvalidId(TopicError):
    """An identifier that cannot stand in a topic."""


class UnknownDevice(TopicError):
    reason = "unknown_device"


class UnknownChannel(TopicError):
    reason = "unknown_channel"


def check_id(value: str, what: str = "id") -> str:
    """Return `value` if it may stand in a topic, else raise `InvalidId` saying why."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidId(
            f"{what} {value!r} must be 1-{MAX_ID_LENGTH} characters: "
            "letters, digits, '_', '-' or '.'"
        )
    return value


@dataclass(frozen=True, slots=True)
class RoomTopic:
    """One concrete topic of one device of one room."""

    property_id: str
    room_id: str
    device: Device
    channel: Channel

    def __post_init__(self) -> None:
        check_id(self.property_id, "property id")
        check_id(self.room_id, "room id")
        object.__setattr__(self, "device", Device(self.device))
        object.__setattr__(self, "channel", Channel(self.channel))

    def __str__(self) -> str:
        return f"{PREFIX}/{self.property_id}/{self.room_id}/{self.device}/{self.channel}"

    def with_channel(self, channel: Channel) -> RoomTopic:
        return RoomTopic(self.property_id, self.room_id, self.device, channel)


@lru_cache(maxsize=131_072)  # a 3,000-room property has about 24,000 devices x 4 channels
def parse_topic(topic: str) -> RoomTopic:
    """Parse a concrete topic; raise a `TopicError` subclass naming what is wrong."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != PREFIX:
        raise TopicError(f"topic {topic!r} is not {PREFIX}/<property>/<room>/<device>/<channel>")
    _, property_id, room_id, device, channel = parts
    check_id(property_id, "property id")
    check_id(room_id, "room id")
    try:
        dev = Device(device)
    except ValueError:
        raise UnknownDevice(f"unknown device {device!r} in topic {topic!r}") from None
    try:
        chan = Channel(channel)
    except ValueError:
        raise UnknownChannel(f"unknown channel {channel!r} in topic {topic!r}") from None
    return RoomTopic(property_id, room_id, dev, chan)


def subscription(
    property_id: str,
    room_id: str | None = None,
    device: Device | None = None,
    channel: Channel | None = None,
) -> str:
    """A subscription filter; `None` for a level means any (MQTT's '+')."""
    check_id(property_id, "property id")
    if room_id is not None:
        check_id(room_id, "room id")
    levels = [
        PREFIX,
        property_id,
        room_id or "+",
        str(device) if device is not None else "+",
        str(channel) if channel is not None else "+",
    ]
    return "/".join(levels)
