"""How long one dispatch round takes with a backlog: `plan_round` as the gateway runs it,
against the same round with merges decided by pressure alone (no weighing), measured in
the same run.

Run as ``python -m bench.dispatch_round``. Pools of waiting housekeeping tasks (the
worst case for weighing merges: every task competes for the same people) in 120 rooms
of a 400-room property, with idle people and people busy on accepted work; median of 5
rounds each. Figures
only, no goal: the round runs off the event loop, and the table shows where the cap on
weighing (`DispatchPolicy.weigh_merges_budget`) keeps it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from edge.assignment import warm_up
from edge.dispatch.catalogue import CATALOGUE
from edge.dispatch.dispatcher import DispatchState, plan_round
from edge.dispatch.model import Skill, Staff, Task, TaskStatus
from edge.dispatch.policy import DispatchPolicy
from edge.dispatch.travel import TravelModel
from shared.layout import PropertyLayout

NOW = 100_000.0
KINDS = ("extra_pillow", "amenities", "make_up_room")
# (waiting, idle people, busy people): weighing runs only when tasks outnumber the people
# free soon; busy people are scheduled by the estimate too.
CASES = (
    (20, 18, 0),
    (40, 18, 0),
    (40, 39, 0),
    (40, 18, 100),
    (40, 39, 200),
    (120, 18, 0),
    (300, 60, 0),
)
ROUNDS = 5


def _task(i: int, kind: str, room: str) -> Task:
    spec = CATALOGUE[kind]
    created = NOW - 60 - i
    return Task(
        id=i, request_id=f"r{i}", kind=kind, skill=spec.skill, speciality=spec.speciality,
        room_id=room, priority=spec.priority, service_s=spec.service_s, pickup=spec.pickup,
        respect_dnd=spec.respect_dnd, created_at=created,
        due_at=created + spec.priority.target_s, updated_at=created,
    )  # fmt: skip


def _state(travel: TravelModel, tasks: int, free: int, busy: int) -> DispatchState:
    """`tasks` waiting, `free` people on duty and idle, `busy` more on accepted make-ups."""
    rng = random.Random(1)
    rooms = travel.layout.room_ids
    pool = [_task(i + 1, rng.choice(KINDS), rng.choice(rooms[:120])) for i in range(tasks)]
    people = []
    for i in range(free + busy):
        place = travel.room(rooms[(i * 7) % len(rooms)])
        person = Staff(
            id=f"s{i}",
            skills=frozenset({Skill.HOUSEKEEPING}),
            on_duty=True,
            floor=place.floor,
            position_m=place.position_m,
        )
        people.append(person)
        if i >= free:
            work = _task(10_000 + i, "make_up_room", rooms[399 - i % 200])
            pool.append(
                work.model_copy(
                    update={
                        "status": TaskStatus.ACCEPTED,
                        "staff_id": person.id,
                        "trip_id": work.id,
                    }
                )
            )
    return DispatchState(pool, people)


def _median_ms(state: DispatchState, travel: TravelModel, policy: DispatchPolicy) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        plan_round(state, NOW, travel, policy)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    warm_up()
    travel = TravelModel(PropertyLayout.generate("bench-round", 400))
    policy = DispatchPolicy()
    print(f"plan_round, median of {ROUNDS} (ms); weighing budget {policy.weigh_merges_budget:,}")
    print(
        f"{'waiting':>8} {'idle':>5} {'busy':>5} {'as run':>9} {'pressure alone':>15} {'ratio':>7}"
    )
    for tasks, free, busy in CASES:
        state = _state(travel, tasks, free, busy)
        ours = _median_ms(state, travel, policy)
        plain = _median_ms(state, travel, DispatchPolicy(weigh_merges_budget=0))
        print(f"{tasks:>8} {free:>5} {busy:>5} {ours:>9.1f} {plain:>15.1f} {ours / plain:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
