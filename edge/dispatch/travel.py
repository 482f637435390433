"""Travel time and walking distance between places of a property, from its layout.

One model serves the dispatcher's cost matrix and the day simulation's staff movement,
so the plan and the simulated world agree on what a walk costs.

* On one floor: the corridor distance at walking speed.
* Between floors: walk to a vertical core (a lift or stairs; the generated layouts have
  both at corridor position 0), go up or down, walk from the core. One floor is taken
  by the stairs; further by the lift, which costs a wait, a boarding and time per floor.
* Walking distance counts corridor metres and the stairs' own metres; a lift ride is
  not walking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from shared.layout import PropertyLayout, ServicePointKind

__all__ = ["Place", "TravelModel", "TravelSpeeds"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Place(NamedTuple):
    floor: int
    position_m: float


@dataclass(frozen=True, slots=True)
class TravelSpeeds:
    walk_m_per_s: float = 1.2  # staff walking with a cart or a tray
    stairs_s_per_floor: float = 20.0
    stairs_m_per_floor: float = 12.0  # walked distance of one flight
    max_stairs_floors: int = 1  # further than this takes the lift
    lift_wait_s: float = 30.0  # mean wait for a car
    lift_transfer_s: float = 10.0  # doors, boarding and leaving
    lift_s_per_floor: float = 3.0


class TravelModel:
    def __init__(self, layout: PropertyLayout, speeds: TravelSpeeds | None = None) -> None:
        self.layout = layout
        self.speeds = speeds or TravelSpeeds()
        lifts = [p.position_m for p in layout.service_points if p.kind is ServicePointKind.LIFT]
        stairs = [p.position_m for p in layout.service_points if p.kind is ServicePointKind.STAIRS]
        # The generated layouts number rooms from the lifts at position 0 and list no
        # cores; stairs are assumed beside the lifts unless the layout says otherwise.
        self._lifts = tuple(sorted(set(lifts))) or (0.0,)
        self._stairs = tuple(sorted(set(stairs))) or self._lifts
        self._rooms = {room.id: Place(room.floor, room.position_m) for room in layout.rooms}
        self._points: dict[ServicePointKind, list[Place]] = {}
        for point in layout.service_points:
            self._points.setdefault(point.kind, []).append(Place(point.floor, point.position_m))
        self._nearest: dict[tuple[ServicePointKind, int], Place] = {}

    # ---- places ----

    def room(self, room_id: str) -> Place:
        return self._rooms[room_id]

    def has_point(self, kind: ServicePointKind) -> bool:
        return kind in self._points

    def point(self, kind: ServicePointKind, floor: int) -> Place:
        """The service point of `kind` nearest to `floor` (the linen room of that floor)."""
        key = (kind, floor)
        place = self._nearest.get(key)
        if place is None:
            candidates = self._points.get(kind)
            if not candidates:
                raise KeyError(f"property {self.layout.property_id} has no {kind} point")
            place = min(candidates, key=lambda p: (abs(p.floor - floor), p.floor, p.position_m))
            self._nearest[key] = place
        return place

    # ---- one pair ----

    def _via_core(self, a: float, b: float, cores: tuple[float, ...]) -> float:
        return min(abs(a - c) + abs(b - c) for c in cores)

    def seconds(self, a: Place, b: Place) -> float:
        s = self.speeds
        floors = abs(a.floor - b.floor)
        if floors == 0:
            return abs(a.position_m - b.position_m) / s.walk_m_per_s
        if floors <= s.max_stairs_floors:
            walk = self._via_core(a.position_m, b.position_m, self._stairs)
            return walk / s.walk_m_per_s + floors * s.stairs_s_per_floor
        walk = self._via_core(a.position_m, b.position_m, self._lifts)
        return (
            walk / s.walk_m_per_s + s.lift_wait_s + s.lift_transfer_s + floors * s.lift_s_per_floor
        )

    def metres(self, a: Place, b: Place) -> float:
        """Metres walked from a to b (corridors and stairs)."""
        s = self.speeds
        floors = abs(a.floor - b.floor)
        if floors == 0:
            return abs(a.position_m - b.position_m)
        if floors <= s.max_stairs_floors:
            walk = self._via_core(a.position_m, b.position_m, self._stairs)
            return walk + floors * s.stairs_m_per_floor
        return self._via_core(a.position_m, b.position_m, self._lifts)

    def route(self, start: Place, stops: Sequence[Place]) -> list[float]:
        """Seconds from `start` to each stop, visited in order (cumulative)."""
        out = []
        total = 0.0
        here = start
        for stop in stops:
            total += self.seconds(here, stop)
            out.append(total)
            here = stop
        return out

    # ---- many origins to one place (the cost matrix's columns) ----

    def _via_cores(self, positions: FloatArray, b: float, cores: tuple[float, ...]) -> FloatArray:
        best = np.abs(positions - cores[0]) + abs(b - cores[0])
        for c in cores[1:]:
            best = np.minimum(best, np.abs(positions - c) + abs(b - c))
        return best

    def seconds_from(self, floors: IntArray, positions: FloatArray, b: Place) -> FloatArray:
        """`seconds(Place(floors[i], positions[i]), b)` for every i, vectorised."""
        s = self.speeds
        df = np.abs(floors - b.floor)
        same = np.abs(positions - b.position_m) / s.walk_m_per_s
        stairs = (
            self._via_cores(positions, b.position_m, self._stairs) / s.walk_m_per_s
            + df * s.stairs_s_per_floor
        )
        lift = (
            self._via_cores(positions, b.position_m, self._lifts) / s.walk_m_per_s
            + (s.lift_wait_s + s.lift_transfer_s)
            + df * s.lift_s_per_floor
        )
        out: FloatArray = np.where(df == 0, same, np.where(df <= s.max_stairs_floors, stairs, lift))
        return out
