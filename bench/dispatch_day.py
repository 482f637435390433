"""A simulated hotel day: StaySync's dispatcher against greedy and FCFS dispatchers.

Run as ``python -m bench.dispatch_day``. A discrete-event simulation of one day in a
400-room hotel (10 floors of 40 rooms, lifts and stairs at one end, a linen room per
floor, kitchen, clinic and front desk on the ground floor, engineering below) with 25
staff on three shifts, and the requests of the seeds: amenities, pillows, drinks,
in-room dining, TV help, ironing, luggage, make-up-room, room preparation, device faults
and the odd guest who feels unwell, with breakfast and evening bursts; some guests ask
for several things at once. Every policy meets the same requests (fixed seed), with
the same staff, the same travel model (`edge.dispatch.travel`) and the same service
times; only the dispatching differs:

* ``staysync``: `edge.dispatch.dispatcher.plan_round` (merged trips, the exact
  assignment, priority classes, preemption), run on every event and every minute;
  a person accepts a planned trip when they are free to start it.
* ``greedy``: whenever a request waits and someone is free, the oldest waiting request
  goes to the nearest free person with the skill, one request per visit.
* ``fcfs``: the oldest waiting request goes to whoever with the skill has been free the
  longest, one request per visit.

Wait = from the request to the moment its person is in the room (service starts).
The request volume was calibrated once (``--calibrate``) so that greedy's mean wait is
about 4.5 minutes, the before-figure of seed 003; the staffing is the issue's 25 people.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from edge.assignment import warm_up
from edge.dispatch.catalogue import CATALOGUE
from edge.dispatch.dispatcher import DispatchState, apply_plan, plan_round
from edge.dispatch.model import (
    COMMITTED,
    POOL,
    Priority,
    Relevance,
    Shift,
    Skill,
    Source,
    Staff,
    Task,
    TaskStatus,
)
from edge.dispatch.policy import DispatchPolicy
from edge.dispatch.travel import Place, TravelModel
from shared.layout import PropertyLayout, ServicePointKind

SEED = 20_260_105
ROOMS = 400
OCCUPANCY = 0.85
DAY_S = 86_400.0
ROUND_EVERY_S = 60.0
# Requests per hour at scale 1, by hour of day: quiet nights, a breakfast burst
# (07-09:30) and an evening burst (18:30-22).
HOURLY = (4, 3, 2, 2, 2, 4, 12, 50, 55, 30, 22, 22, 26, 26, 24, 26, 26, 28, 38, 52, 55, 48, 22, 10)
# Calibrated with --calibrate (bisection on greedy): its mean wait is then 4.50 minutes.
DEMAND_SCALE = 0.664
# A second day with this many times the demand shows the policies under pressure.
STRESS_FACTOR = 2.0
GREEDY_TARGET_MIN = 4.5
BUNDLE_P = 0.3  # a guest asks for several things at once (seed 003)
BUNDLE_KINDS = ("drink", "extra_pillow", "amenities", "tv_help")
SERVICE_SIGMA = 0.35  # actual service time: lognormal around the catalogue's figure

_BASE_MIX = {
    "amenities": 18,
    "extra_pillow": 9,
    "drink": 12,
    "room_service": 10,
    "tv_help": 8,
    "iron_suit": 6,
    "luggage": 10,
    "make_up_room": 8,
    "preparation": 5,
    "medical": 1,
    "door_ajar": 2,
    "hvac_fault": 1,
}
_BREAKFAST_MIX = {**_BASE_MIX, "room_service": 30, "drink": 14, "iron_suit": 10}
_EVENING_MIX = {**_BASE_MIX, "drink": 20, "room_service": 22, "extra_pillow": 12, "tv_help": 10}


def _mix(hour: int) -> dict[str, int]:
    if 7 <= hour < 10:
        return _BREAKFAST_MIX
    if 18 <= hour < 22:
        return _EVENING_MIX
    return _BASE_MIX


# ---- the property and its people -------------------------------------------------------

HK, FB, ENG, FD, FA = (
    Skill.HOUSEKEEPING,
    Skill.FOOD_BEVERAGE,
    Skill.ENGINEERING,
    Skill.FRONT_DESK,
    Skill.FIRST_AID,
)
SHIFTS = {
    "morning": Shift(start_s=7 * 3600, end_s=15 * 3600),
    "evening": Shift(start_s=15 * 3600, end_s=23 * 3600),
    "night": Shift(start_s=23 * 3600, end_s=7 * 3600),
}
# (role, skills, specialities, home, people per shift: morning, evening, night)
ROLES: tuple[tuple[str, frozenset[Skill], frozenset[str], ServicePointKind, tuple[int, ...]], ...]
ROLES = (
    ("housekeeper", frozenset({HK}), frozenset(), ServicePointKind.LINEN, (4, 2, 1)),
    ("valet", frozenset({HK}), frozenset({"ironing"}), ServicePointKind.LINEN, (1, 1, 0)),
    ("server", frozenset({FB}), frozenset(), ServicePointKind.KITCHEN, (2, 3, 1)),
    (
        "engineer",
        frozenset({ENG}),
        frozenset({"technician"}),
        ServicePointKind.ENGINEERING,
        (1, 1, 1),
    ),
    (
        "guest-agent",
        frozenset({HK, FB, ENG, FD, FA}),
        frozenset({"ironing"}),
        ServicePointKind.FRONT_DESK,
        (2, 2, 1),
    ),
    ("bell", frozenset({FD, FA}), frozenset(), ServicePointKind.FRONT_DESK, (1, 1, 0)),
)


ROSTER_IDS = [
    f"{role}-{shift}-{i + 1}"
    for role, *_, counts in ROLES
    for shift, count in zip(SHIFTS, counts, strict=True)
    for i in range(count)
]


def roster(travel: TravelModel) -> tuple[list[Staff], dict[str, Place]]:
    """The 25 people and where each starts a shift (housekeepers spread over the floors)."""
    people: list[Staff] = []
    homes: dict[str, Place] = {}
    floors = sorted({r.floor for r in travel.layout.rooms})
    spread = itertools.cycle([floors[i] for i in (1, 6, 3, 8, 0, 5, 2, 7, 4, 9) if i < len(floors)])
    for role, skills, specialities, home, counts in ROLES:
        for shift_name, count in zip(SHIFTS, counts, strict=True):
            for i in range(count):
                staff_id = f"{role}-{shift_name}-{i + 1}"
                floor = next(spread) if home is ServicePointKind.LINEN else 0
                homes[staff_id] = travel.point(home, floor)
                people.append(
                    Staff(
                        id=staff_id,
                        skills=skills,
                        specialities=specialities,
                        shift=SHIFTS[shift_name],
                    )
                )
    return people, homes


# ---- the day's requests ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    at: float
    kind: str
    room_id: str
    relevance: Relevance
    actual_service_s: float


def requests(layout: PropertyLayout, scale: float, seed: int = SEED) -> list[Request]:
    rng = random.Random(seed)
    rooms = layout.room_ids
    occupied = sorted(rng.sample(rooms, int(len(rooms) * OCCUPANCY)))
    out: list[Request] = []

    def one(at: float, kind: str, room: str) -> Request:
        spec = CATALOGUE[kind]
        relevance = rng.choices((Relevance.NONE, Relevance.NORMAL, Relevance.HIGH), (80, 15, 5))[0]
        factor = rng.lognormvariate(-(SERVICE_SIGMA**2) / 2, SERVICE_SIGMA)
        return Request(at, kind, room, relevance, spec.service_s * factor)

    for hour, rate in enumerate(HOURLY):
        t = hour * 3600.0
        end = t + 3600.0
        mix = _mix(hour)
        kinds, weights = list(mix), list(mix.values())
        while True:
            t += rng.expovariate(rate * scale / 3600.0)
            if t >= end:
                break
            kind = rng.choices(kinds, weights)[0]
            guest_rooms = rooms if kind in ("preparation", "door_ajar", "hvac_fault") else occupied
            room = rng.choice(guest_rooms)
            out.append(one(t, kind, room))
            if kind in BUNDLE_KINDS and rng.random() < BUNDLE_P:
                others = [k for k in BUNDLE_KINDS if k != kind]
                for extra in rng.sample(others, rng.choice((1, 2))):
                    out.append(one(t + rng.uniform(0, 90), extra, room))
    out.sort(key=lambda r: r.at)
    return out


# ---- the simulation ------------------------------------------------------------------------


class Ev(Enum):
    ARRIVAL = 0
    SHIFT = 1
    ARRIVE = 2  # a person reaches a place
    SERVED = 3  # a person finishes the tasks of a room
    TICK = 4  # staysync's periodic round


@dataclass(slots=True)
class Agent:
    staff_id: str
    home: Place
    version: int = 0  # bumped when their current leg or service is cut short
    busy: bool = False
    at_room: str | None = None
    serving: tuple[int, ...] = ()
    serving_since: float = 0.0
    collected: set[int] = field(default_factory=set)
    free_since: float = 0.0


@dataclass(slots=True)
class DayResult:
    policy: str
    waits: dict[int, float] = field(default_factory=dict)  # until service started, s
    queued: dict[int, float] = field(default_factory=dict)  # until someone set off for it
    priority: dict[int, Priority] = field(default_factory=dict)
    metres: float = 0.0
    visits: int = 0  # arrivals at a room to serve something there
    rounds: int = 0
    plan_s: list[float] = field(default_factory=list)
    preemptions: int = 0

    def mean_min(self) -> float:
        return statistics.fmean(self.waits.values()) / 60

    def queued_min(self) -> float:
        return statistics.fmean(self.queued.values()) / 60

    def p95_min(self) -> float:
        return _percentile(list(self.waits.values()), 95) / 60

    def within(self, priority: Priority) -> tuple[int, int]:
        waits = [w for i, w in self.waits.items() if self.priority[i] is priority]
        return sum(w <= priority.target_s for w in waits), len(waits)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Day:
    """One policy's day over the given requests."""

    def __init__(
        self,
        policy: str,
        reqs: list[Request],
        travel: TravelModel,
        dispatch_policy: DispatchPolicy | None = None,
    ) -> None:
        self.policy = policy
        self.travel = travel
        self.dispatch_policy = dispatch_policy or DispatchPolicy()
        people, homes = roster(travel)
        self.staff = {s.id: s for s in people}
        self.agents = {s.id: Agent(s.id, homes[s.id]) for s in people}
        self.tasks: dict[int, Task] = {}
        self.open: set[int] = set()
        self.actual: dict[int, float] = {}
        self.result = DayResult(policy)
        self._heap: list[tuple[float, int, Ev, object]] = []
        self._seq = itertools.count()
        self._round_due = False
        for i, req in enumerate(reqs, start=1):
            self._push(req.at, Ev.ARRIVAL, (i, req))
        for shift in SHIFTS.values():
            for day in (0.0, DAY_S):
                self._push(day + shift.start_s, Ev.SHIFT, None)
        self._push(0.0, Ev.SHIFT, None)
        if policy == "staysync":
            self._push(ROUND_EVERY_S, Ev.TICK, None)
        self._last_arrival = reqs[-1].at if reqs else 0.0

    def _push(self, at: float, ev: Ev, payload: object) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), ev, payload))

    # ---- the event loop ----

    def run(self) -> DayResult:
        while self._heap:
            now, _, ev, payload = heapq.heappop(self._heap)
            if ev is Ev.ARRIVAL:
                assert isinstance(payload, tuple)
                self._arrival(now, *payload)
            elif ev is Ev.SHIFT:
                self._shift(now)
            elif ev is Ev.TICK:
                self._round_due = True
                if self.open or now < self._last_arrival:
                    self._push(now + ROUND_EVERY_S, Ev.TICK, None)
            elif ev is Ev.ARRIVE:
                assert isinstance(payload, tuple)
                self._arrive(now, *payload)
            elif ev is Ev.SERVED:
                assert isinstance(payload, tuple)
                self._served(now, *payload)
            if self._round_due:
                self._round_due = False
                self._round(now)
            if not self.open and now >= self._last_arrival:
                break
        return self.result

    def _arrival(self, now: float, task_id: int, req: Request) -> None:
        spec = CATALOGUE[req.kind]
        task = Task(
            id=task_id,
            request_id=f"r{task_id}",
            kind=spec.name,
            skill=spec.skill,
            speciality=spec.speciality,
            room_id=req.room_id,
            priority=spec.priority,
            relevance=req.relevance,
            source=Source.GUEST,
            respect_dnd=spec.respect_dnd,
            service_s=spec.service_s,
            pickup=spec.pickup,
            created_at=now,
            due_at=now + spec.priority.target_s,
            updated_at=now,
        )
        self.tasks[task_id] = task
        self.open.add(task_id)
        self.actual[task_id] = req.actual_service_s
        self.result.priority[task_id] = task.priority
        self._round_due = True

    def _shift(self, now: float) -> None:
        second = now % DAY_S
        for staff in list(self.staff.values()):
            assert staff.shift is not None
            on = staff.shift.covers(second)
            if on != staff.on_duty:
                update: dict[str, object] = {"on_duty": on}
                agent = self.agents[staff.id]
                if on:
                    update.update(
                        floor=agent.home.floor,
                        position_m=agent.home.position_m,
                        preemptions=0,
                        done_count=0,
                    )
                    agent.free_since = now
                self.staff[staff.id] = staff.model_copy(update=update)
        self._round_due = True

    # ---- what a person does ----

    def _put(self, task: Task) -> None:
        self.tasks[task.id] = task
        if not task.is_open:
            self.open.discard(task.id)

    def _mine(self, staff_id: str, statuses: Iterable[TaskStatus]) -> list[Task]:
        wanted = frozenset(statuses)
        mine = (self.tasks[i] for i in self.open)
        return sorted(
            (t for t in mine if t.staff_id == staff_id and t.status in wanted),
            key=lambda t: (t.route_index, t.id),
        )

    def _accept(self, tasks: Iterable[Task], now: float) -> None:
        for task in tasks:
            self._put(task.moved(TaskStatus.ACCEPTED, now, staff_id=task.staff_id, accepted_at=now))

    def _advance(self, staff_id: str, now: float) -> None:
        """The person is between steps: start service here, walk on, or wait for work."""
        agent = self.agents[staff_id]
        committed = self._mine(staff_id, COMMITTED)
        if not committed:
            queued = self._mine(staff_id, (TaskStatus.ASSIGNED,))
            self._accept(queued, now)
            committed = self._mine(staff_id, COMMITTED)
        if not committed:
            if agent.busy:
                self._round_due = True  # someone is free: a chance to dispatch
            agent.busy = False
            agent.free_since = now
            return
        agent.busy = True
        here_tasks = [t for t in committed if t.room_id == agent.at_room]
        if here_tasks:
            for task in here_tasks:
                if task.id not in self.result.waits:
                    self.result.waits[task.id] = now - task.created_at
                    self.result.queued[task.id] = (task.accepted_at or now) - task.created_at
                self._put(
                    task.moved(TaskStatus.IN_PROGRESS, now, staff_id=staff_id, started_at=now)
                )
            agent.serving = tuple(t.id for t in here_tasks)
            agent.serving_since = now
            duration = sum(self.actual[t.id] for t in here_tasks)
            self._push(now + duration, Ev.SERVED, (staff_id, agent.version))
            return
        staff = self.staff[staff_id]
        here = Place(staff.floor, staff.position_m)
        target: Place | None = None
        room: str | None = None
        for task in committed:
            if task.pickup is not None and task.id not in agent.collected:
                target = self.travel.point(task.pickup, self.travel.room(task.room_id).floor)
                break
        if target is None:
            room = committed[0].room_id
            target = self.travel.room(room)
        self.result.metres += self.travel.metres(here, target)
        agent.at_room = None
        self._push(
            now + self.travel.seconds(here, target),
            Ev.ARRIVE,
            (staff_id, agent.version, target, room),
        )

    def _arrive(
        self, now: float, staff_id: str, version: int, place: Place, room: str | None
    ) -> None:
        agent = self.agents[staff_id]
        if version != agent.version:
            return
        staff = self.staff[staff_id]
        self.staff[staff_id] = staff.model_copy(
            update={"floor": place.floor, "position_m": place.position_m, "last_room": room}
        )
        if room is None:
            for task in self._mine(staff_id, (TaskStatus.ACCEPTED,)):
                if task.pickup is not None and (
                    self.travel.point(task.pickup, self.travel.room(task.room_id).floor) == place
                ):
                    agent.collected.add(task.id)
        else:
            agent.at_room = room
            self.result.visits += 1
        self._advance(staff_id, now)

    def _served(self, now: float, staff_id: str, version: int) -> None:
        agent = self.agents[staff_id]
        if version != agent.version:
            return
        staff = self.staff[staff_id]
        self.staff[staff_id] = staff.model_copy(
            update={"done_count": staff.done_count + len(agent.serving)}
        )
        for task_id in agent.serving:
            self._put(
                self.tasks[task_id].moved(TaskStatus.DONE, now, staff_id=staff_id, finished_at=now)
            )
            agent.collected.discard(task_id)
        agent.serving = ()
        self._advance(staff_id, now)

    def _interrupt(self, staff_id: str, now: float) -> None:
        """Preempted: what they were doing stops where it is (a walk restarts from its start)."""
        agent = self.agents[staff_id]
        agent.version += 1
        if agent.serving:
            elapsed = now - agent.serving_since
            for task_id in agent.serving:
                used = min(elapsed, self.actual[task_id])
                self.actual[task_id] -= used
                elapsed -= used
            agent.serving = ()
        else:
            agent.at_room = None
        agent.collected.clear()
        agent.busy = True  # so that an idle outcome asks for a round
        self._advance(staff_id, now)

    # ---- dispatching ----

    def _free(self) -> list[str]:
        return [
            a.staff_id
            for a in self.agents.values()
            if not a.busy
            and self.staff[a.staff_id].on_duty
            and not self._mine(a.staff_id, (TaskStatus.ASSIGNED,))
        ]

    def _round(self, now: float) -> None:
        self.result.rounds += 1
        if self.policy == "staysync":
            self._staysync(now)
        else:
            self._baseline(now)

    def _staysync(self, now: float) -> None:
        state = DispatchState(
            tasks=[self.tasks[i] for i in sorted(self.open)], staff=list(self.staff.values())
        )
        started = time.perf_counter()
        plan = plan_round(state, now, self.travel, self.dispatch_policy)
        self.result.plan_s.append(time.perf_counter() - started)
        before = {i: self.tasks[i] for i in self.open}
        changed, people = apply_plan(before, self.staff, plan, now)
        for task in changed:
            self._put(task)
        for person in people:
            self.staff[person.id] = person
        preempted = {
            staff_id for trip in plan.trips if trip.preempted for staff_id in [trip.staff_id]
        }
        self.result.preemptions += len(preempted)
        for staff_id in preempted:
            self._interrupt(staff_id, now)
        for trip in plan.trips:
            agent = self.agents[trip.staff_id]
            if trip.staff_id in preempted:
                continue
            if not agent.busy:
                self._advance(trip.staff_id, now)
            elif trip.joined:
                # Already on this visit: the extra task rides along at once.
                self._accept((self.tasks[i] for i in trip.task_ids), now)

    def _baseline(self, now: float) -> None:
        free = self._free()
        if not free:
            return
        waiting = sorted(
            (self.tasks[i] for i in self.open if self.tasks[i].status in POOL),
            key=lambda t: t.created_at,
        )
        for task in waiting:
            if not free:
                break
            able = [
                s
                for s in free
                if self.staff[s].can_do(
                    frozenset({task.skill}),
                    frozenset({task.speciality}) if task.speciality else frozenset(),
                )
            ]
            if not able:
                continue
            first = self._first_stop(task)
            if self.policy == "greedy":
                pick = min(
                    able,
                    key=lambda s: (
                        self.travel.seconds(
                            Place(self.staff[s].floor, self.staff[s].position_m), first
                        ),
                        s,
                    ),
                )
            else:
                pick = min(able, key=lambda s: (self.agents[s].free_since, s))
            free.remove(pick)
            self._put(
                task.moved(
                    TaskStatus.ASSIGNED,
                    now,
                    staff_id=pick,
                    trip_id=task.id,
                    route_index=0,
                    assigned_at=now,
                )
            )
            self._advance(pick, now)

    def _first_stop(self, task: Task) -> Place:
        room = self.travel.room(task.room_id)
        if task.pickup is not None:
            return self.travel.point(task.pickup, room.floor)
        return room


