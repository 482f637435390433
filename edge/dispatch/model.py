"""What dispatch is about: tasks with their lifecycle, and the staff who do them.

Frozen pydantic models: the same objects are journaled, shown by the API, handed to the
pure dispatch core (which may run on another thread) and driven by the day simulation.
A change is a new object; `Task.moved` is the only way a task changes status, and it
refuses a transition the state machine does not allow.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.layout import ServicePointKind

from .errors import InvalidTransition

__all__ = [
    "ALLOWED",
    "COMMITTED",
    "OPEN",
    "POOL",
    "Priority",
    "Relevance",
    "Shift",
    "Skill",
    "Source",
    "Staff",
    "Task",
    "TaskStatus",
    "Transition",
]

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
HISTORY_LIMIT = 50  # transitions kept per task; a task that bounces more is kept short


class Skill(StrEnum):
    HOUSEKEEPING = "housekeeping"
    ENGINEERING = "engineering"
    FOOD_BEVERAGE = "food_beverage"  # room service, in-room dining, drinks
    FRONT_DESK = "front_desk"  # bell, luggage, concierge errands
    FIRST_AID = "first_aid"


class Priority(StrEnum):
    """The priority class and its service target: time until someone is in the room."""

    URGENT = "urgent"  # medical and safety: 10 minutes
    STANDARD = "standard"  # 30 minutes

    @property
    def target_s(self) -> float:
        return 600.0 if self is Priority.URGENT else 1800.0

    @property
    def rank(self) -> int:
        return 0 if self is Priority.URGENT else 1


class Relevance(StrEnum):
    """How strongly a request is tied to a stored guest preference (seed 003).

    ``high``: the preference is a must (the guest's required shampoo brand); ``normal``:
    a known liking (extra slippers); ``none``: a plain request. Within one priority
    class a more relevant request ranks first.
    """

    NONE = "none"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return {"high": 0, "normal": 1, "none": 2}[self.value]


class Source(StrEnum):
    GUEST = "guest"  # the intake API: guest page, phone operator, voice assistant
    BUTTON = "button"  # the room's make-up-room button
    HANDSET = "handset"  # staff raised it
    PMS = "pms"  # preparation before an arrival
    PREDICTOR = "predictor"
    FAULT = "fault"  # the twin saw a device fault


class TaskStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"  # planned for a person who has not accepted it yet
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"
    # Overdue with nobody having accepted it: the supervisor is told and it stays in
    # the dispatch pool, first in rank. `escalated_at` remembers it after it is assigned.
    ESCALATED = "escalated"


S = TaskStatus
ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.NEW: frozenset({S.ASSIGNED, S.CANCELLED, S.ESCALATED}),
    S.ESCALATED: frozenset({S.ASSIGNED, S.CANCELLED}),
    # ASSIGNED -> ASSIGNED: a later round gives it to someone else (not yet accepted).
    # ASSIGNED -> NEW/ESCALATED: no longer planned, or not accepted in time.
    S.ASSIGNED: frozenset({S.ASSIGNED, S.ACCEPTED, S.NEW, S.ESCALATED, S.CANCELLED}),
    # ACCEPTED/IN_PROGRESS -> NEW/ESCALATED: preempted by urgent work, or the person
    # went off duty; the task keeps its place (created_at) in the queue.
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.NEW, S.ESCALATED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.DONE, S.NEW, S.ESCALATED, S.CANCELLED}),
    S.DONE: frozenset(),
    S.CANCELLED: frozenset(),
}
OPEN = frozenset(s for s, nxt in ALLOWED.items() if nxt)
POOL = frozenset({S.NEW, S.ESCALATED})  # waiting for a dispatch round
COMMITTED = frozenset({S.ACCEPTED, S.IN_PROGRESS})  # stays with its person


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Transition(_Frozen):
    at: float
    status: TaskStatus
    staff_id: str | None = None
    reason: str | None = None


class Task(_Frozen):
    id: int = Field(ge=1)
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    # SHA-256 of the canonical request body: the same request id with another body is a
    # conflict. None for tasks stored before it was recorded.
    request_digest: str | None = None
    kind: Id
    skill: Skill
    speciality: Id | None = None  # a finer skill the person must have ("ironing")
    room_id: Id
    priority: Priority = Priority.STANDARD
    relevance: Relevance = Relevance.NONE
    preference_id: Id | None = None
    source: Source = Source.GUEST
    note: Annotated[str, StringConstraints(max_length=500)] | None = None
    respect_dnd: bool = False  # uninvited work waits while the room says do-not-disturb
    checklist: tuple[str, ...] = ()
    service_s: float = Field(default=300.0, gt=0)  # expected time in the room
    pickup: ServicePointKind | None = None  # where to fetch what the task needs
    cause: str | None = None  # fault tasks: de-duplication key per room and cause
    created_at: float
    due_at: float
    status: TaskStatus = TaskStatus.NEW
    staff_id: str | None = None
    trip_id: int | None = None
    route_index: int = 0
    assigned_at: float | None = None
    accepted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    escalated_at: float | None = None
    preemptions: int = 0
    declined_by: tuple[str, ...] = ()  # people who let an assignment of it time out
    updated_at: float
    history: tuple[Transition, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def rank(self) -> tuple[int, int, float, int]:
        """Dispatch order: priority class, preference relevance, then first come first served."""
        return (self.priority.rank, self.relevance.rank, self.created_at, self.id)

    @property
    def pool_status(self) -> TaskStatus:
        """The status it has while waiting for a round."""
        return TaskStatus.ESCALATED if self.escalated_at is not None else TaskStatus.NEW

    def require(self, to: TaskStatus) -> None:
        """Raise `InvalidTransition` unless the lifecycle allows moving to `to`."""
        if to not in ALLOWED[self.status]:
            raise InvalidTransition(self.id, self.status, to)

    def moved(
        self,
        to: TaskStatus,
        at: float,
        *,
        staff_id: str | None = None,
        reason: str | None = None,
        **changes: Any,
    ) -> Task:
        """The task after a transition; `InvalidTransition` if the lifecycle forbids it.

        Returning to the pool clears the assignment; other fields change through
        `changes` (validated by the caller: this is the hot path of a dispatch round).
        """
        self.require(to)
        update: dict[str, Any] = {"status": to, "updated_at": at, **changes}
        if to in POOL:
            update.update(staff_id=None, trip_id=None, route_index=0, assigned_at=None)
            update.setdefault("accepted_at", None)
        elif staff_id is not None:
            update["staff_id"] = staff_id
        history = (*self.history, Transition(at=at, status=to, staff_id=staff_id, reason=reason))
        update["history"] = history[-HISTORY_LIMIT:]
        return self.model_copy(update=update)

    def noted(self, at: float, reason: str, **changes: Any) -> Task:
        """The task with a history entry (and `changes`) but no change of status."""
        entry = Transition(at=at, status=self.status, staff_id=self.staff_id, reason=reason)
        return self.model_copy(
            update={
                "updated_at": at,
                "history": (*self.history, entry)[-HISTORY_LIMIT:],
                **changes,
            }
        )


class Shift(_Frozen):
    """Working hours as hotel-local seconds since midnight; `end` < `start` spans midnight."""

    start_s: float = Field(ge=0, lt=86_400)
    end_s: float = Field(ge=0, lt=86_400)

    def covers(self, second_of_day: float) -> bool:
        if self.start_s <= self.end_s:
            return self.start_s <= second_of_day < self.end_s
        return second_of_day >= self.start_s or second_of_day < self.end_s


class Staff(_Frozen):
    id: Id
    name: str = ""
    skills: frozenset[Skill]
    specialities: frozenset[str] = frozenset()
    shift: Shift | None = None
    supervisor: bool = False  # receives escalations
    on_duty: bool = False
    floor: int = 0  # where the person was last seen (a task started or finished)
    position_m: float = 0.0
    last_room: str | None = None
    preemptions: int = 0  # times their work was preempted since they went on duty
    done_count: int = 0  # tasks finished since they went on duty: "less loaded" in ties

    def can_do(self, skills: frozenset[Skill], specialities: frozenset[str]) -> bool:
        return skills <= self.skills and specialities <= self.specialities
