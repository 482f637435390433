"""One dispatch round, as a pure function: the open tasks and the staff in, a plan out.

`plan_round` does no I/O and keeps no state, so the task service can run it on a worker
thread (the numba solve must never hold the event loop) and the day simulation can
drive the very same code. `apply_plan` turns a plan into the tasks' new versions,
which the service journals before telling anyone.

A round:

1. Each on-duty person's committed work (accepted, in progress) gives when and where
   they will be free (`costs.availability`).
2. Pool tasks (new, escalated, and assigned but not yet accepted, which may still move)
   that wait out do-not-disturb are held back.
3. A task for a room that someone is already visiting joins that visit, so the guest
   is disturbed once, if the person has the skill and the trip has room.
4. The rest are merged into trips (`trips.build_trips`): one guest's requests always;
   neighbours' requests, and orders batched from one pickup point, only for skills
   with more tasks waiting than people free within the horizon (otherwise each goes
   straight to its guest rather than behind another's service), and then only where
   the merge pays against the next person to be free for the task (`trips._pays`).
5. The cost matrix (`costs.cost_matrix`) is solved to the optimum by
   `edge.assignment.solve`: the most trips served, at the least total cost; ties first
   come first served, then to the less loaded.
6. An urgent trip may take a person off non-urgent work (preemption); what they held
   goes back to the queue, keeping its place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edge.assignment import solve

from .costs import BudgetedEstimate, StaffView, availability, cost_matrix
from .model import COMMITTED, POOL, Skill, Staff, Task, TaskStatus
from .policy import DispatchPolicy
from .travel import TravelModel
from .trips import build_trips

__all__ = ["DispatchState", "PlannedTrip", "RoundPlan", "apply_plan", "plan_round"]


@dataclass(frozen=True, slots=True)
class DispatchState:
    tasks: Sequence[Task]  # the open ones; others are ignored
    staff: Sequence[Staff]
    dnd_rooms: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PlannedTrip:
    staff_id: str
    trip_id: int
    task_ids: tuple[int, ...]  # route order
    arrival_at: tuple[float, ...]  # expected arrival in each task's room
    preempted: tuple[int, ...] = ()  # committed tasks taken back from the person
    joined: bool = False  # added to a visit the person had already accepted


@dataclass(frozen=True, slots=True)
class RoundPlan:
    trips: tuple[PlannedTrip, ...]
    held: tuple[int, ...]  # pool tasks waiting out do-not-disturb
    unplanned: tuple[int, ...]  # pool tasks nobody could take this round
    solve_s: float  # time in the numba solver
    shape: tuple[int, int]  # the cost matrix: trips x people


def _joins(
    ready: list[Task], views: Mapping[str, StaffView], policy: DispatchPolicy
) -> tuple[list[PlannedTrip], list[Task], set[str]]:
    """Tasks for rooms someone is already visiting ride along with that visit."""
    added: dict[str, list[Task]] = {}
    rest: list[Task] = []
    for task in ready:
        view = next(
            (
                v
                for v in views.values()
                if task.room_id in v.rooms
                and v.staff.can_do(
                    frozenset({task.skill}),
                    frozenset({task.speciality}) if task.speciality else frozenset(),
                )
                and v.staff.id not in task.declined_by
                and v.load + len(added.get(v.staff.id, ())) < policy.capacity.max_tasks
            ),
            None,
        )
        if view is None:
            rest.append(task)
        else:
            added.setdefault(view.staff.id, []).append(task)
    planned = []
    for staff_id, tasks in added.items():
        view = views[staff_id]
        trip_id = view.trip_id
        assert trip_id is not None  # a visit in progress belongs to a trip
        planned.append(
            PlannedTrip(
                staff_id=staff_id,
                trip_id=trip_id,
                task_ids=tuple(t.id for t in tasks),
                arrival_at=(),
                joined=True,
            )
        )
    return planned, rest, set(added)


def plan_round(
    state: DispatchState, now: float, travel: TravelModel, policy: DispatchPolicy
) -> RoundPlan:
    committed: dict[str, list[Task]] = {}
    pool: list[Task] = []
    for task in state.tasks:
        if task.status in COMMITTED and task.staff_id is not None:
            committed.setdefault(task.staff_id, []).append(task)
        elif task.status in POOL or task.status is TaskStatus.ASSIGNED:
            pool.append(task)
    views = {
        s.id: availability(s, committed.get(s.id, ()), now, travel, policy)
        for s in state.staff
        if s.on_duty
    }
    held = [t for t in pool if t.respect_dnd and t.room_id in state.dnd_rooms]
    ready = sorted((t for t in pool if t not in held), key=lambda t: t.rank)

    joined, rest, joined_staff = _joins(ready, views, policy)

    # A person just given a ride-along is not preempted in the same round.
    columns = sorted(
        (
            v
            if v.staff.id not in joined_staff
            else StaffView(v.staff, v.committed, v.free_in_s, v.here, v.end, preemptible=False)
            for v in views.values()
            if v.free_in_s <= policy.horizon_s or v.preemptible
        ),
        # Columns from the less to the more loaded (held now plus done this duty
        # period): the solver gives ties to the lower column.
        key=lambda v: (v.load + v.staff.done_count, v.free_in_s, v.staff.id),
    )
    soon = [v.staff for v in columns if v.free_in_s <= policy.horizon_s]

    def can_serve(skills: frozenset[Skill], specialities: frozenset[str]) -> bool:
        # Merge only what someone available soon can do in one go: a merged trip that
        # waits for the one person with every skill would hold up its tasks.
        return any(s.can_do(skills, specialities) for s in soon)

    # Batch only where work outnumbers the people about to be free for it.
    pressed = frozenset(
        skill
        for skill in {t.skill for t in rest}
        if sum(t.skill is skill for t in rest) > sum(skill in s.skills for s in soon)
    )
    # ... and only where it pays (`trips._pays`): the walk a merge saves against the
    # guest it puts behind another's service, weighed within a budget of work.
    weighers = [v for v in views.values() if v.staff.skills & pressed]
    estimate = BudgetedEstimate(weighers, travel, policy.weigh_merges_budget)
    trips = sorted(
        build_trips(rest, travel, policy.capacity, can_serve, pressed, estimate),
        key=lambda t: t.rank,
    )
    cost, preempt = cost_matrix(trips, columns, now, travel, policy)
    started = time.perf_counter()
    result = solve(cost)
    solve_s = time.perf_counter() - started

    planned = list(joined)
    served: set[int] = {i for p in joined for i in p.task_ids}
    for k, j in zip(result.rows.tolist(), result.cols.tolist(), strict=True):
        trip, view = trips[k], columns[j]
        if preempt[k, j]:
            preempted = tuple(t.id for t in view.committed)
            base = now + travel.seconds(view.here, trip.first)
        else:
            preempted = ()
            base = now + view.free_in_s + travel.seconds(view.end, trip.first)
        planned.append(
            PlannedTrip(
                staff_id=view.staff.id,
                trip_id=trip.id,
                task_ids=tuple(t.id for t in trip.tasks),
                arrival_at=tuple(base + a for a in trip.arrival_s),
                preempted=preempted,
            )
        )
        served.update(t.id for t in trip.tasks)
    return RoundPlan(
        trips=tuple(planned),
        held=tuple(t.id for t in held),
        unplanned=tuple(t.id for t in ready if t.id not in served),
        solve_s=solve_s,
        shape=(len(trips), len(columns)),
    )


def apply_plan(
    tasks: Mapping[int, Task], staff: Mapping[str, Staff], plan: RoundPlan, now: float
) -> tuple[list[Task], list[Staff]]:
    """The tasks and staff that change under `plan` (their new versions).

    Planned tasks become assigned (or stay assigned to the same person, their route
    position updated); preempted ones return to the queue; assigned tasks the plan no
    longer holds return to the queue too.
    """
    changed: dict[int, Task] = {}
    people: dict[str, Staff] = {}
    planned: set[int] = set()
    for trip in plan.trips:
        base_index = 0
        if trip.joined:
            base_index = 1 + max(
                (
                    t.route_index
                    for t in tasks.values()
                    if t.staff_id == trip.staff_id and t.status in COMMITTED
                ),
                default=-1,
            )
        for index, task_id in enumerate(trip.task_ids):
            planned.add(task_id)
            task = tasks[task_id]
            route = {"trip_id": trip.trip_id, "route_index": base_index + index}
            if task.status is TaskStatus.ASSIGNED and task.staff_id == trip.staff_id:
                if (task.trip_id, task.route_index) != (route["trip_id"], route["route_index"]):
                    changed[task_id] = task.model_copy(update={**route, "updated_at": now})
                continue
            reason = (
                f"joins the visit to room {task.room_id}"
                if trip.joined
                else ("re-planned" if task.status is TaskStatus.ASSIGNED else None)
            )
            changed[task_id] = task.moved(
                TaskStatus.ASSIGNED,
                now,
                staff_id=trip.staff_id,
                reason=reason,
                assigned_at=now,
                **route,
            )
        if trip.preempted:
            for task_id in trip.preempted:
                task = tasks[task_id]
                changed[task_id] = task.moved(
                    task.pool_status,
                    now,
                    staff_id=trip.staff_id,
                    reason=f"preempted by urgent task {trip.trip_id}",
                    preemptions=task.preemptions + 1,
                )
            person = staff[trip.staff_id]
            people[person.id] = person.model_copy(update={"preemptions": person.preemptions + 1})
    for task in tasks.values():
        if task.status is TaskStatus.ASSIGNED and task.id not in planned and task.id not in changed:
            changed[task.id] = task.moved(task.pool_status, now, reason="no longer planned")
    return list(changed.values()), list(people.values())