POLICIES = ("staysync", "greedy", "fcfs")


def run_day(policy: str, scale: float = DEMAND_SCALE, seed: int = SEED) -> DayResult:
    layout = PropertyLayout.generate("bench-day", ROOMS)
    return Day(policy, requests(layout, scale, seed), TravelModel(layout)).run()


def calibrate(target_min: float = GREEDY_TARGET_MIN, seed: int = SEED) -> float:
    """The demand scale at which greedy's mean wait is `target_min` (bisection)."""
    lo, hi = 0.5, 4.0
    for _ in range(14):
        mid = (lo + hi) / 2
        mean = run_day("greedy", mid, seed).mean_min()
        print(f"  scale {mid:.4f}: greedy mean wait {mean:.2f} min")
        if mean < target_min:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _share(ok: int, n: int) -> str:
    return f"{100 * ok / n:.1f} % ({ok}/{n})" if n else "n/a"


def print_day(
    results: dict[str, DayResult], n_requests: int, scale: float, *, verdicts: bool = True
) -> list[str]:
    """Print table (b) and the verdicts computed from it; return the verdict lines."""
    print(
        f"simulated day: {ROOMS} rooms, {len(ROSTER_IDS)} staff on 3 shifts, {n_requests} "
        f"requests (demand scale {scale:.3f}, seed {SEED})"
    )
    print(
        f"{'policy':>9} {'mean wait':>10} {'p95 wait':>9} {'queued':>8} {'on the way':>11} "
        f"{'urgent <=10 min':>17} {'standard <=30 min':>19} {'walked':>9} {'visits/req':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:>9} {r.mean_min():>6.2f} min {r.p95_min():>5.1f} min "
            f"{r.queued_min():>4.2f} min {r.mean_min() - r.queued_min():>7.2f} min "
            f"{_share(*r.within(Priority.URGENT)):>17} "
            f"{_share(*r.within(Priority.STANDARD)):>19} "
            f"{r.metres / 1000:>6.1f} km {r.visits / len(r.waits):>10.3f}"
        )
    print(
        "wait = request to service start = queued (until the person sets off for it) "
        "+ on the way (walk, lift, pickup, earlier stops of a merged trip)"
    )
    ours, greedy = results["staysync"], results["greedy"]
    print(
        f"staysync: {ours.rounds} rounds, plan_round median "
        f"{statistics.median(ours.plan_s) * 1e3:.2f} ms, p99 "
        f"{_percentile(ours.plan_s, 99) * 1e3:.2f} ms, {ours.preemptions} preemptions"
    )
    if not verdicts:
        return []
    ratio = ours.mean_min() / greedy.mean_min()
    u_ok, u_n = ours.within(Priority.URGENT)
    s_ok, s_n = ours.within(Priority.STANDARD)
    lines = [
        f"goal mean wait <= 0.5x greedy: {'MET' if ratio <= 0.5 else 'NOT MET'} "
        f"(staysync {ours.mean_min():.2f} min, greedy {greedy.mean_min():.2f} min, "
        f"ratio {ratio:.2f}; seed 003: 4.5 -> 2.1 min)",
        f"goal urgent 100 % within 10 min: {'MET' if u_ok == u_n else 'NOT MET'} "
        f"({_share(u_ok, u_n)})",
        f"goal standard >= 98 % within 30 min: "
        f"{'MET' if s_n and s_ok / s_n >= 0.98 else 'NOT MET'} ({_share(s_ok, s_n)})",
        f"calibration: greedy mean wait {greedy.mean_min():.2f} min "
        f"(target about {GREEDY_TARGET_MIN} min)",
    ]
    for line in lines:
        print(line)
    return lines


def run_policies(scale: float = DEMAND_SCALE, seed: int = SEED) -> tuple[dict[str, DayResult], int]:
    """Every policy over the same day; (results, number of requests)."""
    layout = PropertyLayout.generate("bench-day", ROOMS)
    reqs = requests(layout, scale, seed)
    return {p: Day(p, reqs, TravelModel(layout)).run() for p in POLICIES}, len(reqs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true", help="find the demand scale first")
    parser.add_argument("--scale", type=float, help="demand scale (default: the calibrated one)")
    args = parser.parse_args(argv)
    warm_up()
    scale = args.scale if args.scale is not None else DEMAND_SCALE
    if args.calibrate:
        scale = calibrate()
        print(f"calibrated demand scale: {scale:.4f}")
    started = time.perf_counter()
    results, n = run_policies(scale)
    print_day(results, n, scale)
    print()
    print(f"the same hotel on a day with {STRESS_FACTOR:g}x the requests (no goals; for insight):")
    stressed, n = run_policies(scale * STRESS_FACTOR)
    print_day(stressed, n, scale * STRESS_FACTOR, verdicts=False)
    print(f"simulated in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
