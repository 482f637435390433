"""A simulated property: room controllers and their devices on MQTT."""

from firmware_sim.config import BehaviourConfig, OutdoorConfig, SimConfig, Span, ThermalConfig
from firmware_sim.faults import Faults, MalformedKind
from firmware_sim.property import PropertySummary, SimulatedProperty, room_ids
from firmware_sim.room import RoomCounters, SimulatedRoom

__all__ = [
    "BehaviourConfig",
    "Faults",
    "MalformedKind",
    "OutdoorConfig",
    "PropertySummary",
    "RoomCounters",
    "SimConfig",
    "SimulatedProperty",
    "SimulatedRoom",
    "Span",
    "ThermalConfig",
    "room_ids",
]
