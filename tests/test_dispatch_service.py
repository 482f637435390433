"""The task service on a real store with a manual clock: intake, lifecycle, escalation,
preemption, merged trips, twin watchers and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.assignment import warm_up
from edge.dispatch.errors import DuplicateRequest, InvalidTransition, NotAssignee
from edge.dispatch.faults import FaultThresholds
from edge.dispatch.model import Skill, Source, Staff, Task, TaskStatus
from edge.dispatch.service import (
    EventKind,
    Subscription,
    TaskEvent,
    TaskRequest,
    TaskService,
    TaskServiceConfig,
)
from edge.dispatch.travel import TravelModel
from edge.errors import UnknownRoom
from edge.persistence import GatewayStore
from edge.twin import RoomTwin
from shared.clock import ManualClock
from shared.layout import PropertyLayout
from shared.messages import (
    DoorState,
    HvacAction,
    HvacMode,
    ServiceState,
    ThermostatState,
)
from shared.topics import Device
from tests.fixtures.property import eventually

LAYOUT = PropertyLayout.generate("svc", 400)
TRAVEL = TravelModel(LAYOUT)
HK, FB, ENG, FA = Skill.HOUSEKEEPING, Skill.FOOD_BEVERAGE, Skill.ENGINEERING, Skill.FIRST_AID
ALL = frozenset(Skill)


@pytest.fixture(autouse=True, scope="module")
def _solver_compiled() -> None:
    """Compile (or load) the solver before any event loop runs: with a cold numba cache
    that takes half a minute, longer than these tests wait for a round."""
    warm_up()


def staff(staff_id: str, skills: frozenset[Skill], room: str, **kw: Any) -> Staff:
    place = TRAVEL.room(room)
    return Staff(id=staff_id, skills=skills, floor=place.floor, position_m=place.position_m, **kw)


@asynccontextmanager
async def service(
    path: Path,
    roster: list[Staff],
    clock: ManualClock | None = None,
    on_duty: bool = True,
    **config: Any,
) -> AsyncIterator[TaskService]:
    store = GatewayStore(path / "store")
    await store.open()
    svc = TaskService(LAYOUT, store, clock or ManualClock(), roster, TaskServiceConfig(**config))
    try:
        await svc.start()
        if on_duty:
            for person in roster:
                await svc.set_duty(person.id, True)
        yield svc
    finally:
        await svc.close()
        await store.close()


def request(request_id: str, room: str, kind: str, **kw: Any) -> TaskRequest:
    return TaskRequest(request_id=request_id, room_id=room, kind=kind, **kw)


def drain(subscription: Subscription) -> list[TaskEvent]:
    events = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return events


async def assigned(svc: TaskService, task_id: int, staff_id: str | None = None) -> Task:
    def check() -> bool:
        task = svc.get(task_id)
        return task.status is TaskStatus.ASSIGNED and (
            staff_id is None or task.staff_id == staff_id
        )

    await eventually(check, f"task {task_id} assigned to {staff_id or 'someone'}")
    return svc.get(task_id)


async def test_intake_is_idempotent_by_request_id_and_durable(tmp_path: Path) -> None:
    async with service(tmp_path, []) as svc:
        task, created = await svc.submit(request("guest-1", "101", "extra_pillow"))
        assert created
        assert (task.id, task.status, task.skill, task.source) == (
            1,
            TaskStatus.NEW,
            HK,
            Source.GUEST,
        )
        assert task.checklist
        assert task.due_at == task.created_at + 1800
        again, created = await svc.submit(request("guest-1", "101", "extra_pillow"))
        assert (again, created) == (task, False)
        with pytest.raises(DuplicateRequest, match="request id 'guest-1' was used for task 1"):
            await svc.submit(request("guest-1", "102", "extra_pillow"))
        with pytest.raises(UnknownRoom):
            await svc.submit(request("guest-2", "9999", "extra_pillow"))
        linked, _ = await svc.submit(
            request("guest-3", "102", "amenities", preference_id="shampoo-brand")
        )
        assert linked.relevance == "normal"
    with pytest.raises(ValidationError, match="unknown kind 'teleport'"):
        request("x", "101", "teleport")
    with pytest.raises(ValidationError, match="give a kind"):
        TaskRequest(request_id="x", room_id="101")

    async with service(tmp_path, []) as svc:
        assert svc.get(1) == task
        again, created = await svc.submit(request("guest-1", "101", "extra_pillow"))
        assert (again.id, created) == (1, False)
        fresh, created = await svc.submit(request("guest-4", "103", "drink"))
        assert (fresh.id, created) == (3, True)


async def test_iron_a_suit_lifecycle_with_clear_refusals_and_live_events(tmp_path: Path) -> None:
    iron = frozenset({"ironing"})
    roster = [
        staff("near-no-iron", frozenset({HK}), "610"),
        staff("far-iron", frozenset({HK}), "1001", specialities=iron),
        staff("near-iron", frozenset({HK}), "602", specialities=iron),
    ]
    async with service(tmp_path, roster) as svc:
        with svc.subscribe() as events:
            task, _ = await svc.submit(request("suit", "612", "iron_suit", note="navy suit"))
            await assigned(svc, task.id, "near-iron")
            with pytest.raises(NotAssignee, match="task 1 is assigned to near-iron, not to far"):
                await svc.accept(task.id, "far-iron")
            with pytest.raises(InvalidTransition, match="task 1 is assigned; it cannot be done"):
                await svc.finish(task.id, "near-iron")
            await svc.accept(task.id, "near-iron")
            await svc.start_task(task.id, "near-iron")
            done = await svc.finish(task.id, "near-iron")
            assert done.status is TaskStatus.DONE
            with pytest.raises(InvalidTransition, match=r"^task 1 is done; it cannot be accepted$"):
                await svc.accept(task.id, "near-iron")
            seen = [e.task.status for e in drain(events) if e.kind is EventKind.TASK and e.task]
        assert seen == ["new", "assigned", "accepted", "in_progress", "done"]
        person = svc.person("near-iron")
        assert (person.last_room, person.done_count) == ("612", 1)
        assert [s.load for s in svc.staff()] == [0, 0, 0]


async def test_not_accepted_in_time_is_re_dispatched_to_someone_else(tmp_path: Path) -> None:
    clock = ManualClock()
    roster = [staff("a", frozenset({HK}), "502"), staff("b", frozenset({HK}), "1040")]
    async with service(tmp_path, roster, clock, accept_timeout_s=120) as svc:
        task, _ = await svc.submit(request("pillow", "501", "extra_pillow"))
        await assigned(svc, task.id, "a")
        await clock.advance(121)
        moved = await assigned(svc, task.id, "b")
        assert moved.declined_by == ("a",)
        assert any("not accepted within 2 min" in (h.reason or "") for h in moved.history)


async def test_overdue_goes_to_the_supervisor(tmp_path: Path) -> None:
    clock = ManualClock()
    roster = [staff("engineer", frozenset({ENG}), "101", supervisor=True)]
    async with service(tmp_path, roster, clock) as svc:
        with svc.subscribe() as events:
            task, _ = await svc.submit(request("pillow", "501", "extra_pillow"))
            await clock.advance(1799)
            await svc.tick()  # a round at 1799 s: not escalated yet
            assert svc.get(task.id).status is TaskStatus.NEW
            await clock.advance(2)
            await eventually(lambda: svc.get(task.id).status is TaskStatus.ESCALATED, "escalated")
            notices = [(e.to, e.message) for e in drain(events) if e.kind is EventKind.NOTIFY]
        assert len(notices) == 1
        to, message = notices[0]
        assert to == "supervisor"
        assert message is not None
        assert (
            "task 1 (extra_pillow, room 501) is 0 min past due; nobody has accepted it" in message
        )


async def test_urgent_notifies_the_clinic_at_once_and_again_when_overdue(tmp_path: Path) -> None:
    clock = ManualClock()
    roster = [staff("medic", frozenset({FA}), "101")]
    async with service(tmp_path, roster, clock, on_duty=False) as svc:
        with svc.subscribe() as events:
            task, _ = await svc.submit(request("unwell", "705", "medical", note="dizzy"))
            notices = [e.to for e in drain(events) if e.kind is EventKind.NOTIFY]
            assert notices == ["clinic"]
            await clock.advance(600)
            await eventually(lambda: svc.get(task.id).escalated_at is not None, "escalated")
            notices = [e.to for e in drain(events) if e.kind is EventKind.NOTIFY]
            assert notices == ["supervisor", "clinic"]
            # The medic comes on duty: the escalated task is dispatched at once.
            await svc.set_duty("medic", True)
            await assigned(svc, task.id, "medic")


async def test_urgent_work_preempts_a_make_up_room_in_progress(tmp_path: Path) -> None:
    roster = [staff("agent", ALL, "401")]
    async with service(tmp_path, roster) as svc:
        mur, _ = await svc.submit(request("mur", "402", "make_up_room", source="button"))
        await assigned(svc, mur.id, "agent")
        await svc.accept(mur.id, "agent")
        await svc.start_task(mur.id, "agent")
        medical, _ = await svc.submit(request("unwell", "405", "medical"))
        await assigned(svc, medical.id, "agent")
        back = svc.get(mur.id)
        assert (back.status, back.preemptions, back.staff_id) == (TaskStatus.NEW, 1, None)
        assert back.history[-1].reason == f"preempted by urgent task {medical.id}"
        assert svc.person("agent").preemptions == 1


async def test_a_guests_several_requests_become_one_trip(tmp_path: Path) -> None:
    roster = [
        staff("server", frozenset({FB}), "301"),
        staff("housekeeper", frozenset({HK}), "302"),
        staff("agent", frozenset({HK, FB, ENG}), "310"),
    ]
    async with service(tmp_path, roster) as svc:
        ids = [
            (await svc.submit(request(f"r{kind}", "305", kind)))[0].id
            for kind in ("drink", "extra_pillow", "tv_help")
        ]

        def one_trip() -> bool:
            tasks = [svc.get(i) for i in ids]
            return all(
                t.status is TaskStatus.ASSIGNED and t.staff_id == "agent" for t in tasks
            ) and (len({t.trip_id for t in tasks}) == 1)

        await eventually(one_trip, "one trip for the agent")
        await svc.accept(ids[1], "agent")
        assert [svc.get(i).status for i in ids] == [TaskStatus.ACCEPTED] * 3


def _room(room_id: str, *states: Any, online: bool = True) -> RoomTwin:
    room = RoomTwin(room_id, controller_online=online)
    for device, state in states:
        room.device(device).state = state
    return room


async def test_the_twin_opens_and_cancels_tasks(tmp_path: Path) -> None:
    clock = ManualClock()
    thresholds = FaultThresholds(door_open_s=600, hvac_s=2700, offline_s=600)
    async with service(tmp_path, [], clock, faults=thresholds) as svc:
        now = clock.now()

        def service_state(dnd: bool, mur: bool) -> tuple[Device, ServiceState]:
            return Device.SERVICE, ServiceState(ts=clock.now(), dnd=dnd, mur=mur)

        def open_of(room: str, kind: str) -> list[Task]:
            return [t for t in svc.tasks() if t.room_id == room and t.kind == kind and t.is_open]

        svc.on_twin_change(_room("101", service_state(False, True)), Device.SERVICE)
        await eventually(lambda: len(open_of("101", "make_up_room")) == 1, "make-up-room task")
        (mur,) = open_of("101", "make_up_room")
        assert (mur.source, mur.respect_dnd, mur.skill) == (Source.BUTTON, True, HK)
        svc.on_twin_change(_room("101", service_state(True, False)), Device.SERVICE)
        await eventually(lambda: svc.get(mur.id).status is TaskStatus.CANCELLED, "cancelled")
        assert svc.get(mur.id).history[-1].reason == "the guest switched do-not-disturb on"
        assert svc.dnd_rooms == {"101"}

        door = DoorState(ts=now, open=True, locked=False)
        svc.on_twin_change(_room("103", (Device.DOOR, door)), Device.DOOR)
        cold = ThermostatState(
            ts=now,
            mode=HvacMode.COOL,
            setpoint_c=22.0,
            temperature_c=27.0,
            action=HvacAction.COOLING,
        )
        svc.on_twin_change(_room("104", (Device.THERMOSTAT, cold)), Device.THERMOSTAT)
        svc.on_twin_change(_room("105", online=False), Device.CONTROLLER)
        await clock.advance(599)
        await svc.tick()  # the watcher is polled at 599 s: no door task yet
        assert not open_of("103", "door_ajar")
        await clock.advance(1)
        await eventually(lambda: len(open_of("103", "door_ajar")) == 1, "door task")
        await eventually(lambda: len(open_of("105", "device_offline")) == 1, "offline task")
        await clock.advance(2100)
        await eventually(lambda: len(open_of("104", "hvac_fault")) == 1, "hvac task")
        await clock.advance(3600)
        await svc.tick()
        assert len(open_of("103", "door_ajar")) == 1, "one open task per room and cause"
        (door_task,) = open_of("103", "door_ajar")
        assert (door_task.source, door_task.skill, door_task.cause) == (
            Source.FAULT,
            ENG,
            "door_open",
        )
        # make-up-room pressed under do-not-disturb (a GRMS that allows both): nothing.
        svc.on_twin_change(_room("106", service_state(True, True)), Device.SERVICE)
        await svc.tick()
        assert not open_of("106", "make_up_room")


async def test_accepted_work_survives_a_restart_and_stays_with_its_person(tmp_path: Path) -> None:
    roster = [staff("a", frozenset({HK}), "502"), staff("b", frozenset({HK}), "505")]
    async with service(tmp_path, roster) as svc:
        task, _ = await svc.submit(request("pillow", "501", "extra_pillow"))
        holder = (await assigned(svc, task.id)).staff_id
        assert holder is not None
        await svc.accept(task.id, holder)
    async with service(tmp_path, roster, on_duty=False) as svc:
        again = svc.get(task.id)
        assert (again.status, again.staff_id) == (TaskStatus.ACCEPTED, holder)
        assert all(s.staff.on_duty for s in svc.staff()), "duty is kept across restarts"
        await svc.tick()
        assert svc.get(task.id).staff_id == holder


@pytest.mark.allow_logged_exceptions
async def test_a_failed_warm_up_is_reported_once_and_rounds_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> float:
        raise RuntimeError("no numba cache")

    monkeypatch.setattr("edge.dispatch.service.warm_up", broken)
    roster = [staff("a", frozenset({HK}), "502")]
    async with service(tmp_path, roster) as svc:
        task, _ = await svc.submit(request("pillow", "501", "extra_pillow"))
        await assigned(svc, task.id, "a")
        await svc.run_round()
        await svc.run_round()
        assert len(svc.faults) == 1
        assert "warm-up failed" in svc.faults[0]
        assert "no numba cache" in svc.faults[0]
    assert sum("warm-up failed" in r.getMessage() for r in caplog.records) == 1


async def test_the_same_request_id_with_another_body_is_a_conflict(tmp_path: Path) -> None:
    async with service(tmp_path, []) as svc:
        task, _ = await svc.submit(request("guest-1", "101", "extra_pillow", note="two"))
        # The default spelled out is the same request.
        same = request("guest-1", "101", "extra_pillow", note="two", priority="standard")
        assert await svc.submit(same) == (task, False)
        with pytest.raises(
            DuplicateRequest, match=r"\(extra_pillow in room 101\) with another note$"
        ):
            await svc.submit(request("guest-1", "101", "extra_pillow", note="three"))
        with pytest.raises(DuplicateRequest, match=r"with another priority, due_in_s$"):
            await svc.submit(
                request("guest-1", "101", "extra_pillow", note="two", priority="urgent")
            )
        with pytest.raises(DuplicateRequest, match=r"with another due_in_s$"):
            await svc.submit(request("guest-1", "101", "extra_pillow", note="two", due_in_s=60))
    async with service(tmp_path, []) as svc:  # the digest survives a restart
        assert svc.get(task.id).request_digest == task.request_digest
        with pytest.raises(DuplicateRequest, match=r"with another note$"):
            await svc.submit(request("guest-1", "101", "extra_pillow"))


@pytest.mark.allow_logged_exceptions
async def test_signals_whose_task_could_not_be_created_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    async with service(tmp_path, [], clock, faults=FaultThresholds(door_open_s=600)) as svc:
        failing = {"make_up_room", "door_ajar"}  # the first task of each kind: a full disk
        submit = svc._submit

        async def flaky(request: TaskRequest, cause: str | None) -> tuple[Task, bool]:
            if request.kind in failing:
                failing.discard(request.kind)
                raise OSError("disk full")
            return await submit(request, cause)

        monkeypatch.setattr(svc, "_submit", flaky)

        def open_of(room: str, kind: str) -> list[Task]:
            return [t for t in svc.tasks() if t.room_id == room and t.kind == kind and t.is_open]

        door = DoorState(ts=clock.now(), open=True, locked=False)
        svc.on_twin_change(_room("103", (Device.DOOR, door)), Device.DOOR)
        for room in ("101", "102"):
            state = ServiceState(ts=clock.now(), dnd=False, mur=True)
            svc.on_twin_change(_room(room, (Device.SERVICE, state)), Device.SERVICE)
        await eventually(lambda: "make_up_room" not in failing, "a failed make-up-room")
        await svc.tick()  # the retry (the loop's own waits 5 hotel seconds)
        assert len(open_of("101", "make_up_room")) == 1
        assert len(open_of("102", "make_up_room")) == 1, "the signal behind it was kept"
        await clock.advance(600)
        await eventually(lambda: "door_ajar" not in failing, "a failed door task")
        await svc.tick()
        assert len(open_of("103", "door_ajar")) == 1, "the door episode was not lost"
        await svc.tick()
        assert len(open_of("103", "door_ajar")) == 1


async def test_do_not_disturb_does_not_cancel_a_make_up_room_started_meanwhile(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    roster = [staff("hk", frozenset({HK}), "502")]
    async with service(tmp_path, roster, clock) as svc:
        pressed = ServiceState(ts=clock.now(), dnd=False, mur=True)
        svc.on_twin_change(_room("501", (Device.SERVICE, pressed)), Device.SERVICE)
        await eventually(lambda: len(svc.tasks()) == 1, "the make-up-room task")
        (mur,) = svc.tasks()
        await assigned(svc, mur.id, "hk")
        await svc.accept(mur.id, "hk")
        await svc.tick()
        async with svc._lock:
            # Do-not-disturb arrives; the loop picks its signal up and waits for the lock...
            state = ServiceState(ts=clock.now(), dnd=True, mur=False)
            svc.on_twin_change(_room("501", (Device.SERVICE, state)), Device.SERVICE)
            await eventually(lambda: not svc._signals, "the signal taken up")
            # ...which a start that came first holds.
            started = svc.get(mur.id).moved(
                TaskStatus.IN_PROGRESS, clock.now(), staff_id="hk", started_at=clock.now()
            )
            await svc._save_and_commit([started])
        await svc.tick()
        assert svc.get(mur.id).status is TaskStatus.IN_PROGRESS


async def test_accepted_work_goes_back_to_the_queue_when_its_holder_goes_off_duty(
    tmp_path: Path,
) -> None:
    roster = [staff("a", frozenset({HK}), "502"), staff("b", frozenset({HK}), "1040")]
    async with service(tmp_path, roster) as svc:
        await svc.set_duty("b", False)
        task, _ = await svc.submit(request("pillow", "501", "extra_pillow"))
        await assigned(svc, task.id, "a")
        await svc.accept(task.id, "a")
        await svc.set_duty("b", True)
        await svc.set_duty("a", False)
        moved = await assigned(svc, task.id, "b")
        assert (moved.created_at, moved.accepted_at) == (task.created_at, None)
        assert any(h.reason == "a went off duty" for h in moved.history)


async def _pillow_in_progress_with_a(svc: TaskService) -> Task:
    """Housekeeper b off duty, a pillow for 501 assigned to, accepted and started by a."""
    await svc.set_duty("b", False)
    task, _ = await svc.submit(request("pillow", "501", "extra_pillow"))
    await assigned(svc, task.id, "a")
    await svc.accept(task.id, "a")
    return await svc.start_task(task.id, "a")


async def test_work_in_progress_of_someone_dropped_from_the_roster_is_requeued(
    tmp_path: Path,
) -> None:
    roster = [staff("a", frozenset({HK}), "502"), staff("b", frozenset({HK}), "1040")]
    async with service(tmp_path, roster) as svc:
        task = await _pillow_in_progress_with_a(svc)
    async with service(tmp_path, roster[1:]) as svc:
        moved = await assigned(svc, task.id, "b")
        assert moved.history[-2].reason == "a is no longer on the roster"


async def test_a_lost_handset_takes_its_person_off_duty_and_the_supervisor_follows_up(
    tmp_path: Path,
) -> None:
    roster = [staff("a", frozenset({HK}), "502"), staff("b", frozenset({HK}), "1040")]
    async with service(tmp_path, roster) as svc:
        first = await _pillow_in_progress_with_a(svc)
        with svc.subscribe() as events:
            started = await svc.handset_lost("a")
            notices = [(e.to, e.message) for e in drain(events) if e.kind is EventKind.NOTIFY]
        assert [t.id for t in started] == [first.id]
        assert not svc.person("a").on_duty
        assert svc.get(first.id).status is TaskStatus.IN_PROGRESS  # still theirs
        assert [to for to, _ in notices] == ["supervisor"]
        assert "handset was revoked" in (notices[0][1] or "")


def test_requests_with_an_unbounded_due_time_or_a_contradicting_skill_are_refused() -> None:
    for due in (float("inf"), float("nan"), 7 * 86_400 + 1, 0):
        with pytest.raises(ValidationError, match="due_in_s"):
            request("x", "101", "drink", due_in_s=due)
    with pytest.raises(ValidationError, match="kind 'medical' is first_aid work, not housekeeping"):
        request("x", "101", "medical", skill=HK)
    assert request("x", "101", "medical", skill=FA).skill is FA
    assert request("x", "101", "request", skill=HK).skill is HK


async def test_a_cancel_records_who_cancelled_without_taking_the_task(tmp_path: Path) -> None:
    roster = [staff("a", frozenset({HK}), "502"), staff("boss", frozenset({ENG}), "101")]
    async with service(tmp_path, roster) as svc:
        task, _ = await svc.submit(request("pillow", "501", "extra_pillow"))
        await assigned(svc, task.id, "a")
        await svc.accept(task.id, "a")
        cancelled = await svc.cancel(task.id, "guest checked out", staff_id="boss")
        assert (cancelled.status, cancelled.staff_id) == (TaskStatus.CANCELLED, "a")
        last = cancelled.history[-1]
        assert (last.staff_id, last.reason) == ("boss", "guest checked out")


async def test_a_fault_in_hand_is_not_reported_again_by_a_concurrent_tick(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with service(tmp_path, [], clock, faults=FaultThresholds(door_open_s=600)) as svc:
        door = DoorState(ts=clock.now(), open=True, locked=False)
        svc.on_twin_change(_room("103", (Device.DOOR, door)), Device.DOOR)
        async with svc._lock:
            await clock.advance(600)  # the loop takes the door signal up, then waits
            await eventually(lambda: bool(svc._signals_in_hand), "the door signal in hand")
            await clock.advance(60)  # a copy now would say 11 min, not 10
            second = asyncio.create_task(svc.tick())
            await asyncio.sleep(0.05)
        await second  # no DuplicateRequest: the copy was not made
        doors = [t for t in svc.tasks() if t.kind == "door_ajar"]
        assert len(doors) == 1
        assert doors[0].note == "the door has been open for 10 min"
