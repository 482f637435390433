"""SIGKILL in the middle of the task service's writes loses no acknowledged step."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.assignment import warm_up
from edge.dispatch.model import Task, TaskStatus
from edge.dispatch.persistence import TaskStore
from edge.persistence import GatewayStore
from tests.fixtures.crash import run_and_kill

ACKS_BEFORE_KILL = (150, 300)
# How far along a task is: a later step never takes it back (no urgent work here, so
# nothing is preempted, and no task is overdue within a test's seconds).
_ORDER = {
    TaskStatus.NEW: 0,
    TaskStatus.ASSIGNED: 1,
    TaskStatus.ACCEPTED: 2,
    TaskStatus.IN_PROGRESS: 3,
    TaskStatus.DONE: 4,
    TaskStatus.CANCELLED: 4,
}


@pytest.fixture(autouse=True, scope="module")
def _solver_compiled() -> None:
    """Fill numba's disk cache, so that the child processes only load it."""
    warm_up()


def _run_and_kill(data_dir: Path, run: str, after: int) -> list[tuple[int, TaskStatus]]:
    lines = run_and_kill("tests.programs.task_writer", [str(data_dir), run], after)
    acked = []
    for line in lines:
        task_id, status = line.split()
        acked.append((int(task_id), TaskStatus(status)))
    return acked


def test_sigkill_keeps_every_acknowledged_task_and_step(tmp_path: Path) -> None:
    acked: list[tuple[int, TaskStatus]] = []
    for run, after in enumerate(ACKS_BEFORE_KILL):
        acked += _run_and_kill(tmp_path, f"run{run}", after)

    async def stored() -> dict[int, Task]:
        store = GatewayStore(tmp_path)
        await store.open()
        try:
            tasks, _ = await TaskStore(store).load()
            return {t.id: t for t in tasks}
        finally:
            await store.close()

    found = asyncio.run(stored())
    last: dict[int, TaskStatus] = dict(acked)
    missing = [i for i in last if i not in found]
    assert not missing, f"{len(missing)} of {len(last)} acknowledged tasks lost, e.g. {missing[:3]}"
    behind = [
        (i, status, found[i].status)
        for i, status in last.items()
        if _ORDER[found[i].status] < _ORDER[status]
        or (_ORDER[status] == 4 and found[i].status is not status)
    ]
    assert not behind, f"tasks stored behind their acknowledged step, e.g. {behind[:3]}"
    assert {TaskStatus.DONE, TaskStatus.CANCELLED} <= set(last.values())
    assert len(acked) >= sum(ACKS_BEFORE_KILL)
