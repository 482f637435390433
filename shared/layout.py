"""A property's physical layout: floors, rooms along corridors, lifts and service points.

The gateway learns which rooms exist from it (a message from a room that is not in the
layout is refused), and later the dispatcher derives travel times from it.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = ["PropertyLayout", "Room", "ServicePoint", "ServicePointKind"]

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
DEFAULT_ROOMS_PER_FLOOR = 40
ROOM_PITCH_M = 4.5  # corridor metres from one room door to the next


class ServicePointKind(StrEnum):
    LINEN = "linen"
    KITCHEN = "kitchen"
    ENGINEERING = "engineering"
    CLINIC = "clinic"
    FRONT_DESK = "front_desk"
    LIFT = "lift"
    STAIRS = "stairs"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Room(_Frozen):
    id: Id
    floor: int
    position_m: float = Field(ge=0.0, description="distance along the corridor from the lifts")
    room_type: str = "standard"
    # For room choice (`edge.arrival.room_choice`); the defaults describe a plain room.
    quiet: bool = False  # on the quiet side (courtyard), not the street
    view: str | None = None  # "city", "garden", ...; None: nothing to look at
    bed_type: str = "king"


class ServicePoint(_Frozen):
    id: Id
    kind: ServicePointKind
    floor: int
    position_m: float = Field(ge=0.0)


class PropertyLayout(_Frozen):
    property_id: Id
    rooms: tuple[Room, ...]
    service_points: tuple[ServicePoint, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> PropertyLayout:
        seen: set[str] = set()
        for room in self.rooms:
            if room.id in seen:
                raise ValueError(f"room id {room.id!r} appears twice")
            seen.add(room.id)
        return self

    @cached_property
    def _by_id(self) -> dict[str, Room]:
        return {room.id: room for room in self.rooms}

    @property
    def room_ids(self) -> list[str]:
        return [room.id for room in self.rooms]

    def has_room(self, room_id: str) -> bool:
        return room_id in self._by_id

    def room(self, room_id: str) -> Room:
        try:
            return self._by_id[room_id]
        except KeyError:
            raise KeyError(f"property {self.property_id} has no room {room_id!r}") from None

    @classmethod
    def generate(
        cls,
        property_id: str,
        room_count: int,
        rooms_per_floor: int = DEFAULT_ROOMS_PER_FLOOR,
    ) -> PropertyLayout:
        """A hotel-like layout: rooms 101, 102, ... on floors from 1, lifts at position 0.

        Room numbers carry the floor and a two- or three-digit index, as hotels number them.
        Odd numbers face the street, even numbers the quiet courtyard; street rooms in
        the upper half of the floors look over the city and courtyard rooms above the
        first floor over the garden; every third room has twin beds, the others a king.
        """
        if room_count < 1:
            raise ValueError("a property needs at least one room")
        if not 1 <= rooms_per_floor <= 999:
            raise ValueError("rooms_per_floor must be 1-999")
        width = 2 if rooms_per_floor <= 99 else 3
        floors = (room_count - 1) // rooms_per_floor + 1
        rooms = []
        for index in range(room_count):
            floor, slot = divmod(index, rooms_per_floor)
            floor += 1
            number = slot + 1
            courtyard = number % 2 == 0
            if courtyard:
                view = "garden" if floor > 1 else None
            else:
                view = "city" if 2 * floor > floors else None
            rooms.append(
                Room(
                    id=f"{floor}{number:0{width}d}",
                    floor=floor,
                    position_m=number * ROOM_PITCH_M,
                    quiet=courtyard,
                    view=view,
                    bed_type="twin" if number % 3 == 0 else "king",
                )
            )
        points = [
            ServicePoint(id="front-desk", kind=ServicePointKind.FRONT_DESK, floor=0, position_m=0)
        ]
        points += [
            ServicePoint(id="kitchen", kind=ServicePointKind.KITCHEN, floor=0, position_m=30.0),
            ServicePoint(
                id="engineering", kind=ServicePointKind.ENGINEERING, floor=-1, position_m=10.0
            ),
            ServicePoint(id="clinic", kind=ServicePointKind.CLINIC, floor=0, position_m=20.0),
        ]
        points += [
            ServicePoint(
                id=f"linen-{floor}", kind=ServicePointKind.LINEN, floor=floor, position_m=2.0
            )
            for floor in range(1, floors + 1)
        ]
        return cls(property_id=property_id, rooms=tuple(rooms), service_points=tuple(points))
