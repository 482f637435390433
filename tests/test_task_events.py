"""The handsets' live feed: Server-Sent Events over real HTTP from a running gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from edge.api import create_app
from edge.assignment import warm_up
from edge.dispatch.roster import new_handset_token
from edge.handsets import Handsets
from edge.persistence import GatewayStore
from shared.broker import BrokerAddress
from shared.clock import ManualClock, SimulatedClock
from shared.layout import PropertyLayout
from tests.fixtures.http_server import ServeApp
from tests.fixtures.property import WAIT_S, fast_settings, unique_property_id

TOKEN = "events-operator-token"
ROSTER = [
    {"id": "anna", "skills": ["housekeeping"]},
    {"id": "ben", "skills": ["engineering"]},
]


@pytest.fixture(autouse=True, scope="module")
def _solver_compiled() -> None:
    warm_up()  # a cold numba cache takes longer than the test waits for a round


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) per Server-Sent Event; comments skipped."""
    name, data = "message", ""
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


async def test_a_handset_sees_its_own_tasks_as_they_happen(
    broker_address: BrokerAddress, tmp_path: Path, serve_app: ServeApp
) -> None:
    property_id = unique_property_id("sse")
    roster = tmp_path / "staff.json"
    roster.write_text(json.dumps(ROSTER))
    settings = fast_settings(
        property_id, broker_address, tmp_path, 10,
        operator_token=SecretStr(TOKEN), staff_file=roster,
    )  # fmt: skip
    layout = PropertyLayout.generate(property_id, 10)
    app = create_app(settings, SimulatedClock(speed=1.0), layout=layout)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with serve_app(app) as base:
        client = await asyncio.to_thread(
            httpx.AsyncClient, base_url=base, headers=auth, timeout=WAIT_S
        )
        async with client:
            assert (await client.get("/events", params={"staff_id": "nobody"})).status_code == 404
            unauthorised = await client.get("/events", headers={"Authorization": "Bearer x"})
            assert unauthorised.status_code == 401
            for person in ("anna", "ben"):
                answer = await client.post(f"/staff/{person}/duty", json={"on_duty": True})
                assert answer.status_code == 200, answer.text
            async with (
                client.stream("GET", "/events", params={"staff_id": "anna"}) as anna,
                client.stream("GET", "/events") as desk,
            ):
                assert anna.headers["content-type"].startswith("text/event-stream")
                request = {"request_id": "r1", "room_id": "102", "kind": "amenities"}
                created = await client.post("/tasks", json=request)
                assert created.status_code == 201
                task_id = created.json()["id"]
                fault = {"request_id": "r2", "room_id": "103", "kind": "tv_help"}
                other = await client.post("/tasks", json=fault)
                assert other.status_code == 201

                seen: list[tuple[str, Any, Any]] = []
                annas = _events(anna.aiter_lines())  # one reader for the whole stream
                async with asyncio.timeout(WAIT_S):
                    async for name, data in annas:
                        task = data.get("task") or {}
                        seen.append((name, task.get("id"), task.get("staff_id")))
                        if name == "task" and task.get("status") == "assigned":
                            break
                # Anna's feed: her task once it is hers, never Ben's engineering task.
                assert seen[-1] == ("task", task_id, "anna")
                assert all(staff == "anna" for _, _, staff in seen if staff is not None)
                # Anna goes off duty: her feed hears the task was taken from her.
                off = await client.post("/staff/anna/duty", json={"on_duty": False})
                assert off.status_code == 200
                async with asyncio.timeout(WAIT_S):
                    async for name, data in annas:
                        task = data.get("task") or {}
                        if name == "task" and task.get("id") == task_id:
                            assert task.get("staff_id") != "anna"
                            break
                everyone: list[int] = []
                async with asyncio.timeout(WAIT_S):
                    async for name, data in _events(desk.aiter_lines()):
                        if name == "task":
                            everyone.append(data["task"]["id"])
                        if len(set(everyone)) == 2:
                            break
                assert set(everyone) == {task_id, other.json()["id"]}
            # The list a page at a time, and by room.
            page = await client.get("/tasks", params={"limit": 1})
            first = page.json()
            assert page.headers["X-Next-After-Id"] == str(first[0]["id"])
            last_page = await client.get("/tasks", params={"after_id": first[0]["id"]})
            rest = last_page.json()
            assert "X-Next-After-Id" not in last_page.headers
            assert [t["id"] for t in first + rest] == sorted({task_id, other.json()["id"]})
            by_room = (await client.get("/tasks", params={"room_id": "103"})).json()
            assert [t["id"] for t in by_room] == [other.json()["id"]]
            assert (await client.get("/tasks", params={"limit": 0})).status_code == 422
            # The same state on /metrics, for the dashboards.
            metrics = (await client.get("/metrics")).text
            assert "staysync_staff_on_duty 1.0" in metrics  # Ben; Anna went off duty
            open_lines = [m for m in metrics.splitlines() if m.startswith("staysync_tasks_open{")]
            assert sum(float(m.rsplit(" ", 1)[1]) for m in open_lines) == 2.0
            assert any('skill="engineering"' in m for m in open_lines)
            assert 'staysync_tasks_oldest_waiting_seconds{skill="engineering"}' in metrics


