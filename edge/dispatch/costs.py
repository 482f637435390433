"""The cost matrix of a dispatch round: rows are trips, columns are people.

Rows are trips in rank order (priority class, preference relevance, arrival) and
columns are people from the least to the most loaded: `edge.assignment.solve` breaks
ties lexicographically with rows taking precedence, so among equally good plans the
earlier request is served first and by the less loaded person.

A pair is `+inf` (forbidden) when the person lacks a skill or speciality of the trip,
or is busy beyond the planning horizon and may not be preempted for it. A person who
let an assignment of one of its tasks time out pays a penalty instead. Off-duty people
are not columns at all, and tasks waiting out do-not-disturb are not in any row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .model import Priority, Staff, Task, TaskStatus
from .policy import DispatchPolicy
from .travel import Place, TravelModel
from .trips import Trip, plan_route

__all__ = ["BudgetedEstimate", "StaffView", "availability", "cost_matrix", "estimated_arrivals"]

FloatMatrix = npt.NDArray[np.float64]
BoolMatrix = npt.NDArray[np.bool_]
OVERRUN_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class StaffView:
    """A person as a round sees them: when they are free, where, and with what load."""

    staff: Staff
    committed: tuple[Task, ...]  # accepted or in progress, in route order
    free_in_s: float  # estimated seconds until the committed work is done
    here: Place  # last known place
    end: Place  # where the committed work ends
    preemptible: bool

    @property
    def load(self) -> int:
        return len(self.committed)

    @property
    def trip_id(self) -> int | None:
        return self.committed[0].trip_id if self.committed else None

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(t.room_id for t in self.committed)


def availability(
    staff: Staff,
    committed: Sequence[Task],
    now: float,
    travel: TravelModel,
    policy: DispatchPolicy,
) -> StaffView:
    """Estimate when and where `staff` finishes the work they hold."""
    here = Place(staff.floor, staff.position_m)
    ordered = tuple(sorted(committed, key=lambda t: (t.route_index, t.id)))
    started = [t for t in ordered if t.status is TaskStatus.IN_PROGRESS]
    # Work that runs past its expected time is not about to end: assume a share of it
    # is still left, or an overrunning person would look free and keep tasks queued.
    free_in = sum(
        max((t.started_at or now) + t.service_s - now, OVERRUN_SHARE * t.service_s) for t in started
    )
    end = here
    waiting = [t for t in ordered if t.status is TaskStatus.ACCEPTED]
    if waiting:
        route = plan_route(waiting, travel)
        free_in += travel.seconds(here, route.first) + route.duration_s
        end = route.end
    preemptible = (
        bool(ordered)
        and staff.preemptions < policy.max_preemptions_per_person
        and all(
            t.priority is not Priority.URGENT and t.preemptions < policy.max_preemptions_per_task
            for t in ordered
        )
    )
    return StaffView(staff, ordered, free_in, here, end, preemptible)


def estimated_arrivals(
    trips: Sequence[Sequence[Task]], views: Sequence[StaffView], travel: TravelModel
) -> dict[int, float]:
    """Seconds from now until someone is in each task's room if `trips` were served in
    rank order, each by whoever able reaches it first once done with what they hold and
    with the trips given to them before.

    A cheap list schedule, not the round's assignment, for deciding merges
    (`trips.build_trips`). It counts people busy beyond the planning horizon too: the
    next one to be free is whom a task left out of a merge waits for. Tasks nobody on
    duty can do are left out.
    """
    free = {v.staff.id: v.free_in_s for v in views}
    at = {v.staff.id: v.end for v in views}
    out: dict[int, float] = {}
    for tasks in sorted(trips, key=lambda ts: min(t.rank for t in ts)):
        route = plan_route(tasks, travel)
        best, who = math.inf, None
        for v in views:
            if v.staff.can_do(route.skills, route.specialities):
                start = free[v.staff.id] + travel.seconds(at[v.staff.id], route.first)
                if start < best:
                    best, who = start, v.staff.id
        if who is None:
            continue
        out.update((t.id, best + a) for t, a in zip(route.tasks, route.arrival_s, strict=True))
        free[who] = best + route.duration_s
        at[who] = route.end
    return out


class BudgetedEstimate:
    """`estimated_arrivals` for one round's merge decisions, within a budget of work
    (routes scheduled × (people considered + 25)): once spent, it answers None and the rest of
    the round merges on pressure alone. Weighing a merge schedules the pool twice, so
    without a bound a long backlog with many people would stall the round for seconds."""

    def __init__(self, views: Sequence[StaffView], travel: TravelModel, budget: int) -> None:
        self._views = views
        self._travel = travel
        self._left = budget

    def __call__(
        self, schedules: Sequence[Sequence[Sequence[Task]]]
    ) -> list[dict[int, float]] | None:
        """Each schedule's estimate, or None (and nothing spent) if they do not all fit
        in what is left: a merge is weighed on both schedules or not at all."""
        # A route costs about as much to plan as weighing 25 people for it.
        work = sum(len(trips) for trips in schedules) * (len(self._views) + 25)
        if work > self._left:
            self._left = 0
            return None
        self._left -= work
        return [estimated_arrivals(trips, self._views, self._travel) for trips in schedules]


def _bonus(trip: Trip, now: float, policy: DispatchPolicy) -> float:
    return sum(
        policy.class_bonus_s[t.priority]
        + policy.relevance_bonus_s[t.relevance]
        + policy.wait_weight * max(0.0, now - t.created_at)
        for t in trip.tasks
    )


def _pair_costs(
    trip: Trip, base: npt.NDArray[np.float64], now: float, policy: DispatchPolicy
) -> npt.NDArray[np.float64]:
    """Sum over the trip's tasks of arrival time plus the extra slope past due.

    Only lateness this plan adds counts: a task already overdue costs the same whoever
    serves it, so being overdue never makes a trip less attractive to serve.
    """
    total = np.zeros_like(base)
    for task, offset in zip(trip.tasks, trip.arrival_s, strict=True):
        arrival = base + offset
        already = max(0.0, now - task.due_at)
        late = np.maximum(0.0, now + arrival - task.due_at) - already
        total += arrival + policy.late_weight * late
    return total


def cost_matrix(
    trips: Sequence[Trip],
    views: Sequence[StaffView],
    now: float,
    travel: TravelModel,
    policy: DispatchPolicy,
) -> tuple[FloatMatrix, BoolMatrix]:
    """(cost, preempt): preempt[k, j] says the pair's cost is that of preempting j."""
    n, m = len(trips), len(views)
    cost = np.full((n, m), np.inf)
    preempt = np.zeros((n, m), dtype=np.bool_)
    if n == 0 or m == 0:
        return cost, preempt
    end_floor = np.array([v.end.floor for v in views], dtype=np.int64)
    end_pos = np.array([v.end.position_m for v in views])
    here_floor = np.array([v.here.floor for v in views], dtype=np.int64)
    here_pos = np.array([v.here.position_m for v in views])
    free_in = np.array([v.free_in_s for v in views])
    within = free_in <= policy.horizon_s
    preemptible = np.array([v.preemptible for v in views], dtype=np.bool_)
    load = np.array([v.load for v in views], dtype=np.float64) * policy.load_weight_s
    ids = [v.staff.id for v in views]
    for k, trip in enumerate(trips):
        able = np.array(
            [v.staff.can_do(trip.skills, trip.specialities) for v in views], dtype=np.bool_
        )
        if not able.any():
            continue
        # Someone who let one of these tasks time out gets it again only if clearly
        # nobody else is better placed: re-dispatch, without starving the task when
        # that person is the only one with the skill.
        declined = np.array(
            [sum(v.staff.id in t.declined_by for t in trip.tasks) for v in views],
            dtype=np.float64,
        )
        base = free_in + travel.seconds_from(end_floor, end_pos, trip.first)
        row = np.where(able & within, _pair_costs(trip, base, now, policy), np.inf)
        if trip.urgent and (able & preemptible).any():
            pre_base = travel.seconds_from(here_floor, here_pos, trip.first)
            pre = _pair_costs(trip, pre_base + policy.preempt_penalty_s, now, policy)
            use = able & preemptible & (pre < row)
            row = np.where(use, pre, row)
            preempt[k] = use
        # Keep a plan the person has not accepted yet unless another is clearly better:
        # moving it makes two handsets beep.
        holder = {t.staff_id for t in trip.tasks}
        if (
            len(holder) == 1
            and (staff_id := next(iter(holder))) in ids
            and all(t.status is TaskStatus.ASSIGNED for t in trip.tasks)
        ):
            row[ids.index(staff_id)] -= policy.stickiness_s
        cost[k] = row + load + declined * policy.declined_penalty_s - _bonus(trip, now, policy)
    return cost, preempt
