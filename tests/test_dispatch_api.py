"""Dispatch through the gateway: the task API over real HTTP, and the make-up-room button
on the simulated property over a real mosquitto."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
import httpx
import pytest
from pydantic import SecretStr

from edge.api import create_app
from edge.assignment import warm_up
from edge.dispatch.model import Source, TaskStatus
from shared.broker import BrokerAddress
from shared.clock import SimulatedClock
from shared.layout import PropertyLayout
from shared.messages import ServiceState, encode
from shared.topics import Channel, Device, RoomTopic
from tests.fixtures.http_server import ServeApp
from tests.fixtures.property import (
    WAIT_S,
    eventually,
    fast_settings,
    running_property,
    unique_property_id,
)

TOKEN = "test-operator-token"


@pytest.fixture(autouse=True, scope="module")
def _solver_compiled() -> None:
    """Compile (or load) the solver before any event loop runs: with a cold numba cache
    that takes half a minute, longer than these tests wait for a round."""
    warm_up()


ROSTER = [
    {"id": "anna", "name": "Anna", "skills": ["housekeeping"], "specialities": ["ironing"]},
    {"id": "mo", "skills": ["front_desk", "first_aid"], "supervisor": True},
]


async def test_task_api_intake_lifecycle_and_refusals(
    broker_address: BrokerAddress, tmp_path: Path, serve_app: ServeApp
) -> None:
    property_id = unique_property_id("tasks")
    roster = tmp_path / "staff.json"
    roster.write_text(json.dumps(ROSTER))
    settings = fast_settings(
        property_id,
        broker_address,
        tmp_path,
        20,
        operator_token=SecretStr(TOKEN),
        staff_file=roster,
    )
    app = create_app(
        settings, SimulatedClock(speed=1.0), layout=PropertyLayout.generate(property_id, 20)
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with serve_app(app) as base:
        # Built off the loop: a client loads its TLS trust store, which can take 0.3 s.
        client = await asyncio.to_thread(
            httpx.AsyncClient, base_url=base, headers=auth, timeout=WAIT_S
        )
        async with client as http:
            await _exercise(http)


async def _exercise(http: httpx.AsyncClient) -> None:
    assert (await http.get("/tasks", headers={"Authorization": ""})).status_code == 401
    staff = (await http.get("/staff")).json()
    assert [(s["staff"]["id"], s["staff"]["on_duty"], s["load"]) for s in staff] == [
        ("anna", False, 0),
        ("mo", False, 0),
    ]
    on = await http.post("/staff/anna/duty", json={"on_duty": True})
    assert on.status_code == 200, on.text
    assert on.json()["on_duty"] is True

    body = {"request_id": "call-7", "room_id": "112", "kind": "iron_suit", "note": "2 shirts"}
    created = await http.post("/tasks", json=body)
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["id"], task["status"], task["speciality"]) == (1, "new", "ironing")
    assert task["checklist"]
    again = await http.post("/tasks", json=body)
    assert (again.status_code, again.json()["id"]) == (200, 1)
    clash = await http.post("/tasks", json={**body, "room_id": "113"})
    assert clash.status_code == 409
    assert "request id 'call-7' was used for task 1" in clash.json()["detail"]
    other_note = await http.post("/tasks", json={**body, "note": "3 shirts"})
    assert other_note.status_code == 409, other_note.text
    assert other_note.json()["detail"].endswith("with another note")

    async with asyncio.timeout(WAIT_S):
        while (await http.get("/tasks/1")).json()["status"] != "assigned":
            await asyncio.sleep(0.02)
    early = await http.post("/tasks/1/done", json={"staff_id": "anna"})
    assert early.status_code == 409
    assert early.json()["detail"] == "task 1 is assigned; it cannot be done"
    wrong = await http.post("/tasks/1/accept", json={"staff_id": "mo"})
    assert (wrong.status_code, wrong.json()["detail"]) == (
        409,
        "task 1 is assigned to anna, not to mo",
    )
    for step, status in (("accept", "accepted"), ("start", "in_progress"), ("done", "done")):
        answer = await http.post(f"/tasks/1/{step}", json={"staff_id": "anna"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == status
    late = await http.post("/tasks/1/accept", json={"staff_id": "anna"})
    assert (late.status_code, late.json()["detail"]) == (
        409,
        "task 1 is done; it cannot be accepted",
    )
    cancel = await http.post("/tasks/1/cancel", json={"reason": "guest left"})
    assert cancel.status_code == 409

    medical = await http.post(
        "/tasks", json={"request_id": "call-8", "room_id": "105", "kind": "medical"}
    )
    assert medical.json()["priority"] == "urgent"
    assert (await http.post("/tasks/2/cancel", json={"reason": "false alarm"})).json()[
        "status"
    ] == "cancelled"

    assert [t["id"] for t in (await http.get("/tasks?status=done")).json()] == [1]
    assert len((await http.get("/tasks")).json()) == 2
    assert (await http.get("/tasks/99")).status_code == 404
    assert (await http.get("/tasks?status=lost")).status_code == 422
    unknown_kind = await http.post(
        "/tasks", json={"request_id": "x", "room_id": "101", "kind": "teleport"}
    )
    assert unknown_kind.status_code == 422
    assert "unknown kind 'teleport'" in unknown_kind.text
    no_room = await http.post("/tasks", json={"request_id": "y", "room_id": "999", "kind": "drink"})
    assert no_room.status_code == 404
    assert (await http.post("/staff/nobody/duty", json={"on_duty": True})).status_code == 404
    assert (await http.post("/tasks/1/accept", json={"staff_id": "nobody"})).status_code == 404
    base = {"room_id": "101", "kind": "drink"}
    bad_bodies: tuple[dict[str, object], ...] = (
        {"due_in_s": "Infinity"},
        {"due_in_s": "NaN"},
        {"due_in_s": 7 * 86_400 + 1},
        {"kind": "medical", "skill": "housekeeping"},
    )
    for i, bad in enumerate(bad_bodies):
        answer = await http.post("/tasks", json={**base, "request_id": f"bad-{i}", **bad})
        assert answer.status_code == 422, (bad, answer.text)
    long_id = "x" * 65
    bad_actions: tuple[tuple[str, dict[str, object]], ...] = (
        ("/tasks/2/accept", {"staff_id": long_id}),
        ("/tasks/2/start", {"staff_id": "no spaces"}),
        ("/tasks/2/cancel", {"reason": "r", "staff_id": "a/b"}),
        (f"/staff/{long_id}/duty", {"on_duty": True}),
    )
    for path, payload in bad_actions:
        answer = await http.post(path, json=payload)
        assert answer.status_code == 422, (path, answer.text)


async def test_make_up_room_button_opens_a_task_and_do_not_disturb_cancels_it(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, sim):
        tasks = gateway.tasks

        def open_mur(room: str) -> list[int]:
            return [
                t.id
                for t in tasks.tasks()
                if t.room_id == room and t.kind == "make_up_room" and t.is_open
            ]

        sim.room("101").guest_presses_service(mur=True)
        await eventually(lambda: len(open_mur("101")) == 1, "a make-up-room task for 101")
        (task_id,) = open_mur("101")
        task = tasks.get(task_id)
        assert (task.source, task.skill, task.respect_dnd) == (Source.BUTTON, "housekeeping", True)

        sim.room("101").guest_presses_service(dnd=True)
        await eventually(
            lambda: tasks.get(task_id).status is TaskStatus.CANCELLED, "the task cancelled"
        )
        assert "101" in tasks.dnd_rooms
        # A controller that allows both lights at once (the simulated one does not):
        # make-up-room under do-not-disturb opens nothing.
        both = ServiceState(ts=sim.room("101").state(Device.SERVICE).ts + 1, dnd=True, mur=True)
        topic = RoomTopic(gateway.property_id, "101", Device.SERVICE, Channel.STATE)
        async with aiomqtt.Client(broker_address.host, broker_address.port) as client:
            await client.publish(str(topic), encode(both), qos=1, retain=True)

        def both_on() -> bool:
            state = gateway.twin.room("101").state(Device.SERVICE)
            return isinstance(state, ServiceState) and state.mur and state.dnd

        await eventually(both_on, "make-up-room and do-not-disturb both on in the twin")
        await tasks.tick()
        assert open_mur("101") == []
