"""The gateway's HTTP API over real HTTP (uvicorn), with rooms on a real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from pydantic import SecretStr

from edge.api import create_app
from firmware_sim.property import SimulatedProperty
from shared.broker import BrokerAddress
from shared.clock import SimulatedClock
from shared.layout import PropertyLayout
from tests.fixtures.http_server import ServeApp
from tests.fixtures.property import WAIT_S, fast_settings, unique_property_id

TOKEN = "test-operator-token"


async def test_rooms_commands_health_and_metrics(
    broker_address: BrokerAddress, tmp_path: Path, serve_app: ServeApp
) -> None:
    property_id = unique_property_id("api")
    clock = SimulatedClock(speed=60.0)
    layout = PropertyLayout.generate(property_id, 3)
    settings = fast_settings(
        property_id, broker_address, tmp_path, 3, operator_token=SecretStr(TOKEN)
    )
    app = create_app(settings, clock, layout=layout)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        serve_app(app) as base,
        httpx.AsyncClient(base_url=base, headers=auth, timeout=15) as http,
        SimulatedProperty(property_id, layout.room_ids, broker_address, clock) as sim,
    ):
        async with asyncio.timeout(WAIT_S):
            while (health := (await http.get("/health")).json())["rooms_complete"] < 3:
                await asyncio.sleep(0.05)
        assert health["broker_connected"] is True
        assert health["status"] == "ok"

        rooms = (await http.get("/rooms")).json()
        assert [r["room_id"] for r in rooms] == ["101", "102", "103"]
        assert all(r["online"] and r["temperature_c"] is not None for r in rooms)

        answer = await http.post(
            "/rooms/102/commands?wait=true",
            json={"device": "thermostat", "params": {"mode": "heat", "setpoint_c": 23}},
        )
        assert answer.status_code == 200, answer.text
        command = answer.json()
        assert command["status"] == "acked"
        assert (await http.get(f"/commands/{command['id']}")).json()["status"] == "acked"
        room = (await http.get("/rooms/102")).json()
        assert room["setpoint_c"] == 23.0
        assert room["devices"]["thermostat"]["state"]["ack"]["command_id"] == command["id"]

        accepted = await http.post(
            "/rooms/103/commands", json={"device": "curtains", "params": {"position": 0}}
        )
        assert accepted.status_code == 202
        assert accepted.json()["status"] == "pending"

        unknown = await http.post(
            "/rooms/999/commands", json={"device": "lights", "params": {"on": True}}
        )
        assert unknown.status_code == 404
        assert "no room '999'" in unknown.json()["detail"]
        bad = await http.post(
            "/rooms/101/commands", json={"device": "thermostat", "params": {"setpoint_c": 80}}
        )
        assert bad.status_code == 422
        assert "setpoint_c" in bad.json()["detail"]
        assert (await http.get("/rooms/999")).status_code == 404
        assert (await http.get("/commands/nope")).status_code == 404
        malformed = await http.post(
            "/rooms/101/commands", content=b"{", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422

        assert (
            await http.get("/rooms", headers={"Authorization": "Bearer wrong"})
        ).status_code == 401
        async with httpx.AsyncClient(base_url=base) as anonymous:
            assert (await anonymous.get("/rooms")).status_code == 401
            assert (await anonymous.get("/health")).status_code == 200  # for load balancers

        sim.room("101").open_door()
        refused = await http.post(
            "/rooms/101/commands?wait=true", json={"device": "door", "params": {"locked": True}}
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["reason"] == "device refused: cannot lock: the door is open"
        metrics = (await http.get("/metrics")).text
        assert 'staysync_mqtt_messages_total{channel="state"}' in metrics
        assert 'staysync_commands_total{outcome="acked"}' in metrics
