"""Rooms as the twin knows them, and commands to their devices."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from edge.api.deps import GatewayDep, Operator
from edge.api.schemas import CommandRequest, RoomDetail, RoomSummary
from edge.commands import REFUSED, CommandRecord, CommandStatus

router = APIRouter(prefix="/rooms", tags=["rooms"], dependencies=[Operator])


# `async def`, not `def`: the twin changes on the event loop, so it is read there, never
# from FastAPI's thread pool mid-update.
@router.get("")
async def list_rooms(gateway: GatewayDep) -> list[RoomSummary]:
    return [RoomSummary.of(room) for room in gateway.twin]


@router.get("/{room_id}")
async def get_room(room_id: str, gateway: GatewayDep) -> RoomDetail:
    return RoomDetail.detail(gateway.twin.room(room_id))


@router.post(
    "/{room_id}/commands",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "with wait=true: acknowledged by the device"},
        409: {"description": "with wait=true: the device refused it"},
        504: {"description": "with wait=true: no acknowledgement before the deadline"},
    },
)
async def send_command(
    room_id: str,
    request: CommandRequest,
    gateway: GatewayDep,
    response: Response,
    wait: bool = False,
) -> CommandRecord:
    """Journal the command (202: it will be delivered); with wait=true answer its outcome."""
    record = await gateway.commands.submit(room_id, request.device, request.params)
    if wait:
        record = await gateway.commands.wait(record.id)
        response.status_code = _outcome_status(record)
    return record


def _outcome_status(record: CommandRecord) -> int:
    if record.status is CommandStatus.ACKED:
        return status.HTTP_200_OK
    if record.reason is not None and record.reason.startswith(REFUSED):
        return status.HTTP_409_CONFLICT
    return status.HTTP_504_GATEWAY_TIMEOUT
