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
async def list_staff(gateway: GatewayDep, caller: CallerDep) -> list[StaffStatus]:
    """Everyone, for the operator; a handset sees its own person only (where the others
    are and which rooms they serve is not its business)."""
    everyone = gateway.tasks.staff()
    if caller.staff_id is None:
        return everyone
    return [s for s in everyone if s.staff.id == caller.staff_id]


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
    """A lost or stolen handset: its token stops working at once, for good, restarts
    included. Operator only. The person goes off duty (nothing is dispatched to a
    handset nobody holds; their accepted work goes to others, work in progress stays
    theirs and the supervisor is told), which also ends the handset's live feed at
    once. A new token for the person (`staysync handset-token`, into the roster) works
    after the next start; then put them back on duty."""
    gateway.tasks.person(staff_id)  # 404 for someone not on the roster
    revocation = await gateway.handsets.revoke(staff_id)
    await gateway.tasks.handset_lost(staff_id)
    return revocation
