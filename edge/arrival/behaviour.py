"""What a guest does in the room during a stay, and what it says about them.

Pure bookkeeping on a `StayRecord`'s `Behaviour`, fed by the arrival service from the
twin, and `learned`, which turns it into observations at check-out. Only the guest's own
doing counts: a setting equal to what the gateway's scene or plan set is not evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from shared.messages import CurtainsState, LightsState, MattressState

from .scene import curtains_word, firmness_word
from .stays import StayRecord

__all__ = ["guest_setting", "hold", "learned"]

_EVENING_HOURS: Final = range(18, 24)
_MIN_HELD_S: Final = 3600.0  # a setpoint held less than an hour in the whole stay says little


def hold(record: StayRecord, now: float) -> None:
    """Credit the setpoint held since the last change (comfort only: eco is ours)."""
    b = record.behaviour
    if b.setpoint_c is not None and b.since is not None and record.vacant_since is None:
        key = f"{b.setpoint_c:.1f}"
        b.setpoint_s[key] = b.setpoint_s.get(key, 0.0) + max(0.0, now - b.since)
    b.since = now


def guest_setting(record: StayRecord, state: object, local: datetime) -> None:
    """A device changed to something else than it was and than the scene set: the guest.

    The first value seen after check-in is the baseline, and a re-sent state (a retained
    replay after a reconnect) is no change, so neither housekeeping's leftovers nor the
    broker are taken for the guest.
    """
    b = record.behaviour
    value: int | str
    match state:
        case MattressState():
            device, value = "mattress", state.firmness
        case CurtainsState():
            device, value = "curtains", state.position
        case LightsState() if state.on:
            device, value = "lights", state.scene.value
        case _:
            return
    previous = b.seen.get(device)
    b.seen[device] = value
    if previous is None or previous == value or value == record.scene_values.get(device):
        return
    if isinstance(state, MattressState):
        b.firmness = state.firmness
    elif isinstance(state, CurtainsState):
        b.curtains = state.position
    elif local.hour in _EVENING_HOURS:
        counted = f"{local.toordinal()}:{value}"
        if counted not in b.scene_days:
            b.scene_days.append(counted)
            b.evening_scenes[str(value)] = b.evening_scenes.get(str(value), 0) + 1


def learned(record: StayRecord) -> list[tuple[str, Any]]:
    """What the stay says about the guest, in catalogue keys and values."""
    b = record.behaviour
    learned: list[tuple[str, Any]] = []
    if b.guest_changed_setpoint and b.setpoint_s:
        value, held = max(b.setpoint_s.items(), key=lambda kv: (kv[1], kv[0]))
        if held >= _MIN_HELD_S and 16.0 <= float(value) <= 30.0:
            learned.append(("room.temperature_c", round(float(value) * 2) / 2))
    if b.firmness is not None:
        learned.append(("bed.mattress_firmness", firmness_word(b.firmness)))
    if b.curtains is not None:
        learned.append(("room.curtains", curtains_word(b.curtains)))
    if b.evening_scenes:
        scene, evenings = max(b.evening_scenes.items(), key=lambda kv: (kv[1], kv[0]))
        if evenings >= 2 and scene != "off":
            learned.append(("room.light_scene", scene))
    return learned
