"""Staff: who is on duty, where they were last seen, and what they hold."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from edge.api.deps import GatewayDep, Operator
from edge.dispatch.model import Staff
from edge.dispatch.service import StaffStatus

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Operator])


class DutyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_duty: bool


@router.get("")
async def list_staff(gateway: GatewayDep) -> list[StaffStatus]:
    return gateway.tasks.staff()


@router.post("/{staff_id}/duty")
async def set_duty(staff_id: str, request: DutyRequest, gateway: GatewayDep) -> Staff:
    """Go on or off duty; off duty, work not yet started goes to others (in progress stays)."""
    return await gateway.tasks.set_duty(staff_id, request.on_duty)
