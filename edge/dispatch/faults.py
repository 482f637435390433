"""Watching the twin for what should become a task: the make-up-room button and device faults.

`TwinWatcher.observe` is called by the gateway for every message it applied to the
twin, so it must stay cheap: it compares a few fields of one room and notes when an
episode (a door open, a thermostat off its setpoint, a device offline) began or ended.
`due` then reports the episodes that have lasted past their threshold; the task
service calls it on its own schedule. Signals carry a request id derived from the
episode, and a cause that the service uses to keep one open task per room and cause.

Rules:

* make-up-room pressed -> a housekeeping task, unless the room says do-not-disturb
  (then nothing: the guest asked not to be disturbed); do-not-disturb switched on, or
  make-up-room switched off, cancels the room's make-up-room task that has not started;
* a door open longer than `door_open_s` -> engineering ("door_ajar");
* a thermostat heating or cooling but more than `hvac_gap_c` off its setpoint for
  longer than `hvac_s` -> engineering ("hvac_fault");
* a room controller or a device offline longer than `offline_s` -> engineering
  ("device_offline").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from edge.twin import RoomTwin
from shared.messages import DoorState, HvacMode, ServiceState, ThermostatTelemetry
from shared.topics import Device

__all__ = ["FaultThresholds", "Signal", "SignalKind", "TwinWatcher"]

log = logging.getLogger(__name__)

MUR_CAUSE = "mur"
_ACTIVE_MODES = frozenset({HvacMode.HEAT, HvacMode.COOL, HvacMode.AUTO})


@dataclass(frozen=True, slots=True)
class FaultThresholds:
    door_open_s: float = 600.0
    hvac_s: float = 2700.0
    hvac_gap_c: float = 1.5
    offline_s: float = 600.0


class SignalKind(StrEnum):
    OPEN = "open"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Signal:
    kind: SignalKind
    room_id: str
    task_kind: str  # a catalogue kind
    cause: str  # one open task per room and cause
    request_id: str
    reason: str
    since: float | None = None  # a fault's episode: when it began


@dataclass(slots=True)
class _Episode:
    since: float
    reported: bool = False


@dataclass(slots=True)
class TwinWatcher:
    thresholds: FaultThresholds = field(default_factory=FaultThresholds)
    dnd_rooms: set[str] = field(default_factory=set)
    _mur: dict[str, bool] = field(default_factory=dict)
    # (room, cause) -> when it began; cause is "door_open", "hvac" or "offline:<device>"
    _episodes: dict[tuple[str, str], _Episode] = field(default_factory=dict)

    # ---- fed by the gateway, message by message ----

    def observe(self, room: RoomTwin, device: Device, now: float) -> list[Signal]:
        if device is Device.SERVICE:
            return self._service(room)
        if device is Device.DOOR:
            door = room.state(Device.DOOR)
            self._episode(room.room_id, "door_open", isinstance(door, DoorState) and door.open, now)
        elif device is Device.THERMOSTAT:
            self._episode(room.room_id, "hvac", _hvac_off_target(room, self.thresholds), now)
        online = (
            room.controller_online if device is Device.CONTROLLER else room.device_online(device)
        )
        # A device's status only matters once the controller is up: the controller's
        # own episode covers a room that is down as a whole.
        if device is Device.CONTROLLER or room.controller_online:
            self._episode(room.room_id, f"offline:{device}", not online, now)
        return []

    def _service(self, room: RoomTwin) -> list[Signal]:
        state = room.state(Device.SERVICE)
        if not isinstance(state, ServiceState):
            return []
        room_id = room.room_id
        was_dnd = room_id in self.dnd_rooms
        was_mur = self._mur.get(room_id, False)
        self._mur[room_id] = state.mur
        if state.dnd:
            self.dnd_rooms.add(room_id)
        else:
            self.dnd_rooms.discard(room_id)
        signals = []
        if state.mur and not was_mur:
            if state.dnd:
                log.info("room %s: make-up-room pressed under do-not-disturb; no task", room_id)
            else:
                signals.append(
                    Signal(
                        SignalKind.OPEN,
                        room_id,
                        "make_up_room",
                        MUR_CAUSE,
                        f"mur:{room_id}:{state.ts:.3f}",
                        "make-up-room button",
                    )
                )
        elif state.dnd and not was_dnd:
            signals.append(self._cancel_mur(room_id, "the guest switched do-not-disturb on"))
        elif was_mur and not state.mur:
            signals.append(self._cancel_mur(room_id, "the guest switched make-up-room off"))
        return signals

    @staticmethod
    def _cancel_mur(room_id: str, reason: str) -> Signal:
        return Signal(SignalKind.CANCEL, room_id, "make_up_room", MUR_CAUSE, "", reason)

    def _episode(self, room_id: str, cause: str, active: bool, now: float) -> None:
        key = (room_id, cause)
        if active:
            if key not in self._episodes:
                self._episodes[key] = _Episode(now)
        else:
            self._episodes.pop(key, None)

    # ---- polled by the task service ----

    def _threshold(self, cause: str) -> tuple[float, str, str]:
        t = self.thresholds
        if cause == "door_open":
            return t.door_open_s, "door_ajar", "the door has been open for"
        if cause == "hvac":
            return t.hvac_s, "hvac_fault", "the thermostat has been off its setpoint for"
        device = cause.partition(":")[2]
        return t.offline_s, "device_offline", f"the {device} has been offline for"

    def due(self, now: float) -> list[Signal]:
        """Episodes that have lasted past their threshold and are not `reported` yet.

        An episode is reported again at every call until the caller marks it `reported`
        (once its task exists), so a signal whose task could not be created is not lost.
        """
        signals = []
        for (room_id, cause), episode in self._episodes.items():
            limit, kind, what = self._threshold(cause)
            if not episode.reported and now - episode.since >= limit:
                signals.append(
                    Signal(
                        SignalKind.OPEN,
                        room_id,
                        kind,
                        cause,
                        f"fault:{room_id}:{cause}:{episode.since:.3f}",
                        f"{what} {(now - episode.since) / 60:.0f} min",
                        since=episode.since,
                    )
                )
        return signals

    def reported(self, signal: Signal) -> None:
        """The task for `signal` exists (or one for its room and cause was open already)."""
        if signal.since is None:
            return
        episode = self._episodes.get((signal.room_id, signal.cause))
        if episode is not None and episode.since == signal.since:
            episode.reported = True

    def next_due(self) -> float | None:
        pending = [
            e.since + self._threshold(cause)[0]
            for (_, cause), e in self._episodes.items()
            if not e.reported
        ]
        return min(pending, default=None)


def _hvac_off_target(room: RoomTwin, thresholds: FaultThresholds) -> bool:
    state = room.thermostat
    if state is None or state.mode not in _ACTIVE_MODES:
        return False
    temperature = state.temperature_c
    reading = room.telemetry.get(Device.THERMOSTAT)
    if isinstance(reading, ThermostatTelemetry) and reading.ts >= state.ts:
        temperature = reading.temperature_c
    return abs(temperature - state.setpoint_c) > thresholds.hvac_gap_c
