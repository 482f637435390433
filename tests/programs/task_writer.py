"""A task service that takes requests and moves tasks on as fast as it can, printing each
acknowledged step as "<task id> <status>" only after the service has returned it.

Run by tests/test_dispatch_crash.py, which kills it with SIGKILL mid-writes and then
checks that every task printed here is in the store, at least as far along as printed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge.dispatch.errors import InvalidTransition, NotAssignee
from edge.dispatch.model import Skill, Staff, Task, TaskStatus
from edge.dispatch.service import TaskRequest, TaskService, TaskServiceConfig
from edge.persistence import GatewayStore
from shared.clock import WallClock
from shared.layout import PropertyLayout

ROOMS = 40
STAFF = 3


def emit(task: Task) -> None:
    sys.stdout.write(f"{task.id} {task.status.value}\n")
    sys.stdout.flush()


async def main(data_dir: str, run: str) -> None:
    store = GatewayStore(Path(data_dir))
    await store.open()
    layout = PropertyLayout.generate("crash", ROOMS)
    roster = [Staff(id=f"s{i}", skills=frozenset(Skill)) for i in range(STAFF)]
    service = TaskService(layout, store, WallClock(), roster, TaskServiceConfig())
    await service.start()
    for person in roster:
        await service.set_duty(person.id, True)
    rooms = layout.room_ids
    i = 0
    while True:
        task, _ = await service.submit(
            TaskRequest(request_id=f"{run}-{i}", room_id=rooms[i % ROOMS], kind="amenities")
        )
        emit(task)
        i += 1
        if i % 5 == 0:
            cancelled = await service.cancel(task.id, "the guest changed their mind")
            emit(cancelled)
        if i % 3:
            continue
        await service.run_round()
        for planned in service.tasks(TaskStatus.ASSIGNED):
            staff_id = planned.staff_id
            assert staff_id is not None
            try:
                emit(await service.accept(planned.id, staff_id))
                emit(await service.start_task(planned.id, staff_id))
                emit(await service.finish(planned.id, staff_id))
            except (InvalidTransition, NotAssignee):
                continue  # a round of the service's own loop moved it meanwhile


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
