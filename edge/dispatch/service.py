"""The task service of one property: intake, lifecycle, dispatch rounds, escalation, events.

* **Durable first.** Every new task and every transition is journaled (fsynced, on the
  gateway store's thread) before the caller gets an answer and before any subscriber
  hears of it; a task that was acknowledged survives `kill -9`.
* **One writer at a time.** Intake, staff actions, rounds and escalations take one
  asyncio lock, so each sees the state the previous one left and they are journaled
  in that order.
* **Rounds** run on events (intake, done, cancel, duty, a fault) and every
  `round_interval_s` of hotel time; `plan_round` (with its numba solve) runs on a
  dedicated single worker thread, warmed up at start, never on the event loop.
* **Escalation** is checked by the same loop, which sleeps on the `Clock` until the next
  deadline: an assignment not accepted within `accept_timeout_s` is re-dispatched (the
  person pays a penalty for that task); a task not started by its due time is escalated
  to the supervisor, and for an urgent one the supporting resource (the clinic for a
  medical call) is notified too. An urgent task notifies its supporting resource as
  soon as it opens.
* **Events**: subscribers (the handsets' `GET /events` stream; tests) get every committed
  change and notification, in order, from a bounded queue; one that falls behind is
  dropped and must re-read the state.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from edge.assignment import warm_up
from edge.errors import UnknownRoom
from edge.persistence import GatewayStore
from edge.settings import EdgeSettings
from edge.twin import RoomTwin
from shared.clock import Clock, wait_event
from shared.layout import PropertyLayout
from shared.tasks import cancel_and_wait
from shared.topics import Device

from .catalogue import CATALOGUE, GENERIC_KIND, supporting_point
from .dispatcher import DispatchState, RoundPlan, apply_plan, plan_round
from .errors import DuplicateRequest, InvalidTask, NotAssignee, UnknownStaff, UnknownTask
from .faults import FaultThresholds, Signal, SignalKind, TwinWatcher
from .model import (
    OPEN,
    POOL,
    Priority,
    Relevance,
    Skill,
    Source,
    Staff,
    Task,
    TaskStatus,
    Transition,
)
from .persistence import TaskStore
from .policy import DispatchPolicy
from .roster import load_roster
from .travel import TravelModel

__all__ = [
    "EventKind",
    "StaffStatus",
    "Subscription",
    "TaskEvent",
    "TaskRequest",
    "TaskService",
    "TaskServiceConfig",
]

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 1000  # events a subscriber may lag behind before it is dropped
RETRY_AFTER_FAILURE_S = 5.0  # hotel seconds before the loop tries again after an error
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
# Before the due time, an unstarted task is not escalated; these are the statuses in
# which "not started" holds.
_UNSTARTED = frozenset({TaskStatus.NEW, TaskStatus.ASSIGNED, TaskStatus.ACCEPTED})


class TaskRequest(BaseModel):
    """A request from any channel (guest page, phone operator, voice assistant, PMS...).

    `request_id` makes it idempotent: the same id again returns the task it created.
    Name a catalogue `kind` ("extra_pillow"), or a bare `skill` for anything else.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    room_id: Id
    kind: Id | None = None
    skill: Skill | None = None
    speciality: Id | None = None
    priority: Priority | None = None  # default: the kind's
    preference_id: Id | None = None
    relevance: Relevance | None = None  # default: normal with a preference link, else none
    source: Source = Source.GUEST
    note: Annotated[str, StringConstraints(max_length=500)] | None = None
    # Default: the priority's target; at most a week, and a number (no inf or NaN).
    due_in_s: float | None = Field(default=None, gt=0, le=7 * 86_400, allow_inf_nan=False)

    @model_validator(mode="after")
    def _kind_or_skill(self) -> TaskRequest:
        if self.kind is None and self.skill is None:
            raise ValueError("give a kind (e.g. 'extra_pillow') or a skill")
        if self.kind is not None and self.kind != GENERIC_KIND and self.kind not in CATALOGUE:
            raise ValueError(
                f"unknown kind {self.kind!r}; known: {', '.join(sorted(CATALOGUE))}, "
                f"or {GENERIC_KIND!r} with a skill"
            )
        if self.kind == GENERIC_KIND and self.skill is None:
            raise ValueError(f"kind {GENERIC_KIND!r} needs a skill")
        spec = CATALOGUE.get(self.kind) if self.kind is not None else None
        if spec is not None and self.skill is not None and self.skill is not spec.skill:
            raise ValueError(
                f"kind {self.kind!r} is {spec.skill.value} work, not {self.skill.value}; "
                "leave the skill out, or use kind "
                f"{GENERIC_KIND!r}"
            )
        return self