async def test_a_handset_signs_in_its_person_and_acts_only_for_them(
    broker_address: BrokerAddress, tmp_path: Path, serve_app: ServeApp
) -> None:
    anna_token, anna_digest = new_handset_token()
    roster = tmp_path / "staff.json"
    roster.write_text(
        json.dumps(
            [
                {"id": "anna", "skills": ["housekeeping"], "token_sha256": anna_digest},
                {"id": "ben", "skills": ["housekeeping"]},
            ]
        )
    )
    property_id = unique_property_id("hand")
    settings = fast_settings(
        property_id, broker_address, tmp_path, 10,
        operator_token=SecretStr(TOKEN), staff_file=roster,
    )  # fmt: skip
    layout = PropertyLayout.generate(property_id, 10)
    app = create_app(settings, SimulatedClock(speed=1.0), layout=layout)
    async with serve_app(app) as base:
        operator = await asyncio.to_thread(
            httpx.AsyncClient,
            base_url=base,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=WAIT_S,
        )
        handset = await asyncio.to_thread(
            httpx.AsyncClient,
            base_url=base,
            headers={"Authorization": f"Bearer {anna_token}"},
            timeout=WAIT_S,
        )
        async with operator, handset:
            # The handset is no operator: rooms and commands are not its business (403,
            # not 401: its token is good, and the handset must not sign its person out).
            assert (await handset.get("/rooms")).status_code == 403
            assert (
                await handset.post("/staff/ben/duty", json={"on_duty": True})
            ).status_code == 403
            assert (
                await handset.post("/staff/anna/duty", json={"on_duty": True})
            ).status_code == 200
            request = {"request_id": "h1", "room_id": "104", "kind": "amenities"}
            task_id = (await handset.post("/tasks", json=request)).json()["id"]
            async with asyncio.timeout(WAIT_S):
                while (task := (await operator.get(f"/tasks/{task_id}")).json())[
                    "status"
                ] != "assigned":
                    await asyncio.sleep(0.05)
            assert task["staff_id"] == "anna"
            as_ben = await handset.post(f"/tasks/{task_id}/accept", json={"staff_id": "ben"})
            assert as_ben.status_code == 403
            assert "signs in anna" in as_ben.json()["detail"]
            mine = await handset.post(f"/tasks/{task_id}/accept", json={"staff_id": "anna"})
            assert mine.status_code == 200, mine.text
            # Someone else's task: a handset may not cancel it, even in its own name.
            other = {"request_id": "h2", "room_id": "105", "kind": "amenities"}
            other_id = (await operator.post("/tasks", json=other)).json()["id"]
            cancel = {"reason": "not mine", "staff_id": "anna"}
            refused = await handset.post(f"/tasks/{other_id}/cancel", json=cancel)
            assert refused.status_code == 403
            assert (await operator.get(f"/tasks/{other_id}")).json()["status"] != "cancelled"
            assert (await handset.get("/events", params={"staff_id": "ben"})).status_code == 403
            wrong = await operator.get("/tasks", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401

            # Least privilege: the handset lists and reads only Anna's tasks.
            nobodys = {"request_id": "h3", "room_id": "106", "kind": "tv_help"}  # no engineer
            nobodys_id = (await operator.post("/tasks", json=nobodys)).json()["id"]
            listed = (await handset.get("/tasks")).json()
            assert task_id in [t["id"] for t in listed]
            assert all(t["staff_id"] == "anna" for t in listed)
            assert (await handset.get(f"/tasks/{nobodys_id}")).status_code == 403
            assert len((await operator.get("/tasks")).json()) > len(listed)
            # Its request ids are its own: reusing the gateway's (or anyone's) neither
            # answers that task nor takes the id from the gateway.
            system = {"request_id": "confirm:R-1001", "room_id": "106", "kind": "tv_help"}
            theirs = (await operator.post("/tasks", json=system)).json()
            probe = await handset.post("/tasks", json={**system, "room_id": "101", "source": "pms"})
            assert probe.status_code == 201, probe.text
            assert probe.json()["id"] != theirs["id"]
            assert probe.json()["request_id"] == "handset:anna:confirm:R-1001"
            assert probe.json()["source"] == "handset"  # whatever it claims
            linked = {**system, "request_id": "l1", "preference_id": "room.quiet"}
            assert (await handset.post("/tasks", json=linked)).status_code == 403
            assert "106" not in probe.text
            again = await operator.post("/tasks", json=system)
            assert (again.status_code, again.json()["id"]) == (200, theirs["id"])
            # Where the others are is not its business either.
            assert [s["staff"]["id"] for s in (await handset.get("/staff")).json()] == ["anna"]
            assert len((await operator.get("/staff")).json()) == 2

            # A lost handset: revoked by the operator at once, its live feed ends.
            assert (await handset.post("/staff/anna/handset/revoke")).status_code == 403
            async with handset.stream("GET", "/events") as feed:
                assert feed.status_code == 200
                revoked = await operator.post("/staff/anna/handset/revoke")
                assert revoked.status_code == 200, revoked.text
                assert revoked.json()["revoked"] is True
                async with asyncio.timeout(WAIT_S):  # at once: Anna goes off duty
                    names = [name async for name, _ in _events(feed.aiter_lines())]
                assert names[-1:] == ["revoked"]
            assert (await handset.get("/tasks")).status_code == 401
            anna = next(
                s for s in (await operator.get("/staff")).json() if s["staff"]["id"] == "anna"
            )
            assert anna["staff"]["on_duty"] is False
            assert (await operator.post("/staff/anna/handset/revoke")).json()["revoked"] is False
            assert (await operator.post("/staff/nobody/handset/revoke")).status_code == 404


async def test_a_revoked_handset_stays_revoked_after_a_restart(tmp_path: Path) -> None:
    old, old_digest = new_handset_token()
    new, new_digest = new_handset_token()
    store = GatewayStore(tmp_path)
    await store.open()
    handsets = Handsets(store, {old_digest: "anna"}, ManualClock())
    assert await handsets.load() == 0
    assert handsets.who(old) == "anna"
    assert (await handsets.revoke("anna")).revoked
    assert handsets.who(old) is None
    await store.close()
    # The roster now also holds Anna's new token; the old one stays refused.
    store = GatewayStore(tmp_path)
    await store.open()
    try:
        again = Handsets(store, {old_digest: "anna", new_digest: "anna"}, ManualClock())
        assert await again.load() == 1
        assert again.who(old) is None
        assert again.who(new) == "anna"
        assert again.who("") is None
    finally:
        await store.close()
