"""A minimal random guest, acting only through the room's public guest actions.

Because the guest uses nothing but `GuestActions`, a scripted guest (check-in at a
given time, a door opened at 14:02, a hand on the thermostat) is the same calls made
by a test instead of by dice.
"""

from __future__ import annotations

import random
from typing import Protocol

from firmware_sim.config import BehaviourConfig
from shared.clock import Clock
from shared.messages import HvacMode

__all__ = ["GuestActions", "GuestBehaviour"]

# What an event is, by chance, while the room is occupied (cumulative thresholds).
P_MOTION = 0.6  # the guest moves about
P_LEAVE = 0.9  # ...or leaves; otherwise the guest turns the thermostat one degree
# While the room is empty an event is the guest coming back with this chance.
P_RETURN = 0.5
GUEST_SETPOINT_C = (17.0, 27.0)  # what guests turn the thermostat to, at most
GUEST_STEP_C = 1.0


class GuestActions(Protocol):
    """What a guest can do in a room; each publishes what the room's devices see."""

    @property
    def occupied(self) -> bool: ...

    @property
    def setpoint_c(self) -> float: ...

    def open_door(self) -> None: ...

    def close_door(self) -> None: ...

    def set_occupied(self, occupied: bool) -> None: ...

    def motion(self) -> None: ...

    def guest_sets_thermostat(self, setpoint_c: float, mode: HvacMode | None = None) -> None: ...


class GuestBehaviour:
    """Comes and goes through the door, moves about, now and then turns the thermostat."""

    def __init__(
        self, room: GuestActions, clock: Clock, rng: random.Random, config: BehaviourConfig
    ) -> None:
        self._room = room
        self._clock = clock
        self._rng = rng
        self._config = config

    async def run(self) -> None:
        while True:
            # Exponential gaps: events in different rooms are independent and memoryless.
            await self._clock.sleep(self._rng.expovariate(1.0 / self._config.mean_event_interval_s))
            await self.event()

    async def event(self) -> None:
        room = self._room
        roll = self._rng.random()
        if not room.occupied:
            if roll < P_RETURN:
                await self.pass_door(inside_after=True)
        elif roll < P_MOTION:
            room.motion()
        elif roll < P_LEAVE:
            await self.pass_door(inside_after=False)
        else:
            step = self._rng.choice((-GUEST_STEP_C, GUEST_STEP_C))
            low, high = GUEST_SETPOINT_C
            room.guest_sets_thermostat(min(high, max(low, room.setpoint_c + step)))

    async def pass_door(self, *, inside_after: bool) -> None:
        """Open the door, walk through, let it close (and relock) behind."""
        room = self._room
        room.open_door()
        if inside_after:
            room.set_occupied(True)
        await self._clock.sleep(self._config.door_open_s)
        room.close_door()
        if not inside_after:
            room.set_occupied(False)
