"""Service tasks: intake from any channel, the list, and what staff do with a task.

The operator's token may act for anyone; a person's handset signs in with its own token
(`edge.dispatch.roster`, `edge.handsets`), sees only that person's tasks, and may accept,
start, finish or cancel only as that person.
"""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from edge.api.deps import CallerDep, GatewayDep, identify
from edge.dispatch.model import Id, Source, Task, TaskStatus
from edge.dispatch.service import TaskRequest

router = APIRouter(prefix="/tasks", tags=["tasks"], dependencies=[Depends(identify)])
HANDSET_REQUEST_ID_MAX = 128  # as `TaskRequest.request_id`


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
async def submit(
    request: TaskRequest, gateway: GatewayDep, caller: CallerDep, response: Response
) -> Task:
    """Open a task (201), durably; the same request id again answers its task (200).

    A handset's request ids live in its person's own namespace (``handset:<staff>:<id>``
    on the task): it can neither read another's task by reusing its id, nor take an id
    the gateway itself will use (preparation, offers, confirmations). Its tasks' source
    is ``handset``, and it may not link them to guests' preferences."""
    if caller.staff_id is not None:
        prefix = f"handset:{caller.staff_id}:"
        room = HANDSET_REQUEST_ID_MAX - len(prefix)
        if len(request.request_id) > room:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                f"a handset's request_id may have at most {room} characters",
            )
        if request.preference_id is not None or request.relevance is not None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "a handset may not link a task to a guest's preference: the gateway does",
            )
        # What a handset raises is its person's: not the PMS's, a guest's or the
        # predictor's (which would change how do-not-disturb treats it).
        request = request.model_copy(
            update={"request_id": prefix + request.request_id, "source": Source.HANDSET}
        )
    task, created = await gateway.tasks.submit(request)
    if not created:
        response.status_code = status.HTTP_200_OK
    return task


@router.get("")
async def list_tasks(
    gateway: GatewayDep,
    caller: CallerDep,
    response: Response,
    status: TaskStatus | None = None,
    room_id: Id | None = None,
    after_id: Annotated[int, Query(ge=0, description="page on: the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[Task]:
    """Tasks by id (oldest first), filtered by status and room, a page at a time; when
    more follow, the `X-Next-After-Id` header says where the next page starts. A handset
    sees only its own person's tasks (least privilege: other guests' requests are not
    its business)."""
    mine = caller.staff_id
    found = (
        t
        for t in gateway.tasks.tasks(status)
        if t.id > after_id
        and (room_id is None or t.room_id == room_id)
        and (mine is None or t.staff_id == mine)
    )
    page = list(itertools.islice(found, limit + 1))
    if len(page) > limit:
        page = page[:limit]
        response.headers["X-Next-After-Id"] = str(page[-1].id)
    return page


@router.get("/{task_id}")
async def get_task(task_id: int, gateway: GatewayDep, caller: CallerDep) -> Task:
    task = gateway.tasks.get(task_id)
    if caller.staff_id is not None and task.staff_id != caller.staff_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"task {task_id} is not {caller.staff_id}'s")
    return task


@router.post("/{task_id}/accept")
async def accept(task_id: int, action: StaffAction, gateway: GatewayDep, caller: CallerDep) -> Task:
    """Accept an assigned task (and the rest of its trip)."""
    caller.may_act_for(action.staff_id)
    return await gateway.tasks.accept(task_id, action.staff_id)


@router.post("/{task_id}/start")
async def start(task_id: int, action: StaffAction, gateway: GatewayDep, caller: CallerDep) -> Task:
    caller.may_act_for(action.staff_id)
    return await gateway.tasks.start_task(task_id, action.staff_id)


@router.post("/{task_id}/done")
async def done(task_id: int, action: StaffAction, gateway: GatewayDep, caller: CallerDep) -> Task:
    caller.may_act_for(action.staff_id)
    return await gateway.tasks.finish(task_id, action.staff_id)


@router.post("/{task_id}/cancel")
async def cancel(
    task_id: int, request: CancelRequest, gateway: GatewayDep, caller: CallerDep
) -> Task:
    caller.may_act_for(request.staff_id)
    if caller.staff_id is not None and gateway.tasks.get(task_id).staff_id != caller.staff_id:
        # A handset withdraws its person's own work, never someone else's.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"task {task_id} is not {caller.staff_id}'s to cancel"
        )
    return await gateway.tasks.cancel(task_id, request.reason, request.staff_id)
