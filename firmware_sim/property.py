"""A simulated property: one `SimulatedRoom` per guest room, all in one process."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Self

from firmware_sim.config import SimConfig
from firmware_sim.faults import Faults
from firmware_sim.room import SimulatedRoom
from firmware_sim.site import WeatherStation
from firmware_sim.thermal import OutdoorTemperature
from shared.broker import BrokerAddress
from shared.clock import Clock
from shared.layout import DEFAULT_ROOMS_PER_FLOOR, PropertyLayout
from shared.topics import check_id

__all__ = ["PropertySummary", "SimulatedProperty", "room_ids"]

log = logging.getLogger(__name__)

# Connection attempts in flight at once. More gains nothing on loopback and overflows
# the broker's accept backlog over a real network, which costs a SYN retry (1 s) each.
CONNECT_CONCURRENCY = 256
DEFAULT_WAIT_CONNECTED_REAL_S = 30.0
# Rooms tick at this many instants per physics step, spread by their seeded phase. One
# wake-up serves a group of rooms: at 3,000 rooms a task per room cost a timer, a
# future and a task step per room and tick, which was most of the steady-state CPU.
TICK_SLOTS = 50
LAYOUT_PLACEHOLDER_ID = "sim"  # room numbers do not depend on the property id


def room_ids(count: int, *, per_floor: int = DEFAULT_ROOMS_PER_FLOOR) -> list[str]:
    """Hotel room numbers floor by floor, 101..140, 201..240, ..., as the gateway's
    generated layout numbers them (the same function, so that the two always agree)."""
    return PropertyLayout.generate(LAYOUT_PLACEHOLDER_ID, count, per_floor).room_ids


@dataclass(frozen=True, slots=True)
class PropertySummary:
    rooms: int
    online: int
    ready: int
    commands_applied: int
    commands_refused: int
    commands_repeated: int
    commands_dropped: int
    commands_malformed: int
    malformed_published: int

    def __str__(self) -> str:
        return (
            f"{self.online}/{self.rooms} rooms online ({self.ready} twinned), commands: "
            f"{self.commands_applied} applied, {self.commands_refused} refused, "
            f"{self.commands_repeated} repeated, {self.commands_dropped} dropped, "
            f"{self.commands_malformed} malformed; {self.malformed_published} garbage published"
        )


class SimulatedProperty:
    """All rooms of a property on one broker. Use as an async context manager, then
    `await wait_connected()` before expecting the retained state to be there."""

    def __init__(
        self,
        property_id: str,
        rooms: Sequence[str],
        broker: BrokerAddress,
        clock: Clock,
        *,
        seed: int = 0,
        config: SimConfig | None = None,
    ) -> None:
        check_id(property_id, "property id")
        for room_id in rooms:
            check_id(room_id, "room id")
        if len(set(rooms)) != len(rooms):
            raise ValueError("room ids repeat")
        self.property_id = property_id
        self.broker = broker
        self.clock = clock
        self.config = config or SimConfig()
        self.faults = Faults()  # property-wide switches, obeyed by every room
        outdoor = self.config.outdoor
        self.outdoor = OutdoorTemperature(
            outdoor.mean_c, outdoor.daily_amplitude_c, outdoor.coldest_hour, outdoor.resolution_s
        )
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        self._rooms = {
            room_id: SimulatedRoom(
                property_id,
                room_id,
                broker=broker,
                clock=clock,
                config=self.config,
                outdoor=self.outdoor,
                property_faults=self.faults,
                connect_gate=gate,
                seed=seed,
            )
            for room_id in rooms
        }
        # The property's outdoor sensor, on its own session (see firmware_sim.site).
        self.weather = WeatherStation(
            property_id, broker, self.outdoor, self.config, gate, seed=seed
        )
        self._started = False
        self._stopped = False
        self._ticker: asyncio.Task[None] | None = None

    @property
    def rooms(self) -> Mapping[str, SimulatedRoom]:
        return MappingProxyType(self._rooms)

    def room(self, room_id: str) -> SimulatedRoom:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise KeyError(f"property {self.property_id} has no room {room_id!r}") from None

    async def start(self) -> None:
        """Start every room: each connects, publishes its state and runs its loops."""
        if self._started:
            # Rooms that said offline on stop do not come back: one property, one run.
            raise RuntimeError(f"property {self.property_id} was started already")
        self._started = True
        host = await _resolve(self.broker.host, self.broker.port)
        log.info(
            "property %s: starting %d rooms against %s",
            self.property_id,
            len(self._rooms),
            self.broker,
        )
        for room in self._rooms.values():
            room.start(host)
        self.weather.start(host)
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"sim-{self.property_id}-ticks")
        self._ticker.add_done_callback(self._ticker_done)

    async def stop(self) -> None:
        """Every room says offline and disconnects cleanly; no task is left running."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        await asyncio.gather(
            self.weather.stop(self.clock.now()), *(room.stop() for room in self._rooms.values())
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_connected(
        self,
        timeout: float = DEFAULT_WAIT_CONNECTED_REAL_S,  # noqa: ASYNC109 - names the late rooms
    ) -> None:
        """Wait (real seconds) until every room is connected and the broker acknowledged
        its whole retained state; `TimeoutError` says which rooms are missing."""
        try:
            async with asyncio.timeout(timeout):
                for room in self._rooms.values():
                    await room.wait_ready()
        except TimeoutError:
            missing = [room_id for room_id, room in self._rooms.items() if not room.ready]
            raise TimeoutError(
                f"{len(missing)} of {len(self._rooms)} rooms of {self.property_id} not ready "
                f"after {timeout} s, e.g. {missing[:5]}"
            ) from None

    async def _tick_loop(self) -> None:
        """Tick every room once per physics step, each at its own phase in the step."""
        clock = self.clock
        step = self.config.physics_step_s
        slots = max(1, min(TICK_SLOTS, len(self._rooms)))
        groups: dict[int, list[SimulatedRoom]] = {}
        for room in self._rooms.values():
            groups.setdefault(int(room.tick_phase * slots), []).append(room)
        order = sorted(groups)
        origin = clock.now()
        cycle = 0
        while True:
            for slot in order:
                await clock.sleep_until(origin + (cycle + slot / slots) * step)
                now = clock.now()
                for room in groups[slot]:
                    room.tick(now)
                if slot == order[0]:
                    self.weather.tick(now)
            cycle += 1
            # Fallen more than a step behind (an overloaded process): skip the missed
            # steps rather than burst through them; the physics are exact either way.
            cycle = max(cycle, int((clock.now() - origin) / step))

    def _ticker_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("property %s: the physics ticker failed", self.property_id, exc_info=exc)

    def summary(self) -> PropertySummary:
        rooms = self._rooms.values()
        return PropertySummary(
            rooms=len(self._rooms),
            online=sum(room.connected for room in rooms),
            ready=sum(room.ready for room in rooms),
            commands_applied=sum(room.counters.commands_applied for room in rooms),
            commands_refused=sum(room.counters.commands_refused for room in rooms),
            commands_repeated=sum(room.counters.commands_repeated for room in rooms),
            commands_dropped=sum(room.counters.commands_dropped for room in rooms),
            commands_malformed=sum(room.counters.commands_malformed for room in rooms),
            malformed_published=sum(room.counters.malformed_published for room in rooms),
        )


async def _resolve(host: str, port: int) -> str:
    """The broker's IP address, looked up once for all rooms rather than once per room."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass  # a name, not an address: look it up
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"broker host {host!r} does not resolve")
    return str(infos[0][4][0])
