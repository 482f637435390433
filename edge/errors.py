"""The gateway's exceptions: one root, one subclass per cause."""

from __future__ import annotations

__all__ = [
    "EdgeError",
    "InvalidCommand",
    "NotConnected",
    "Overloaded",
    "UnknownCommand",
    "UnknownDevice",
    "UnknownRoom",
]


class EdgeError(Exception):
    """Root of every error the gateway raises on purpose."""


class UnknownRoom(EdgeError):
    def __init__(self, property_id: str, room_id: str) -> None:
        super().__init__(f"property {property_id} has no room {room_id!r}")
        self.room_id = room_id


class UnknownDevice(EdgeError):
    def __init__(self, room_id: str, device: str, known: list[str]) -> None:
        super().__init__(
            f"room {room_id} has no device {device!r}; it has: {', '.join(known) or 'none yet'}"
        )
        self.device = device


class InvalidCommand(EdgeError):
    """Parameters that the device's command model refuses."""


class UnknownCommand(EdgeError):
    def __init__(self, command_id: str) -> None:
        super().__init__(f"no command with id {command_id!r}")
        self.command_id = command_id


class NotConnected(EdgeError):
    """The broker is not reachable right now; the caller retries later."""


class Overloaded(EdgeError):
    """Too much is waiting already (e.g. commands while the broker is down); retry later."""
