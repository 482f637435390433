"""The PMS integration and the stays it drives.

`POST /pms/events` takes one event of the property management system (translated at
the integration into `shared.pms`'s models; `docs/PMS.md` maps OPERA Cloud, Mews and
HTNG onto them) with the PMS's own token. The answer is 200 once the event is durable
(`outcome` says `applied` or `duplicate`: a re-delivered event id is a no-op), 409 with
the reason for an event that cannot have happened in that order (check-out before
check-in…), 422 for a body that is not an event.

`GET /arrivals/rooms?day=YYYY-MM-DD` recommends a room for each of the day's arrivals
that name only a room type (`edge.arrival.room_choice`); `PUT /stays/{id}/pin` is the
front desk's override. The PMS keeps the final word: it assigns the room.

`GET /stays` and `GET /stays/{reservation_id}` show the front desk what the gateway
planned and did for each stay (operator token).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, ConfigDict

from edge.api.deps import GatewayDep, Operator, Pms
from edge.arrival.room_choice import Recommendation, RoomId
from edge.arrival.service import PmsResult
from edge.arrival.stays import StayRecord
from shared.pms import PmsEvent, StayStatus

router = APIRouter(tags=["pms"])


@router.post(
    "/pms/events",
    dependencies=[Pms],
    responses={409: {"description": "the event is out of order or inconsistent; nothing changed"}},
)
async def post_event(event: Annotated[PmsEvent, Body()], gateway: GatewayDep) -> PmsResult:
    """Take one PMS event: applied (or a duplicate, a no-op) once this answers 200."""
    return await gateway.arrivals.handle(event)


@router.get("/stays", dependencies=[Operator])
async def list_stays(gateway: GatewayDep, status: StayStatus | None = None) -> list[StayRecord]:
    return gateway.arrivals.stays(status)


@router.get("/stays/{reservation_id}", dependencies=[Operator])
async def get_stay(reservation_id: str, gateway: GatewayDep) -> StayRecord:
    record = gateway.arrivals.stay(reservation_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stay {reservation_id!r}")
    return record


class RoomPin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room_id: RoomId | None  # None takes the pin back


@router.get("/arrivals/rooms", dependencies=[Operator])
async def recommend_rooms(gateway: GatewayDep, day: date | None = None) -> list[Recommendation]:
    """The best free room for each of the day's room-type bookings (default: today)."""
    return await gateway.arrivals.recommend_rooms(day)


@router.put("/stays/{reservation_id}/pin", dependencies=[Operator])
async def pin_room(reservation_id: str, pin: RoomPin, gateway: GatewayDep) -> StayRecord:
    """The front desk gives this booking this room in the recommendations."""
    return await gateway.arrivals.pin_room(reservation_id, pin.room_id)
