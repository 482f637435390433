"""The pure dispatch core: lifecycle, travel, trips, cost matrix and plan_round."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.dispatch.catalogue import CATALOGUE
from edge.dispatch.costs import availability, cost_matrix
from edge.dispatch.dispatcher import DispatchState, apply_plan, plan_round
from edge.dispatch.errors import InvalidTransition
from edge.dispatch.model import (
    ALLOWED,
    OPEN,
    Priority,
    Relevance,
    Skill,
    Staff,
    Task,
    TaskStatus,
)
from edge.dispatch.policy import DispatchPolicy
from edge.dispatch.travel import Place, TravelModel
from edge.dispatch.trips import TripCapacity, build_trips, plan_route
from shared.layout import PropertyLayout, ServicePointKind

LAYOUT = PropertyLayout.generate("core", 400)
TRAVEL = TravelModel(LAYOUT)
NOW = 100_000.0
PROPERTY = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])

HK, FB, ENG, FA = Skill.HOUSEKEEPING, Skill.FOOD_BEVERAGE, Skill.ENGINEERING, Skill.FIRST_AID
ALL = frozenset(Skill)


def task(task_id: int, kind: str, room: str, created: float = NOW - 60, **kw: Any) -> Task:
    spec = CATALOGUE[kind]
    fields: dict[str, Any] = {
        "id": task_id,
        "request_id": f"r{task_id}",
        "kind": kind,
        "skill": spec.skill,
        "speciality": spec.speciality,
        "room_id": room,
        "priority": spec.priority,
        "service_s": spec.service_s,
        "pickup": spec.pickup,
        "respect_dnd": spec.respect_dnd,
        "created_at": created,
        "due_at": created + spec.priority.target_s,
        "updated_at": created,
    }
    fields.update(kw)
    return Task(**fields)


def person(staff_id: str, skills: frozenset[Skill], room: str = "101", **kw: Any) -> Staff:
    place = TRAVEL.room(room)
    fields: dict[str, Any] = {
        "id": staff_id,
        "skills": skills,
        "on_duty": True,
        "floor": place.floor,
        "position_m": place.position_m,
    }
    fields.update(kw)
    return Staff(**fields)


def plan(
    tasks: list[Task], staff: list[Staff], policy: DispatchPolicy | None = None, **kw: Any
) -> dict[int, str]:
    """task id -> staff id for what one round assigns."""
    result = plan_round(DispatchState(tasks, staff, **kw), NOW, TRAVEL, policy or DispatchPolicy())
    return {i: t.staff_id for t in result.trips for i in t.task_ids}


# ---- the lifecycle ----


def test_lifecycle_allows_exactly_its_transitions() -> None:
    base = task(12, "amenities", "101")
    for current, allowed in ALLOWED.items():
        at = base.model_copy(update={"status": current})
        for to in TaskStatus:
            if to in allowed:
                moved = at.moved(to, NOW, staff_id="a", reason="test")
                assert moved.status is to
                assert moved.history[-1].status is to
                assert moved.history[-1].reason == "test"
            else:
                with pytest.raises(InvalidTransition):
                    at.moved(to, NOW)
    assert {TaskStatus.DONE, TaskStatus.CANCELLED}.isdisjoint(OPEN)


def test_a_refused_transition_says_what_and_why() -> None:
    done = task(12, "amenities", "101").model_copy(update={"status": TaskStatus.DONE})
    with pytest.raises(InvalidTransition, match=r"^task 12 is done; it cannot be accepted$"):
        done.moved(TaskStatus.ACCEPTED, NOW)
    started = done.model_copy(update={"status": TaskStatus.IN_PROGRESS})
    with pytest.raises(InvalidTransition, match="task 12 is in progress; it cannot be assigned"):
        started.moved(TaskStatus.ASSIGNED, NOW)


def test_returning_to_the_queue_clears_the_assignment_and_keeps_the_place() -> None:
    t = task(3, "amenities", "101").moved(
        TaskStatus.ASSIGNED, NOW, staff_id="a", trip_id=3, assigned_at=NOW
    )
    t = t.moved(TaskStatus.ACCEPTED, NOW + 1, staff_id="a", accepted_at=NOW + 1)
    back = t.moved(TaskStatus.NEW, NOW + 2, staff_id="a", reason="preempted", preemptions=1)
    assert (back.staff_id, back.trip_id, back.assigned_at, back.accepted_at) == (None,) * 4
    assert back.created_at == t.created_at
    assert back.history[-1].staff_id == "a"
    escalated = back.model_copy(update={"escalated_at": NOW})
    assert escalated.pool_status is TaskStatus.ESCALATED


# ---- travel ----


def test_travel_times_follow_the_layout() -> None:
    s = TRAVEL.speeds
    assert TRAVEL.seconds(TRAVEL.room("101"), TRAVEL.room("105")) == pytest.approx(
        4 * 4.5 / s.walk_m_per_s
    )
    one_floor = TRAVEL.seconds(TRAVEL.room("101"), TRAVEL.room("201"))
    assert one_floor == pytest.approx(2 * 4.5 / s.walk_m_per_s + s.stairs_s_per_floor)
    three = TRAVEL.seconds(TRAVEL.room("101"), TRAVEL.room("401"))
    lift = s.lift_wait_s + s.lift_transfer_s + 3 * s.lift_s_per_floor
    assert three == pytest.approx(2 * 4.5 / s.walk_m_per_s + lift)
    assert TRAVEL.metres(TRAVEL.room("101"), TRAVEL.room("401")) == pytest.approx(9.0)
    assert TRAVEL.point(ServicePointKind.LINEN, 7) == Place(7, 2.0)
    assert TRAVEL.point(ServicePointKind.KITCHEN, 7).floor == 0


places = st.builds(Place, st.integers(-1, 10), st.floats(0, 200, allow_nan=False))


@given(st.lists(places, min_size=1, max_size=20), places)
@PROPERTY
def test_vectorised_travel_matches_the_scalar_one(origins: list[Place], to: Place) -> None:
    floors = np.array([p.floor for p in origins], dtype=np.int64)
    positions = np.array([p.position_m for p in origins])
    expected = [TRAVEL.seconds(p, to) for p in origins]
    assert TRAVEL.seconds_from(floors, positions, to) == pytest.approx(expected)
    assert [TRAVEL.seconds(to, p) for p in origins] == pytest.approx(expected)


# ---- trips ----

ROOMS = [r.id for r in LAYOUT.rooms if r.floor in (2, 3)]
KINDS = ["amenities", "extra_pillow", "drink", "tv_help", "make_up_room", "medical", "iron_suit"]


@st.composite
def task_sets(draw: st.DrawFn) -> list[Task]:
    n = draw(st.integers(1, 25))
    return [
        task(
            i + 1,
            draw(st.sampled_from(KINDS)),
            draw(st.sampled_from(ROOMS[:12] + ROOMS[40:44])),
            created=NOW - draw(st.integers(0, 900)),
        )
        for i in range(n)
    ]


@given(
    task_sets(),
    st.integers(1, 5),
    st.sampled_from([300.0, 900.0, 1800.0]),
    st.sampled_from([0.0, 9.0, 30.0]),
    st.integers(0, 2),
    st.integers(1, 3),
    st.sets(st.sampled_from([HK, FB, ENG])),
)
@PROPERTY
def test_merged_trips_respect_their_capacity(
    tasks: list[Task],
    max_tasks: int,
    max_service_s: float,
    neighbour_m: float,
    batch_floors: int,
    batch_tasks: int,
    pressed: set[Skill],
) -> None:
    capacity = TripCapacity(max_tasks, max_service_s, neighbour_m, batch_floors, batch_tasks)
    trips = build_trips(tasks, TRAVEL, capacity, lambda skills, specs: True, frozenset(pressed))
    seen = [t.id for trip in trips for t in trip.tasks]
    assert sorted(seen) == sorted(t.id for t in tasks), "every task in exactly one trip"
    for trip in trips:
        rooms = [TRAVEL.room(t.room_id) for t in trip.tasks]
        assert len(trip.tasks) <= max_tasks
        if len(trip.tasks) > 1:
            assert sum(t.service_s for t in trip.tasks) <= max_service_s
            assert len({t.priority for t in trip.tasks}) == 1, "urgent never rides with standard"
            if trip.urgent:
                assert len({t.room_id for t in trip.tasks}) == 1
        if len({t.room_id for t in trip.tasks}) > 1:
            # Several rooms in one trip only when people are short for all its skills:
            # neighbours on one floor, or a batch from one kind of pickup point.
            assert trip.skills <= pressed
            floors = {p.floor for p in rooms}
            positions = [p.position_m for p in rooms]
            neighbours = len(floors) == 1 and max(positions) - min(positions) <= neighbour_m
            batch = (
                len({t.pickup for t in trip.tasks}) == 1
                and trip.tasks[0].pickup is not None
                and len(trip.tasks) <= batch_tasks
                and max(floors) - min(floors) <= batch_floors
            )
            assert neighbours or batch
        # Route: pickups first, then rooms; each task's arrival no earlier than the last.
        assert list(trip.arrival_s) == sorted(trip.arrival_s)
        assert trip.duration_s >= trip.arrival_s[-1] + trip.tasks[-1].service_s - 1e-9
        same_room: dict[str, float] = {}
        for t, a in zip(trip.tasks, trip.arrival_s, strict=True):
            assert same_room.setdefault(t.room_id, a) == a, "one visit per room"


def test_orders_are_batched_only_when_runners_are_short() -> None:
    """Two drinks for rooms a floor apart: one runner carries both up when only one is
    about to be free; with two runners each goes straight to the guest."""
    drinks = [task(1, "drink", "305", created=NOW - 60), task(2, "drink", "410", created=NOW)]
    one = [person("server-1", frozenset({FB}), "101")]
    result = plan_round(DispatchState(drinks, one), NOW, TRAVEL, DispatchPolicy())
    (trip,) = result.trips
    assert (trip.staff_id, trip.task_ids) == ("server-1", (1, 2))
    assert trip.arrival_at[0] < trip.arrival_at[1]
    two = [*one, person("server-2", frozenset({FB}), "102")]
    served = plan(drinks, two)
    assert sorted(served) == [1, 2]
    assert len(set(served.values())) == 2, "each goes straight"
    # Three floors apart is beyond a batch.
    far = [drinks[0], task(2, "drink", "610", created=NOW)]
    assert len(plan_round(DispatchState(far, one), NOW, TRAVEL, DispatchPolicy()).trips) == 1
    assert plan(far, one) == {1: "server-1"}


def _make_up_and_amenities() -> tuple[DispatchState, Staff, Task]:
    """A room make-up and amenities a floor above; housekeeper a free, b free in 300 s."""
    make_up = task(1, "make_up_room", "301", created=NOW - 120)
    amenities = task(2, "amenities", "401", created=NOW - 60)
    free = person("a", frozenset({HK}), "101")
    busy, work = _busy("b", frozenset({HK}), "410", 9)
    work = work.model_copy(update={"started_at": NOW - CATALOGUE["make_up_room"].service_s + 300})
    return DispatchState([make_up, amenities, work], [free, busy]), busy, work


def test_no_guest_is_batched_behind_a_room_make_up_when_someone_comes_sooner() -> None:
    """Amenities a floor above a room make-up, one housekeeper free and another free in
    five minutes (beyond the planning horizon, so the skill counts as pressed). Batched,
    the amenities would wait out the 20-minute make-up (seed 11, 08:05: 20.5 min where
    greedy took 4.4); they wait for the second housekeeper instead. Batches that pay
    still form: `test_orders_are_batched_only_when_runners_are_short`."""
    state, busy, work = _make_up_and_amenities()
    assert availability(busy, [work], NOW, TRAVEL, DispatchPolicy()).free_in_s == 300
    result = plan_round(state, NOW, TRAVEL, DispatchPolicy())
    assert {i: t.staff_id for t in result.trips for i in t.task_ids} == {1: "a"}
    assert result.unplanned == (2,), "left for the housekeeper free in five minutes"


def test_neighbours_share_a_trip_only_under_pressure() -> None:
    pillows = [task(1, "extra_pillow", "301"), task(2, "extra_pillow", "302")]
    housekeepers = [person("a", frozenset({HK}), "101"), person("b", frozenset({HK}), "102")]
    assert set(plan(pillows, housekeepers)) == {1, 2}
    assert len(set(plan(pillows, housekeepers).values())) == 2, "each goes straight"
    assert plan(pillows, housekeepers[:1]) == {1: "a", 2: "a"}, "one person: one trip"


def test_one_guests_requests_become_one_trip_for_someone_who_can_do_them_all() -> None:
    tasks = [
        task(1, "drink", "305", created=NOW - 30),
        task(2, "extra_pillow", "305", created=NOW - 20),
        task(3, "tv_help", "305", created=NOW - 10),
    ]
    staff = [
        person("server", frozenset({FB}), "301"),
        person("housekeeper", frozenset({HK}), "302"),
        person("agent", frozenset({HK, FB, ENG}), "110"),
    ]
    assert plan(tasks, staff) == {1: "agent", 2: "agent", 3: "agent"}
    # Nobody available can do all three: no merge, each goes to a specialist.
    staff[2] = staff[2].model_copy(update={"on_duty": False})
    assert plan(tasks, staff) == {1: "server", 2: "housekeeper"}


# ---- the cost matrix ----


def test_cost_matrix_forbids_what_cannot_be() -> None:
    policy = DispatchPolicy()
    trips = build_trips(
        [task(1, "iron_suit", "201"), task(2, "medical", "501")],
        TRAVEL,
        policy.capacity,
        lambda s, p: True,
    )
    staff = [
        person("hk", frozenset({HK})),
        person("valet", frozenset({HK}), specialities=frozenset({"ironing"})),
        person("medic", frozenset({FA})),
    ]
    views = [availability(s, (), NOW, TRAVEL, policy) for s in staff]
    cost, preempt = cost_matrix(trips, views, NOW, TRAVEL, policy)
    by = {
        (trip.tasks[0].kind, v.staff.id): cost[k, j]
        for k, trip in enumerate(trips)
        for j, v in enumerate(views)
    }
    assert math.isinf(by["iron_suit", "hk"]), "speciality missing"
    assert math.isfinite(by["iron_suit", "valet"])
    assert math.isinf(by["iron_suit", "medic"]), "skill missing"
    assert math.isinf(by["medical", "hk"])
    assert math.isinf(by["medical", "valet"])
    assert math.isfinite(by["medical", "medic"])
    assert not preempt.any()


def test_off_duty_people_and_dnd_rooms_are_left_out() -> None:
    mur = task(1, "make_up_room", "201")
    pillow = task(2, "extra_pillow", "202")
    staff = [person("hk", frozenset({HK})), person("off", frozenset({HK}), on_duty=False)]
    result = plan_round(
        DispatchState([mur, pillow], staff, dnd_rooms=frozenset({"201", "202"})),
        NOW,
        TRAVEL,
        DispatchPolicy(),
    )
    assert result.held == (1,), "make-up-room waits out do-not-disturb"
    assert {i: t.staff_id for t in result.trips for i in t.task_ids} == {2: "hk"}, (
        "a guest's own request is delivered"
    )


def test_iron_a_suit_goes_to_the_nearest_housekeeper_skilled_at_ironing() -> None:
    iron = frozenset({"ironing"})
    staff = [
        person("near-no-iron", frozenset({HK}), "610"),
        person("far-iron", frozenset({HK}), "1001", specialities=iron),
        person("near-iron", frozenset({HK}), "602", specialities=iron),
    ]
    assert plan([task(1, "iron_suit", "612")], staff) == {1: "near-iron"}


# ---- ties: first come first served, then the less loaded ----


@given(
    st.lists(st.integers(0, 10_000), min_size=2, max_size=12, unique=True),
    st.integers(1, 6),
)
@PROPERTY
def test_ties_go_first_come_first_served(ages: list[int], people: int) -> None:
    # Identical requests and identical people: every plan costs the same, so who is
    # served is decided by the tie-break alone (no waiting bonus, no merging).
    policy = DispatchPolicy(wait_weight=0.0, capacity=TripCapacity(max_tasks=1))
    tasks = [task(i + 1, "amenities", "501", created=NOW - 5000 - a) for i, a in enumerate(ages)]
    staff = [person(f"s{j}", frozenset({HK}), "505") for j in range(people)]
    served = set(plan(tasks, staff, policy))
    earliest = {t.id for t in sorted(tasks, key=lambda t: t.created_at)[:people]}
    assert served == earliest


@given(st.lists(st.integers(0, 30), min_size=2, max_size=8))
@PROPERTY
def test_ties_then_go_to_the_less_loaded(done_counts: list[int]) -> None:
    staff = [
        person(f"s{j}", frozenset({HK}), "505", done_count=c) for j, c in enumerate(done_counts)
    ]
    chosen = plan([task(1, "amenities", "501")], staff)[1]
    least = min(range(len(staff)), key=lambda j: (done_counts[j], f"s{j}"))
    assert chosen == f"s{least}"


def test_preference_relevance_ranks_above_a_plain_request_of_the_same_urgency() -> None:
    plain = task(1, "amenities", "501", created=NOW - 120)
    shampoo = task(2, "amenities", "1001", created=NOW - 60, relevance="high")
    staff = [person("hk", frozenset({HK}), "505")]
    assert plan([plain, shampoo], staff) == {2: "hk"}


# ---- preemption ----


def _busy(
    staff_id: str, skills: frozenset[Skill], room: str, task_id: int, **kw: Any
) -> tuple[Staff, Task]:
    worker = person(staff_id, skills, room, **kw)
    work = task(task_id, "make_up_room", room).moved(
        TaskStatus.ASSIGNED, NOW - 100, staff_id=staff_id, trip_id=task_id, assigned_at=NOW - 100
    )
    work = work.moved(TaskStatus.ACCEPTED, NOW - 90, staff_id=staff_id, accepted_at=NOW - 90)
    work = work.moved(TaskStatus.IN_PROGRESS, NOW - 60, staff_id=staff_id, started_at=NOW - 60)
    return worker, work


def test_an_urgent_task_preempts_non_urgent_work_within_the_bound() -> None:
    agent, work = _busy("agent", ALL, "402", 7)
    medical = task(8, "medical", "405", created=NOW)
    result = plan_round(DispatchState([work, medical], [agent]), NOW, TRAVEL, DispatchPolicy())
    (trip,) = result.trips
    assert (trip.staff_id, trip.task_ids, trip.preempted) == ("agent", (8,), (7,))
    changed, people = apply_plan({7: work, 8: medical}, {"agent": agent}, result, NOW)
    by_id = {t.id: t for t in changed}
    assert by_id[7].status is TaskStatus.NEW
    assert by_id[7].preemptions == 1
    assert by_id[8].status is TaskStatus.ASSIGNED
    assert by_id[8].staff_id == "agent"
    assert people[0].preemptions == 1

    # The person has been preempted as often as the policy allows: no more.
    tired, work = _busy("agent", ALL, "402", 7, preemptions=2)
    result = plan_round(DispatchState([work, medical], [tired]), NOW, TRAVEL, DispatchPolicy())
    assert result.trips == ()
    assert result.unplanned == (8,)
    # A task preempted once is not preempted again.
    fresh, work = _busy("agent", ALL, "402", 7)
    work = work.model_copy(update={"preemptions": 1})
    result = plan_round(DispatchState([work, medical], [fresh]), NOW, TRAVEL, DispatchPolicy())
    assert result.trips == ()


def test_standard_work_never_preempts() -> None:
    agent, work = _busy("agent", ALL, "402", 7)
    pillow = task(8, "extra_pillow", "405", created=NOW - 1000)
    result = plan_round(DispatchState([work, pillow], [agent]), NOW, TRAVEL, DispatchPolicy())
    assert result.trips == ()


def test_a_request_for_a_room_being_visited_joins_the_visit() -> None:
    agent, work = _busy("agent", ALL, "402", 7)
    towel = task(8, "amenities", "402", created=NOW)
    other = person("other", ALL, "401")
    result = plan_round(DispatchState([work, towel], [agent, other]), NOW, TRAVEL, DispatchPolicy())
    (trip,) = result.trips
    assert (trip.staff_id, trip.task_ids, trip.joined, trip.trip_id) == ("agent", (8,), True, 7)
    changed, _ = apply_plan({7: work, 8: towel}, {"agent": agent}, result, NOW)
    assert changed[0].route_index == 1
    assert changed[0].trip_id == 7


def test_an_unaccepted_plan_moves_when_its_person_goes_off_duty() -> None:
    staff = [person("a", frozenset({HK}), "501"), person("b", frozenset({HK}), "1001")]
    pillow = task(1, "extra_pillow", "502")
    first = plan_round(DispatchState([pillow], staff), NOW, TRAVEL, DispatchPolicy())
    (changed,), _ = apply_plan({1: pillow}, {}, first, NOW)
    assert changed.staff_id == "a"
    staff[0] = staff[0].model_copy(update={"on_duty": False})
    second = plan_round(DispatchState([changed], staff), NOW, TRAVEL, DispatchPolicy())
    (moved,), _ = apply_plan({1: changed}, {}, second, NOW)
    assert (moved.status, moved.staff_id) == (TaskStatus.ASSIGNED, "b")
    assert moved.history[-1].reason == "re-planned"


def test_urgent_before_standard_when_people_are_scarce() -> None:
    pillows = [task(i, "extra_pillow", "501", created=NOW - 1500) for i in range(1, 4)]
    medical = task(9, "medical", "1040", created=NOW)
    agent = person("agent", ALL, "502")
    assert plan(
        [*pillows, medical], [agent], replace(DispatchPolicy(), capacity=TripCapacity(1))
    ) == {9: "agent"}
    assert medical.priority is Priority.URGENT


def test_a_trip_over_two_floors_serves_the_earlier_request_first() -> None:
    """Equal visits on two floors: whoever asked first is served first, not the lower floor."""
    first = task(1, "room_service", "301", created=NOW - 300)
    second = task(2, "room_service", "201", created=NOW - 100)
    trip = plan_route([second, first], TRAVEL)
    assert [t.id for t in trip.tasks] == [1, 2]


def test_a_trip_serves_equal_ranks_first_come_first_served_not_shortest_first() -> None:
    """Seed 003: equal ranks go first come, first served, however long the earlier visit;
    a request tied to a preference goes before plain ones of its class."""
    cleaning = task(1, "make_up_room", "502", created=NOW - 600)  # 20 min in the room
    pillow = task(2, "extra_pillow", "503", created=NOW - 300)  # 3 min
    shampoo = task(3, "amenities", "504", created=NOW - 60, relevance=Relevance.HIGH)
    trip = plan_route([pillow, cleaning, shampoo], TRAVEL)
    assert [t.id for t in trip.tasks] == [3, 1, 2]


def test_past_the_weighing_budget_a_pool_merges_on_pressure_alone() -> None:
    """The merge of `test_no_guest_is_batched_behind_a_room_make_up_when_someone_comes_
    sooner` is refused when weighed, and made on pressure alone once the round's
    `weigh_merges_budget` is spent (weighing schedules the pool twice per merge)."""
    state, _, _ = _make_up_and_amenities()
    weighed = plan_round(state, NOW, TRAVEL, DispatchPolicy())
    assert [t.task_ids for t in weighed.trips] == [(1,)]
    capped = plan_round(state, NOW, TRAVEL, DispatchPolicy(weigh_merges_budget=1))
    assert [t.task_ids for t in capped.trips] == [(1, 2)]
