"""Service tasks: intake from any channel, the list, and what staff do with a task.

Handsets act through these routes with the operator token for now; per-person handset
authentication (so that `staff_id` comes from the credentials) is a later issue.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from edge.api.deps import GatewayDep, Operator
from edge.dispatch.model import Id, Task, TaskStatus
from edge.dispatch.service import TaskRequest

router = APIRouter(prefix="/tasks", tags=["tasks"], dependencies=[Operator])


class StaffAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: Id


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    staff_id: Id | None = None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "this request id was seen before: its task"}},
)
async def submit(request: TaskRequest, gateway: GatewayDep, response: Response) -> Task:
    """Open a task (201), durably; the same request id again answers its task (200)."""
    task, created = await gateway.tasks.submit(request)
    if not created:
        response.status_code = status.HTTP_200_OK
    return task


@router.get("")
async def list_tasks(gateway: GatewayDep, status: TaskStatus | None = None) -> list[Task]:
    return gateway.tasks.tasks(status)


@router.get("/{task_id}")
async def get_task(task_id: int, gateway: GatewayDep) -> Task:
    return gateway.tasks.get(task_id)


@router.post("/{task_id}/accept")
async def accept(task_id: int, action: StaffAction, gateway: GatewayDep) -> Task:
    """Accept an assigned task (and the rest of its trip)."""
    return await gateway.tasks.accept(task_id, action.staff_id)


@router.post("/{task_id}/start")
async def start(task_id: int, action: StaffAction, gateway: GatewayDep) -> Task:
    return await gateway.tasks.start_task(task_id, action.staff_id)


@router.post("/{task_id}/done")
async def done(task_id: int, action: StaffAction, gateway: GatewayDep) -> Task:
    return await gateway.tasks.finish(task_id, action.staff_id)


@router.post("/{task_id}/cancel")
async def cancel(task_id: int, request: CancelRequest, gateway: GatewayDep) -> Task:
    return await gateway.tasks.cancel(task_id, request.reason, request.staff_id)
