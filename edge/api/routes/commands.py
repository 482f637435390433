"""A command's status by id."""

from __future__ import annotations

from fastapi import APIRouter

from edge.api.deps import GatewayDep, Operator
from edge.commands import CommandRecord

router = APIRouter(prefix="/commands", tags=["commands"], dependencies=[Operator])


@router.get("/{command_id}")
async def get_command(command_id: str, gateway: GatewayDep) -> CommandRecord:
    return await gateway.commands.get(command_id)