@dataclass(frozen=True, slots=True)
class TaskServiceConfig:
    round_interval_s: float = 30.0
    accept_timeout_s: float = 300.0
    retention_s: float = 7 * 86_400.0  # finished tasks are kept this long
    policy: DispatchPolicy = field(default_factory=DispatchPolicy)
    faults: FaultThresholds = field(default_factory=FaultThresholds)

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> TaskServiceConfig:
        return cls(
            round_interval_s=settings.dispatch_interval_s,
            accept_timeout_s=settings.task_accept_timeout_s,
            faults=FaultThresholds(
                door_open_s=settings.fault_door_open_s,
                hvac_s=settings.fault_hvac_s,
                offline_s=settings.fault_offline_s,
            ),
        )


class EventKind(StrEnum):
    TASK = "task"  # a task was created or changed: `task` is its new version
    STAFF = "staff"  # a person changed (duty, preemptions): `staff`
    NOTIFY = "notify"  # someone must be told: `to` (supervisor, clinic...) and `message`


class TaskEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: float
    kind: EventKind
    task: Task | None = None
    staff: Staff | None = None
    to: str | None = None
    message: str | None = None


class StaffStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    staff: Staff
    load: int  # open tasks assigned to, accepted by or in progress with this person
    tasks: tuple[int, ...]


class SubscriptionLost(Exception):
    """The subscriber fell more than `SUBSCRIBER_QUEUE` events behind; re-read the state."""


