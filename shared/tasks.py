"""Stopping asyncio tasks reliably."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

__all__ = ["cancel_and_wait"]

# How often a cancellation is repeated while a task has not finished.
RECANCEL_EVERY_S = 0.1


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object]]) -> None:
    """Cancel `tasks` and wait until every one has finished.

    One `cancel()` is not always enough on Python 3.11: `asyncio.wait_for` swallows a
    cancellation that arrives in the same loop iteration as its result (fixed in 3.12),
    which aiomqtt hits when the gateway stops just as a SUBACK arrives; the task then
    waits forever for its next message. So the cancellation is repeated until the task
    is done.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY_S)
