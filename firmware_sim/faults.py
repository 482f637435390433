"""Fault switches and the garbage a faulty controller publishes.

`Faults` is a plain mutable settings object: one per room and one for the whole
property, both read at the moment a decision is due, so a test flips a switch and the
very next command or publication obeys it. Faults with an immediate effect on the
wire (a device going offline, a controller crash) are actions on `SimulatedRoom`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from enum import StrEnum

from shared.messages import MAX_PAYLOAD_BYTES, SCHEMA_VERSION
from shared.topics import Channel, RoomTopic

__all__ = ["FaultPlan", "Faults", "MalformedKind", "malformed_message"]

# Oversize payloads exceed the contract's limit by this much, well clear of any rounding.
OVERSIZE_MARGIN_BYTES = 1024
# A device name no contract version has, for the wrong-topic fault.
UNKNOWN_DEVICE_NAME = "toaster"


@dataclass(slots=True)
class Faults:
    """Fault switches; a room obeys its own and its property's (either one triggers)."""

    drop_next: int = 0  # ignore the next N set commands (each one dropped counts down)
    drop_rate: float = 0.0  # probability that a set command is ignored
    delay_s: float = 0.0  # hotel seconds before a command is applied and answered
    duplicate: bool = False  # publish every state message twice
    malformed_rate: float = 0.0  # probability, per physics step, of one garbage message

    def __post_init__(self) -> None:
        if self.drop_next < 0 or self.delay_s < 0:
            raise ValueError("drop_next and delay_s cannot be negative")
        for name in ("drop_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1]")

    def clear(self) -> None:
        self.drop_next = 0
        self.drop_rate = 0.0
        self.delay_s = 0.0
        self.duplicate = False
        self.malformed_rate = 0.0


class MalformedKind(StrEnum):
    """Garbage a gateway must reject, each for a different reason."""

    NOT_JSON = "not_json"
    WRONG_SCHEMA = "wrong_schema"
    WRONG_VERSION = "wrong_version"
    OVERSIZE = "oversize"
    WRONG_TOPIC = "wrong_topic"


class FaultPlan:
    """A room's decisions from its own and its property's switches, with its own dice.

    The dice are rolled only while a probability is set, so that switching faults off
    leaves the room's other random sequences exactly as they were.
    """

    def __init__(self, room: Faults, prop: Faults, rng: random.Random) -> None:
        self.room = room
        self.prop = prop
        self._rng = rng

    def drop_command(self) -> bool:
        for faults in (self.room, self.prop):
            if faults.drop_next > 0:
                faults.drop_next -= 1
                return True
        rate = max(self.room.drop_rate, self.prop.drop_rate)
        return rate > 0.0 and self._rng.random() < rate

    def command_delay_s(self) -> float:
        return max(self.room.delay_s, self.prop.delay_s)

    def duplicate(self) -> bool:
        return self.room.duplicate or self.prop.duplicate

    def malformed(self) -> MalformedKind | None:
        rate = max(self.room.malformed_rate, self.prop.malformed_rate)
        if rate > 0.0 and self._rng.random() < rate:
            return self._rng.choice(list(MalformedKind))
        return None


def malformed_message(kind: MalformedKind, topic: RoomTopic, ts: float) -> tuple[str, bytes]:
    """A (topic, payload) pair on `topic`'s telemetry channel that `decode` rejects.

    Only `OVERSIZE` carries a payload that would pass on size alone: it is valid
    thermostat telemetry padded with JSON whitespace, so the size is its only fault.
    """
    telemetry = topic.with_channel(Channel.TELEMETRY)
    good = {"v": SCHEMA_VERSION, "ts": ts, "temperature_c": 21.0, "hvac_power_w": 0.0}
    match kind:
        case MalformedKind.NOT_JSON:
            return str(telemetry), b"\x00\xffnot json{"
        case MalformedKind.WRONG_SCHEMA:
            return str(telemetry), json.dumps({**good, "temperature_c": "warm"}).encode()
        case MalformedKind.WRONG_VERSION:
            return str(telemetry), json.dumps({**good, "v": SCHEMA_VERSION + 1}).encode()
        case MalformedKind.OVERSIZE:
            body = json.dumps(good).encode()
            padding = MAX_PAYLOAD_BYTES + OVERSIZE_MARGIN_BYTES - len(body)
            return str(telemetry), body[:-1] + b" " * padding + b"}"
        case MalformedKind.WRONG_TOPIC:
            # Deliberately outside the contract, so it cannot be built with RoomTopic:
            # swap the device level of a valid topic for one no contract knows.
            levels = str(telemetry).split("/")
            levels[3] = UNKNOWN_DEVICE_NAME
            return "/".join(levels), json.dumps(good).encode()
    raise AssertionError(f"unhandled kind {kind}")  # pragma: no cover
