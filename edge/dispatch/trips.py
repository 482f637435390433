"""Merging tasks of one room, or of neighbouring rooms, into one trip with a route order.

A guest who asks for a drink, a pillow and help with the TV at once is visited once, by
one person who can do all three (seed 003). Rules, applied to tasks in rank order:

* a task joins the first trip that has room for it, else starts a trip of its own;
* tasks of one room always merge (urgent only with urgent: a medical call never waits
  for a neighbour's towels);
* other rooms join a trip only under pressure: when every skill of the trip has more
  tasks waiting than people free soon (`pressed`). Then standard tasks merge with
  standard tasks of the same floor whose rooms all lie within `neighbour_m` of each
  other, and tasks that fetch from the same kind of point (the kitchen pass, the linen
  room) are batched, up to `batch_tasks` of them on floors at most `batch_floors`
  apart: one runner carries two orders up instead of two runs through the lift, while
  the second order would only have queued for the next free person anyway. Without
  pressure each goes straight to its guest instead of waiting behind another's service;
* even under pressure, only when it pays (`_pays`, given `build_trips` an estimate of
  when each task would be reached): a person free just beyond the planning horizon
  may reach the task long before a trip that first serves another room (a 20-minute
  make-up);
* capacity: at most `max_tasks` tasks and `max_service_s` seconds of work in rooms;
* the union of the trip's skills must be within some available person's skills,
  otherwise merging would make the trip impossible to give to anyone.

Route: first the pickups (linen room, kitchen, clinic) in rank order of the tasks that
need them, then the rooms in the rank order of their first task: urgency, preference
relevance, then whoever asked first (seed 003's fairness; between neighbours the walk is
seconds either way), ties by floor and corridor position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from shared.layout import ServicePointKind

from .model import Priority, Skill, Task
from .travel import Place, TravelModel

__all__ = ["Trip", "TripCapacity", "build_trips", "plan_route"]

CanServe = Callable[[frozenset[Skill], frozenset[str]], bool]
# For each schedule (trips served in rank order, each by whoever reaches it first): the
# estimated seconds from now until someone is in each task's room, by task id (see
# `costs.estimated_arrivals`); None when the round has no time left to weigh.
Estimate = Callable[[Sequence[Sequence[Sequence[Task]]]], Sequence[Mapping[int, float]] | None]


@dataclass(frozen=True, slots=True)
class TripCapacity:
    max_tasks: int = 4
    max_service_s: float = 1800.0  # time spent in rooms; a trip is not a shift
    neighbour_m: float = 9.0  # two doors either side at the generated layouts' pitch
    batch_floors: int = 1  # under pressure: floors a batch of one pickup kind may span
    batch_tasks: int = 2  # ... and how many tasks it may hold (a tray, a trolley)

    def __post_init__(self) -> None:
        if (
            self.max_tasks < 1
            or self.max_service_s <= 0
            or self.neighbour_m < 0
            or self.batch_floors < 0
            or self.batch_tasks < 1
        ):
            raise ValueError(f"invalid trip capacity {self}")


@dataclass(frozen=True, slots=True)
class Trip:
    """Tasks in route order, and where and when each is served relative to the first stop."""

    tasks: tuple[Task, ...]
    stops: tuple[Place, ...]  # pickups, then rooms
    arrival_s: tuple[float, ...]  # per task: seconds from reaching stops[0] to its room
    duration_s: float  # from reaching stops[0] until the last room is done
    skills: frozenset[Skill]
    specialities: frozenset[str]

    @property
    def id(self) -> int:
        return min(t.id for t in self.tasks)

    @property
    def first(self) -> Place:
        return self.stops[0]

    @property
    def end(self) -> Place:
        return self.stops[-1]

    @property
    def rank(self) -> tuple[int, int, float, int]:
        return min(t.rank for t in self.tasks)

    @property
    def urgent(self) -> bool:
        return any(t.priority is Priority.URGENT for t in self.tasks)


def plan_route(tasks: Sequence[Task], travel: TravelModel) -> Trip:
    """Order `tasks` into a route (see the module doc) and time it."""
    ranked = sorted(tasks, key=lambda t: t.rank)
    pickups: list[Place] = []
    rooms: dict[str, list[Task]] = {}
    for task in ranked:
        place = travel.room(task.room_id)
        if task.pickup is not None and travel.has_point(task.pickup):
            point = travel.point(task.pickup, place.floor)
            if point not in pickups:
                pickups.append(point)
        rooms.setdefault(task.room_id, []).append(task)
    order = sorted(
        rooms.items(),
        # Rank order (seed 003: urgency, preference relevance, then first come first
        # served). Not shortest visit first: that would lower the mean wait but put a
        # guest who asked earlier behind a later one of the same rank.
        key=lambda item: (
            min(t.rank for t in item[1]),
            travel.room(item[0]).floor,
            travel.room(item[0]).position_m,
            item[0],
        ),
    )
    stops = [*pickups, *(travel.room(room_id) for room_id, _ in order)]
    clock = 0.0
    here = stops[0]
    for pickup in pickups:
        clock += travel.seconds(here, pickup)
        here = pickup
    routed: list[Task] = []
    arrival: list[float] = []
    for room_id, group in order:
        place = travel.room(room_id)
        clock += travel.seconds(here, place)
        here = place
        for task in group:
            routed.append(task)
            arrival.append(clock)
        clock += sum(t.service_s for t in group)
    return Trip(
        tasks=tuple(routed),
        stops=tuple(stops),
        arrival_s=tuple(arrival),
        duration_s=clock,
        skills=frozenset(t.skill for t in routed),
        specialities=frozenset(t.speciality for t in routed if t.speciality is not None),
    )


@dataclass(slots=True)
class _Group:
    tasks: list[Task]
    lo_m: float
    hi_m: float
    urgent: bool
    service_s: float
    skills: set[Skill] = field(default_factory=set)
    specialities: set[str] = field(default_factory=set)
    floors: set[int] = field(default_factory=set)
    pickups: set[ServicePointKind | None] = field(default_factory=set)


def _neighbours(group: _Group, place: Place, capacity: TripCapacity) -> bool:
    return group.floors == {place.floor} and (
        max(group.hi_m, place.position_m) - min(group.lo_m, place.position_m)
        <= capacity.neighbour_m
    )


def _batch(group: _Group, task: Task, place: Place, capacity: TripCapacity) -> bool:
    floors = group.floors | {place.floor}
    return (
        task.pickup is not None
        and group.pickups == {task.pickup}
        and len(group.tasks) < capacity.batch_tasks
        and max(floors) - min(floors) <= capacity.batch_floors
    )


def _fits(
    group: _Group,
    task: Task,
    place: Place,
    capacity: TripCapacity,
    can_serve: CanServe,
    pressed: frozenset[Skill],
) -> bool:
    urgent = task.priority is Priority.URGENT
    if urgent != group.urgent or len(group.tasks) >= capacity.max_tasks:
        return False
    if group.service_s + task.service_s > capacity.max_service_s:
        return False
    if urgent:
        if task.room_id != group.tasks[0].room_id:
            return False
    elif not (
        {t.room_id for t in group.tasks} == {task.room_id}
        or (
            (group.skills | {task.skill}) <= pressed
            and (_neighbours(group, place, capacity) or _batch(group, task, place, capacity))
        )
    ):
        return False
    skills = frozenset(group.skills | {task.skill})
    specialities = frozenset(
        group.specialities | ({task.speciality} if task.speciality is not None else set())
    )
    return can_serve(skills, specialities)


def _pays(
    groups: Sequence[_Group],
    group: _Group,
    task: Task,
    later: Sequence[Task],
    travel: TravelModel,
    estimate: Estimate,
) -> bool:
    """Whether putting `task` behind `group`'s rooms (another guest's) is worth it.

    Pressure alone does not make it so: a pillow batched behind a 20-minute room make-up
    waits those 20 minutes even when another housekeeper is free in five. The merge
    pays when, against each trip going on its own, it shortens the estimated total
    wait of the tasks now waiting, or when what it adds to this task's wait is no more
    than the walk it saves its person: time that requests still to come gain, which
    the estimate cannot see.
    """
    # Only work that competes for the same people.
    skills = {t.skill for t in group.tasks} | {task.skill}
    others = [g.tasks for g in groups if g is not group and g.skills & skills]
    rest = [[t] for t in later if t.skill in skills]
    answers = estimate(
        [[*others, [*group.tasks, task], *rest], [*others, group.tasks, [task], *rest]]
    )
    if answers is None:
        return True  # the round's budget for weighing is spent: pressure decides
    merged, alone = answers
    if sum(merged.values()) < sum(alone.values()):
        return True
    before, solo, both = (
        plan_route(group.tasks, travel),
        plan_route([task], travel),
        plan_route([*group.tasks, task], travel),
    )
    saved = (
        before.duration_s + travel.seconds(before.end, solo.first) + solo.duration_s
    ) - both.duration_s
    return merged.get(task.id, 0.0) - alone.get(task.id, 0.0) <= saved


def build_trips(
    tasks: Sequence[Task],
    travel: TravelModel,
    capacity: TripCapacity,
    can_serve: CanServe,
    pressed: frozenset[Skill] = frozenset(),
    estimate: Estimate | None = None,
) -> list[Trip]:
    """Group `tasks` (any order; ranked here) into trips that respect `capacity`.

    `pressed`: skills with more tasks waiting than people free soon, whose tasks may be
    batched (see the module doc). `estimate`: with it, a task joins another room's trip
    only if that pays (see `_pays`).
    """
    ranked = sorted(tasks, key=lambda t: t.rank)
    groups: list[_Group] = []
    for n, task in enumerate(ranked):
        place = travel.room(task.room_id)
        group = next(
            (
                g
                for g in groups
                if _fits(g, task, place, capacity, can_serve, pressed)
                and (
                    estimate is None
                    or {t.room_id for t in g.tasks} == {task.room_id}
                    or _pays(groups, g, task, ranked[n + 1 :], travel, estimate)
                )
            ),
            None,
        )
        if group is None:
            group = _Group(
                tasks=[],
                lo_m=place.position_m,
                hi_m=place.position_m,
                urgent=task.priority is Priority.URGENT,
                service_s=0.0,
            )
            groups.append(group)
        group.tasks.append(task)
        group.lo_m = min(group.lo_m, place.position_m)
        group.hi_m = max(group.hi_m, place.position_m)
        group.service_s += task.service_s
        group.skills.add(task.skill)
        group.floors.add(place.floor)
        group.pickups.add(task.pickup)
        if task.speciality is not None:
            group.specialities.add(task.speciality)
    return [plan_route(g.tasks, travel) for g in groups]
