"""Rooms as the twin knows them, and commands to their devices."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from edge.api.deps import GatewayDep, Operator
from edge.api.schemas import CommandRequest, RoomDetail, RoomSummary
from edge.commands import CommandRecord, CommandStatus

router = APIRouter(prefix="/rooms", tags=["rooms"], dependencies=[Operator])


@router.get("")
def list_rooms(gateway: GatewayDep) -> list[RoomSummary]:
    return [RoomSummary.of(room) for room in gateway.twin]


@router.get("/{room_id}")
def get_room(room_id: str, gateway: GatewayDep) -> RoomDetail:
    return RoomDetail.detail(gateway.twin.room(room_id))


@router.post(
    "/{room_id}/commands",
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"description": "with wait=true: the command's final outcome"}},
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
        response.status_code = (
            status.HTTP_200_OK
            if record.status is CommandStatus.ACKED
            else status.HTTP_504_GATEWAY_TIMEOUT
        )
    return record