class Subscription:
    """Events in commit order; `async for event in subscription` or `await get()`."""

    def __init__(self, service: TaskService, maxsize: int) -> None:
        self._service = service
        self._queue: asyncio.Queue[TaskEvent] = asyncio.Queue(maxsize)
        self.lost = False

    def _offer(self, event: TaskEvent) -> bool:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lost = True
            return False
        return True

    async def get(self) -> TaskEvent:
        if self.lost and self._queue.empty():
            raise SubscriptionLost
        return await self._queue.get()

    def get_nowait(self) -> TaskEvent | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def __aiter__(self) -> AsyncIterator[TaskEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[TaskEvent]:
        while True:
            yield await self.get()

    def close(self) -> None:
        self._service._subscribers.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class TaskService:
    def __init__(
        self,
        layout: PropertyLayout,
        store: GatewayStore,
        clock: Clock,
        roster: Sequence[Staff] = (),
        config: TaskServiceConfig | None = None,
    ) -> None:
        self.layout = layout
        self.clock = clock
        self.config = config or TaskServiceConfig()
        self._store = TaskStore(store)
        self._roster = list(roster)
        self._travel = TravelModel(layout)
        self._watcher = TwinWatcher(self.config.faults)
        self._tasks: dict[int, Task] = {}
        self._open: set[int] = set()
        self._requests: dict[str, int] = {}
        self._staff: dict[str, Staff] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._signals: list[Signal] = []
        self._signals_in_hand: set[str] = set()  # request ids of signals being processed
        self._subscribers: set[Subscription] = set()
        self._seq = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None
        self._warm: asyncio.Future[float] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.last_plan: RoundPlan | None = None
        # Lasting faults for the gateway's /health (e.g. a failed solver warm-up).
        self.faults: list[str] = []

    @classmethod
    def from_settings(
        cls, settings: EdgeSettings, layout: PropertyLayout, store: GatewayStore, clock: Clock
    ) -> TaskService:
        roster = load_roster(settings.staff_file) if settings.staff_file is not None else []
        return cls(layout, store, clock, roster, TaskServiceConfig.from_settings(settings))

    # ---- lifecycle ----

    async def start(self) -> None:
        """Load tasks and staff from the store, warm the solver up, start the loop."""
        tasks, stored_staff = await self._store.load()
        now = self.clock.now()
        old = [
            t.id for t in tasks if not t.is_open and t.updated_at < now - self.config.retention_s
        ]
        await self._store.prune(old)
        pruned = set(old)
        for task in tasks:
            if task.id not in pruned:
                self._remember(task)
        stored = {s.id: s for s in stored_staff}
        merged = []
        for listed in self._roster:
            # The roster says who someone is and can do; the store, what they are doing.
            previous = stored.get(listed.id)
            person = listed
            if previous is not None:
                person = listed.model_copy(
                    update={
                        k: getattr(previous, k)
                        for k in (
                            "on_duty",
                            "floor",
                            "position_m",
                            "last_room",
                            "preemptions",
                            "done_count",
                        )
                    }
                )
            self._staff[person.id] = person
            if previous != person:
                merged.append(person)
        # Work held by someone no longer on the roster goes back to the queue, work in
        # progress too (nobody could finish it); for that the supervisor is told.
        held = [
            t
            for t in self._open_tasks()
            if t.staff_id is not None and t.staff_id not in self._staff
        ]
        orphans = [
            t.moved(t.pool_status, now, reason=f"{t.staff_id} is no longer on the roster")
            for t in held
        ]
        await self._store.save(orphans, merged)
        self._commit(orphans, merged)
        for task in held:
            if task.status is TaskStatus.IN_PROGRESS:
                self._notify("supervisor", _orphan_message(task), now)
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-dispatch")
        if self._staff:
            # Not awaited: start() stays quick even when numba's cache is cold (a compile
            # takes half a minute); rounds wait for it, intake does not. Without staff
            # there is nothing to solve and numba is never touched.
            self._warm = loop.run_in_executor(self._executor, warm_up)
        self._loop_task = asyncio.create_task(self._run(), name="task-service")
        log.info(
            "task service: %d open tasks, %d staff (%d on duty)",
            len(self._open),
            len(self._staff),
            sum(s.on_duty for s in self._staff.values()),
        )

    async def close(self) -> None:
        if self._loop_task is not None:
            await cancel_and_wait([self._loop_task])
            self._loop_task = None
        if self._warm is not None:
            await asyncio.gather(self._warm, return_exceptions=True)
            self._warm = None
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
            self._executor = None
        for subscription in list(self._subscribers):
            subscription.close()

    # ---- reading ----

    def get(self, task_id: int) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise UnknownTask(task_id)
        return task

    def by_request(self, request_id: str) -> Task | None:
        """The task a request id created, if it is still kept."""
        task_id = self._requests.get(request_id)
        return self._tasks.get(task_id) if task_id is not None else None

    def tasks(self, status: TaskStatus | None = None) -> list[Task]:
        if status is None:
            return [self._tasks[i] for i in sorted(self._tasks)]
        source = self._open if status in OPEN else self._tasks
        return [self._tasks[i] for i in sorted(source) if self._tasks[i].status is status]

    def staff(self) -> list[StaffStatus]:
        held: dict[str, list[int]] = {}
        for task in self._open_tasks():
            if task.staff_id is not None:
                held.setdefault(task.staff_id, []).append(task.id)
        return [
            StaffStatus(staff=s, load=len(held.get(s.id, ())), tasks=tuple(held.get(s.id, ())))
            for s in sorted(self._staff.values(), key=lambda s: s.id)
        ]

    def person(self, staff_id: str) -> Staff:
        person = self._staff.get(staff_id)
        if person is None:
            raise UnknownStaff(staff_id)
        return person

    def subscribe(self, maxsize: int = SUBSCRIBER_QUEUE) -> Subscription:
        subscription = Subscription(self, maxsize)
        self._subscribers.add(subscription)
        return subscription

    @property
    def dnd_rooms(self) -> frozenset[str]:
        return frozenset(self._watcher.dnd_rooms)

    # ---- intake ----

    async def submit(self, request: TaskRequest) -> tuple[Task, bool]:
        """Create the task (durably) or return the one this request id made; (task, created)."""
        return await self._submit(request, cause=None)

    async def _submit(self, request: TaskRequest, cause: str | None) -> tuple[Task, bool]:
        if not self.layout.has_room(request.room_id):
            raise UnknownRoom(self.layout.property_id, request.room_id)
        async with self._lock:
            existing = self._requests.get(request.request_id)
            if existing is not None:
                task = self._tasks[existing]
                differs = _differences(task, request)
                if differs:
                    raise DuplicateRequest(
                        f"request id {request.request_id!r} was used for task {task.id} "
                        f"({task.kind} in room {task.room_id}) with another "
                        f"{', '.join(differs)}"
                    )
                return task, False
            now = self.clock.now()
            task = await self._store.create(lambda task_id: _new_task(task_id, request, cause, now))
            self._commit([task])
            if task.priority is Priority.URGENT:
                self._notify(supporting_point(task.skill).value, _urgent_message(task), now)
        self._wake.set()
        return task, True

    # ---- what staff do ----

    async def accept(self, task_id: int, staff_id: str) -> Task:
        """Accept an assigned task, and the rest of its trip with it."""
        async with self._lock:
            task, _ = self._mine(task_id, staff_id, TaskStatus.ACCEPTED)
            now = self.clock.now()
            trip = [
                t
                for t in self._open_tasks()
                if t.staff_id == staff_id
                and t.status is TaskStatus.ASSIGNED
                and t.trip_id == task.trip_id
            ]
            changed = [
                t.moved(TaskStatus.ACCEPTED, now, staff_id=staff_id, accepted_at=now) for t in trip
            ]
            await self._save_and_commit(changed)
        return self._tasks[task_id]

    async def start_task(self, task_id: int, staff_id: str) -> Task:
        async with self._lock:
            task, person = self._mine(task_id, staff_id, TaskStatus.IN_PROGRESS)
            now = self.clock.now()
            changed = task.moved(TaskStatus.IN_PROGRESS, now, staff_id=staff_id, started_at=now)
            await self._save_and_commit([changed], [self._in_room(person, task)])
        return self._tasks[task_id]

    async def finish(self, task_id: int, staff_id: str) -> Task:
        async with self._lock:
            task, person = self._mine(task_id, staff_id, TaskStatus.DONE)
            now = self.clock.now()
            changed = task.moved(TaskStatus.DONE, now, staff_id=staff_id, finished_at=now)
            person = person.model_copy(update={"done_count": person.done_count + 1})
            await self._save_and_commit([changed], [self._in_room(person, task)])
        self._wake.set()
        return self._tasks[task_id]

    async def cancel(self, task_id: int, reason: str, staff_id: str | None = None) -> Task:
        return await self._cancel(task_id, reason, staff_id)

    async def _cancel(
        self, task_id: int, reason: str, staff_id: str | None = None, unless_started: bool = False
    ) -> Task:
        """Cancel; with `unless_started`, a task already in progress (or no longer open),
        checked under the lock, is left as it is."""
        async with self._lock:
            task = self.get(task_id)
            if unless_started and (task.status is TaskStatus.IN_PROGRESS or not task.is_open):
                return task
            if staff_id is not None:
                self.person(staff_id)
            task.require(TaskStatus.CANCELLED)
            changed = task.moved(TaskStatus.CANCELLED, self.clock.now(), reason=reason)
            if staff_id is not None:
                # Who cancelled goes to the history; the task's holder stays as it was.
                entry = changed.history[-1].model_copy(update={"staff_id": staff_id})
                changed = changed.model_copy(update={"history": (*changed.history[:-1], entry)})
            await self._save_and_commit([changed])
        self._wake.set()
        return self._tasks[task_id]

    async def set_duty(self, staff_id: str, on_duty: bool) -> Staff:
        """On or off duty. Off duty, what the person accepted but has not started goes
        back to the queue (keeping its place: rank is by creation) and, with what was only
        planned for them, to others at the next round; work in progress stays theirs."""
        async with self._lock:
            person = self.person(staff_id)
            if person.on_duty != on_duty:
                update: dict[str, object] = {"on_duty": on_duty}
                if on_duty:  # the preemption bound and the load count are per duty period
                    update.update(preemptions=0, done_count=0)
                now = self.clock.now()
                returned = []
                if not on_duty:
                    returned = [
                        t.moved(t.pool_status, now, reason=f"{staff_id} went off duty")
                        for t in self._open_tasks()
                        if t.staff_id == staff_id and t.status is TaskStatus.ACCEPTED
                    ]
                await self._save_and_commit(returned, [person.model_copy(update=update)])
        self._wake.set()
        return self._staff[staff_id]

    async def handset_lost(self, staff_id: str) -> list[Task]:
        """A person's handset was revoked: off duty (nothing more is dispatched to a
        device nobody holds; accepted work goes to others), and the supervisor is told
        of the work they had started, which stays theirs (they may well be at it)."""
        await self.set_duty(staff_id, on_duty=False)
        started = [
            t
            for t in self._open_tasks()
            if t.staff_id == staff_id and t.status is TaskStatus.IN_PROGRESS
        ]
        now = self.clock.now()
        for task in started:
            self._notify(
                "supervisor",
                f"{staff_id}'s handset was revoked with task {task.id} ({task.kind}, room "
                f"{task.room_id}) in progress: follow up with them in person",
                now,
            )
        return started

    def _mine(self, task_id: int, staff_id: str, to: TaskStatus) -> tuple[Task, Staff]:
        task = self.get(task_id)
        person = self.person(staff_id)
        task.require(to)  # the lifecycle's refusal comes first, with its message
        if task.staff_id != staff_id:
            holder = f"assigned to {task.staff_id}" if task.staff_id else "not assigned to anyone"
            raise NotAssignee(f"task {task_id} is {holder}, not to {staff_id}")
        return task, person

    def _in_room(self, person: Staff, task: Task) -> Staff:
        place = self._travel.room(task.room_id)
        return person.model_copy(
            update={"floor": place.floor, "position_m": place.position_m, "last_room": task.room_id}
        )

    # ---- fed by the gateway ----

    def on_twin_change(self, room: RoomTwin, device: Device) -> None:
        """The twin applied a message for `device` of `room` (called for every message)."""
        signals = self._watcher.observe(room, device, self.clock.now())
        if signals:
            self._signals.extend(signals)
            self._wake.set()

    # ---- the loop: signals, escalation, rounds ----

    async def _run(self) -> None:
        while True:
            now = self.clock.now()
            wait = min(self.config.round_interval_s, max(0.0, self._next_deadline() - now))
            await wait_event(self._wake, self.clock, wait)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                # A failed round (a full disk, say) must not end dispatching for good.
                log.exception("task service: a round failed; retrying")
                await self.clock.sleep(RETRY_AFTER_FAILURE_S)

    async def tick(self) -> RoundPlan | None:
        """Open and cancel tasks for what the twin saw, escalate, then dispatch."""
        now = self.clock.now()
        # A fault stays due until its task exists: not again while queued or in hand
        # (a concurrent tick's copy would carry another note under the same request id).
        pending = {s.request_id for s in self._signals} | self._signals_in_hand
        self._signals.extend(s for s in self._watcher.due(now) if s.request_id not in pending)
        # One by one: a signal that fails goes back in front, with those behind it kept.
        while self._signals:
            signal = self._signals.pop(0)
            self._signals_in_hand.add(signal.request_id)
            try:
                await self._on_signal(signal)
            except BaseException:
                self._signals.insert(0, signal)
                raise
            finally:
                self._signals_in_hand.discard(signal.request_id)
            self._watcher.reported(signal)
        await self._escalate()
        return await self.run_round()

    def _next_deadline(self) -> float:
        timeout = self.config.accept_timeout_s
        deadlines = [float("inf")]
        for task in self._open_tasks():
            if task.status is TaskStatus.ASSIGNED and task.assigned_at is not None:
                deadlines.append(task.assigned_at + timeout)
            if task.escalated_at is None and task.status in _UNSTARTED:
                deadlines.append(task.due_at)
        due = self._watcher.next_due()
        if due is not None:
            deadlines.append(due)
        return min(deadlines)

    async def _on_signal(self, signal: Signal) -> None:
        same = [
            t for t in self._open_tasks() if t.room_id == signal.room_id and t.cause == signal.cause
        ]
        if signal.kind is SignalKind.OPEN:
            if same:
                return  # one open task per room and cause
            source = Source.BUTTON if signal.task_kind == "make_up_room" else Source.FAULT
            request = TaskRequest(
                request_id=signal.request_id,
                room_id=signal.room_id,
                kind=signal.task_kind,
                source=source,
                note=signal.reason,
            )
            await self._submit(request, cause=signal.cause)
            return
        for task in same:
            # Re-checked under the lock: the person may have started it since `same`.
            await self._cancel(task.id, signal.reason, unless_started=True)

    async def _escalate(self) -> None:
        async with self._lock:
            now = self.clock.now()
            timeout = self.config.accept_timeout_s
            changed: list[Task] = []
            notices: list[tuple[str, str]] = []
            for task in self._open_tasks():
                updated = task
                if (
                    task.status is TaskStatus.ASSIGNED
                    and task.assigned_at is not None
                    and now - task.assigned_at >= timeout
                    and task.staff_id is not None
                ):
                    updated = task.moved(
                        task.pool_status,
                        now,
                        staff_id=task.staff_id,
                        reason=f"not accepted within {timeout / 60:g} min; re-dispatched",
                        declined_by=(*task.declined_by, task.staff_id),
                    )
                if (
                    updated.escalated_at is None
                    and updated.status in _UNSTARTED
                    and now >= updated.due_at
                ):
                    told = ["the supervisor"]
                    if updated.priority is Priority.URGENT:
                        told.append(
                            f"the {supporting_point(updated.skill).value.replace('_', ' ')}"
                        )
                    reason = f"not started by its due time: {' and '.join(told)} notified"
                    if updated.status is TaskStatus.ACCEPTED:
                        # It stays with the person who accepted it; the supervisor follows up.
                        updated = updated.noted(now, reason, escalated_at=now)
                    else:
                        updated = updated.moved(
                            TaskStatus.ESCALATED, now, reason=reason, escalated_at=now
                        )
                    notices.append(("supervisor", _overdue_message(updated, now)))
                    if updated.priority is Priority.URGENT:
                        notices.append(
                            (supporting_point(updated.skill).value, _overdue_message(updated, now))
                        )
                if updated is not task:
                    changed.append(updated)
            await self._save_and_commit(changed)
            for to, message in notices:
                self._notify(to, message, now)

    async def run_round(self) -> RoundPlan | None:
        """One dispatch round now; None when there was nothing to plan."""
        warm = self._warm
        if warm is not None:
            # Outside the lock: a cold numba cache compiles for tens of seconds, and
            # intake and staff actions must not wait for that.
            try:
                await warm
            except Exception as error:
                if self._warm is warm:  # once, however many rounds were waiting
                    log.exception("task service: the solver warm-up failed")
                    self.faults.append(f"dispatch solver warm-up failed: {error!r}")
            # Done either way: after a failure, rounds compile lazily on the dispatch
            # thread instead of re-raising the warm-up's error for good.
            if self._warm is warm:
                self._warm = None
        async with self._lock:
            open_tasks = {t.id: t for t in self._open_tasks()}
            plannable = any(
                t.status in POOL or t.status is TaskStatus.ASSIGNED for t in open_tasks.values()
            )
            if not plannable or self._executor is None:
                return None
            now = self.clock.now()
            state = DispatchState(
                tasks=list(open_tasks.values()),
                staff=list(self._staff.values()),
                dnd_rooms=frozenset(self._watcher.dnd_rooms),
            )
            plan = await asyncio.get_running_loop().run_in_executor(
                self._executor, plan_round, state, now, self._travel, self.config.policy
            )
            changed, people = apply_plan(open_tasks, self._staff, plan, now)
            await self._save_and_commit(changed, people)
            self.last_plan = plan
            return plan

    # ---- committing: durable first, then memory, then subscribers ----

    def _open_tasks(self) -> list[Task]:
        return [self._tasks[i] for i in sorted(self._open)]

    def _remember(self, task: Task) -> None:
        self._tasks[task.id] = task
        self._requests[task.request_id] = task.id
        if task.is_open:
            self._open.add(task.id)
        else:
            self._open.discard(task.id)

    async def _save_and_commit(self, tasks: Sequence[Task], staff: Sequence[Staff] = ()) -> None:
        await self._store.save(tasks, staff)
        self._commit(tasks, staff)

    def _commit(self, tasks: Iterable[Task], staff: Iterable[Staff] = ()) -> None:
        now = self.clock.now()
        for task in tasks:
            self._remember(task)
            self._publish(TaskEvent(seq=next(self._seq), at=now, kind=EventKind.TASK, task=task))
        for person in staff:
            self._staff[person.id] = person
            self._publish(
                TaskEvent(seq=next(self._seq), at=now, kind=EventKind.STAFF, staff=person)
            )

    def _notify(self, to: str, message: str, at: float) -> None:
        log.info("task service: notify %s: %s", to, message)
        self._publish(
            TaskEvent(seq=next(self._seq), at=at, kind=EventKind.NOTIFY, to=to, message=message)
        )

    def _publish(self, event: TaskEvent) -> None:
        for subscription in list(self._subscribers):
            if not subscription._offer(event):
                log.warning("task service: a subscriber fell behind and was dropped")
                self._subscribers.discard(subscription)


def _new_task(task_id: int, request: TaskRequest, cause: str | None, now: float) -> Task:
    kind = CATALOGUE.get(request.kind or GENERIC_KIND)
    skill = request.skill or (kind.skill if kind is not None else None)
    if skill is None:  # the request's validator already ensures one of them
        raise InvalidTask("a task needs a kind or a skill")
    priority = request.priority or (kind.priority if kind is not None else Priority.STANDARD)
    relevance = request.relevance or (
        Relevance.NORMAL if request.preference_id is not None else Relevance.NONE
    )
    due_in = request.due_in_s or priority.target_s
    respect_dnd = (kind.respect_dnd if kind is not None else False) or request.source in (
        Source.PMS,
        Source.PREDICTOR,
    )
    return Task(
        id=task_id,
        request_id=request.request_id,
        request_digest=request_digest(request),
        kind=request.kind or GENERIC_KIND,
        skill=skill,
        speciality=request.speciality or (kind.speciality if kind is not None else None),
        room_id=request.room_id,
        priority=priority,
        relevance=relevance,
        preference_id=request.preference_id,
        source=request.source,
        note=request.note,
        respect_dnd=respect_dnd,
        checklist=kind.checklist if kind is not None else (),
        service_s=kind.service_s if kind is not None else 300.0,
        pickup=kind.pickup if kind is not None else None,
        cause=cause,
        created_at=now,
        due_at=now + due_in,
        updated_at=now,
        history=(Transition(at=now, status=TaskStatus.NEW, reason=f"from {request.source}"),),
    )


def _canonical(request: TaskRequest) -> dict[str, object]:
    """The request as the task it makes: defaults resolved, so that leaving a field to its
    default and spelling the default out are the same request."""
    kind = CATALOGUE.get(request.kind or GENERIC_KIND)
    priority = request.priority or (kind.priority if kind is not None else Priority.STANDARD)
    return {
        "room_id": request.room_id,
        "kind": request.kind or GENERIC_KIND,
        "skill": request.skill or (kind.skill if kind is not None else None),
        "speciality": request.speciality or (kind.speciality if kind is not None else None),
        "priority": priority,
        "relevance": request.relevance
        or (Relevance.NORMAL if request.preference_id is not None else Relevance.NONE),
        "preference_id": request.preference_id,
        "source": request.source,
        "note": request.note,
        "due_in_s": round(request.due_in_s or priority.target_s, 3),
    }


def _task_canonical(task: Task) -> dict[str, object]:
    return {
        "room_id": task.room_id,
        "kind": task.kind,
        "skill": task.skill,
        "speciality": task.speciality,
        "priority": task.priority,
        "relevance": task.relevance,
        "preference_id": task.preference_id,
        "source": task.source,
        "note": task.note,
        "due_in_s": round(task.due_at - task.created_at, 3),
    }


def request_digest(request: TaskRequest) -> str:
    """SHA-256 of the canonical request (every field but the id, defaults resolved)."""
    canonical = json.dumps(_canonical(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _differences(task: Task, request: TaskRequest) -> list[str]:
    """The fields in which `request` differs from the one that made `task`; [] if none."""
    if task.request_digest == request_digest(request):
        return []
    given, stored = _canonical(request), _task_canonical(task)
    named = [name for name, value in given.items() if value != stored[name]]
    if task.request_digest is None:  # stored before digests: the task's fields decide
        return named
    return named or ["body"]


def _urgent_message(task: Task) -> str:
    return f"urgent {task.kind} in room {task.room_id} (task {task.id})"


def _orphan_message(task: Task) -> str:
    return (
        f"task {task.id} ({task.kind}, room {task.room_id}) was in progress with {task.staff_id}, "
        "who is no longer on the roster; it is back in the queue"
    )


def _overdue_message(task: Task, now: float) -> str:
    late = (now - task.due_at) / 60
    who = f"accepted by {task.staff_id}" if task.staff_id else "nobody has accepted it"
    return f"task {task.id} ({task.kind}, room {task.room_id}) is {late:.0f} min past due; {who}"
