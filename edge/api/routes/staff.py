"""Staff: who is on duty, where they were last seen, and what they hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict

from edge.api.deps import CallerDep, GatewayDep, Operator, identify
from edge.dispatch.model import Staff
from edge.dispatch.service import StaffStatus
from edge.handsets import Revocation

ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"  # as `edge.dispatch.model.Id`
router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(identify)])


class DutyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_duty: bool


@router.get("")
async def list_staff(gateway: GatewayDep) -> list[StaffStatus]:
    return gateway.tasks.staff()


@router.post("/{staff_id}/duty")
async def set_duty(
    staff_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=64)],
    request: DutyRequest,
    gateway: GatewayDep,
    caller: CallerDep,
) -> Staff:
    """Go on or off duty; off duty, work not yet started goes to others (in progress stays)."""
    caller.may_act_for(staff_id)
    return await gateway.tasks.set_duty(staff_id, request.on_duty)


@router.post("/{staff_id}/handset/revoke", dependencies=[Operator])
async def revoke_handset(
    staff_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=64)], gateway: GatewayDep
) -> Revocation:
    """A lost or stolen handset: its token stops working at once (its live feed ends), for
    good, restarts included. Operator only. A new token for the person (`staysync
    handset-token`, into the roster) works after the next start."""
    gateway.tasks.person(staff_id)  # 404 for someone not on the roster
    return await gateway.handsets.revoke(staff_id)
