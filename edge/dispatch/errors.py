"""Dispatch's errors: subclasses of the gateway's root, one per cause, each with its message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.errors import EdgeError

if TYPE_CHECKING:
    from .model import TaskStatus

__all__ = [
    "DuplicateRequest",
    "InvalidTask",
    "InvalidTransition",
    "NotAssignee",
    "UnknownStaff",
    "UnknownTask",
]

# What a transition to each status is called in a message ("it cannot be accepted").
_VERBS = {
    "new": "returned to the queue",
    "assigned": "assigned",
    "accepted": "accepted",
    "in_progress": "started",
    "done": "done",
    "cancelled": "cancelled",
    "escalated": "escalated",
}


class UnknownTask(EdgeError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"no task {task_id}")
        self.task_id = task_id


class UnknownStaff(EdgeError):
    def __init__(self, staff_id: str) -> None:
        super().__init__(f"no staff member {staff_id!r}")
        self.staff_id = staff_id


class InvalidTask(EdgeError):
    """A request the task service cannot take (unknown room or kind, no skill given...)."""


class InvalidTransition(EdgeError):
    """The lifecycle does not allow this step from the task's current status."""

    def __init__(self, task_id: int, current: TaskStatus, wanted: TaskStatus) -> None:
        super().__init__(
            f"task {task_id} is {current.value.replace('_', ' ')}; "
            f"it cannot be {_VERBS[wanted.value]}"
        )
        self.current = current
        self.wanted = wanted


class NotAssignee(EdgeError):
    """A person acts on a task that is someone else's (or nobody's) to act on."""


class DuplicateRequest(EdgeError):
    """A request id was used before for a different request."""
