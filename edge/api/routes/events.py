"""Live task events for handsets and the front desk, as Server-Sent Events.

`GET /events` streams every task change, staff change and notification in commit order
(each is on disk before it is sent); `GET /events?staff_id=anna` (or Anna's handset with
its own token) only what concerns Anna:
her tasks, her own record, and notifications addressed to her. Each event is
``id: <seq>``, ``event: task|staff|notify`` and the `TaskEvent` as JSON in ``data``.

A handset that reconnects re-reads `GET /tasks` first: events are not replayed (the
stream is a live feed, the task list is the truth). A handset that falls too far behind
gets one ``event: resync`` and the stream ends, for the same reason; a handset whose
token is revoked gets ``event: revoked`` and the stream ends. A comment line every
15 seconds keeps proxies and the handset's Wi-Fi from idling the connection out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from edge.api.deps import CallerDep, GatewayDep
from edge.dispatch.model import Id
from edge.dispatch.service import EventKind, SubscriptionLost, TaskEvent, TaskService

router = APIRouter(tags=["tasks"])

KEEPALIVE_S = 15.0


def _concerns(event: TaskEvent, staff_id: str, sent: set[int]) -> bool:
    """Whether one person's stream carries the event. A task once sent to them keeps
    coming (its later versions say it was taken away, re-dispatched or cancelled)."""
    match event.kind:
        case EventKind.TASK:
            task = event.task
            if task is None:
                return False
            if task.staff_id == staff_id or task.id in sent:
                sent.add(task.id)
                return True
            return False
        case EventKind.STAFF:
            return event.staff is not None and event.staff.id == staff_id
        case EventKind.NOTIFY:
            return event.to == staff_id


async def _stream(
    service: TaskService, staff_id: str | None, signed_in: Callable[[], bool]
) -> AsyncIterator[str]:
    """`signed_in`: whether the caller may still listen (a handset revoked meanwhile
    may not: its stream ends with ``event: revoked`` within one keepalive)."""
    sent: set[int] = set()
    loop = asyncio.get_running_loop()
    # Subscribed here, not before the response starts: a client gone by then leaves
    # nothing registered.
    with service.subscribe() as subscription:
        yield ": connected\n\n"
        last_write = loop.time()
        while True:
            # The keepalive counts from the last byte written, not the last event seen:
            # a busy hotel's events for others must not starve a quiet handset's line.
            wait = max(0.0, last_write + KEEPALIVE_S - loop.time())
            try:
                async with asyncio.timeout(wait):
                    event = await subscription.get()
            except TimeoutError:
                if not signed_in():
                    yield "event: revoked\ndata: {}\n\n"
                    return
                yield ": keepalive\n\n"
                last_write = loop.time()
                continue
            except SubscriptionLost:
                yield "event: resync\ndata: {}\n\n"
                return
            if not signed_in():
                yield "event: revoked\ndata: {}\n\n"
                return
            if staff_id is None or _concerns(event, staff_id, sent):
                data = event.model_dump_json()
                yield f"id: {event.seq}\nevent: {event.kind.value}\ndata: {data}\n\n"
                last_write = loop.time()


@router.get("/events", response_class=StreamingResponse)
async def events(
    gateway: GatewayDep, caller: CallerDep, staff_id: Id | None = None
) -> StreamingResponse:
    """Server-Sent Events of task, staff and notification changes (see the module); a
    handset gets its own person's."""
    if caller.staff_id is not None:
        caller.may_act_for(staff_id or caller.staff_id)
        staff_id = caller.staff_id
    if staff_id is not None:
        gateway.tasks.person(staff_id)  # 404 for someone not on the roster

    def signed_in() -> bool:
        if caller.staff_id is None:
            return True  # the operator
        return gateway.handsets.holder(caller.token_sha256 or "") is not None

    return StreamingResponse(
        _stream(gateway.tasks, staff_id, signed_in),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
