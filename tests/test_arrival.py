"""Arrival end to end: PMS events over HTTP, a simulated hotel day on a real broker.

Rooms follow `firmware_sim`'s physics; the gateway knows only what its twin hears (the
rooms' thermostats and the site's weather station) and learns each room from that. The
hotel clock runs 2,500× real time, so the day from 02:00 to 17:30 takes about 25 s;
the six hours before the first booking are the history each room is learned from.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from edge.api import create_app
from edge.arrival.stays import StayRecord
from edge.dispatch.model import Source
from edge.gateway import Gateway
from firmware_sim.config import OutdoorConfig, SimConfig, Span, ThermalConfig
from firmware_sim.property import SimulatedProperty
from shared.broker import BrokerAddress
from shared.clock import SimulatedClock
from shared.layout import PropertyLayout
from shared.messages import HvacMode, LightsState
from shared.preferences import ObservationKind
from shared.topics import Device
from tests.fixtures.http_server import ServeApp
from tests.fixtures.property import WAIT_S, eventually, fast_settings, unique_property_id

OPERATOR = "operator-token-for-tests"
PMS = "pms-token-for-the-tests"
SPEED = 2500.0
DAY = datetime(2026, 7, 14, tzinfo=UTC).timestamp()  # a hot summer day
H = 3600.0


def at(hours: float) -> float:
    return DAY + hours * H


# Vacant rooms sit in eco (cooling above 28 °C) on a 33 °C day: the cycling of the eco
# band is the history the gateway learns each room from. Fast HVAC, so that the
# learned lead time (about 1.5 h from 28 °C) fits the morning.
SIM = SimConfig(
    thermal=ThermalConfig(
        tau_h=Span(low=4.0, high=5.0),
        hvac_rate_c_per_h=Span(low=6.0, high=7.0),
        eco_low_c=17.0,
        eco_high_c=28.0,
        initial_mode=HvacMode.ECO,
        initial_setpoint_c=27.0,
        initial_spread_c=0.5,
    ),
    outdoor=OutdoorConfig(mean_c=33.0, daily_amplitude_c=0.0),
)


async def sleep_until(clock: SimulatedClock, when: float) -> None:
    await clock.sleep_until(when)


def booking(event_id: str, reservation: str, room: str, eta: float, **kw: Any) -> dict[str, Any]:
    return {
        "kind": kw.pop("kind", "reservation_created"),
        "event_id": event_id,
        "ts": kw.pop("ts"),
        "reservation_id": reservation,
        "room_id": room,
        "eta": eta,
        "nights": 1,
        **kw,
    }


async def test_the_room_is_ready_at_the_door_and_saves_energy_when_empty(
    broker_address: BrokerAddress, tmp_path: Path, serve_app: ServeApp
) -> None:
    property_id = unique_property_id("arr")
    clock = SimulatedClock(start=at(2), speed=SPEED)
    layout = PropertyLayout.generate(property_id, 2)
    settings = fast_settings(
        property_id,
        broker_address,
        tmp_path,
        2,
        operator_token=SecretStr(OPERATOR),
        pms_token=SecretStr(PMS),
        vacancy_eco_after_s=900.0,
        arrival_tick_s=60.0,
    )
    app = create_app(settings, clock, layout=layout)
    ops = {"Authorization": f"Bearer {OPERATOR}"}
    pms = {"Authorization": f"Bearer {PMS}"}
    async with (
        serve_app(app) as base,
        httpx.AsyncClient(base_url=base, timeout=15) as http,
        SimulatedProperty(
            property_id, layout.room_ids, broker_address, clock, seed=3, config=SIM
        ) as sim,
    ):
        await sim.wait_connected(timeout=WAIT_S)
        gateway: Gateway = app.state.gateway
        await eventually(lambda: gateway.twin.rooms_complete == 2, "rooms twinned")
        guest, other = "LOY-1001", "LOY-2002"
        await gateway.profiles.record(
            guest, "room.temperature_c", 22.0, ObservationKind.DECLARED, "booking-1"
        )
        await gateway.profiles.record(
            guest, "bed.pillow", "memory_foam", ObservationKind.DECLARED, "booking-1"
        )
        await gateway.profiles.record(
            other, "room.temperature_c", 22.0, ObservationKind.DECLARED, "booking-2"
        )

        # Bad input first: another token, an impossible order, a malformed body.
        created = booking("e1", "R1", "101", at(15), ts=at(6), loyalty_id=guest)
        assert (await http.post("/pms/events", json=created, headers=ops)).status_code == 401
        early = {"kind": "checked_out", "event_id": "x", "ts": at(6), "reservation_id": "R9"}
        refused = await http.post("/pms/events", json=early, headers=pms)
        assert refused.status_code == 409
        assert "unknown reservation" in refused.json()["detail"]
        malformed = await http.post("/pms/events", json={"kind": "checked_in"}, headers=pms)
        assert malformed.status_code == 422
        nowhere = booking("e0", "R0", "999", at(15), ts=at(6))
        refused = await http.post("/pms/events", json=nowhere, headers=pms)
        assert refused.status_code == 409
        assert "room 999 is not in the layout" in refused.json()["detail"]
        millis = booking("e0", "R0", "101", at(15) * 1000, ts=at(6))
        refused = await http.post("/pms/events", json=millis, headers=pms)
        assert refused.status_code == 409
        assert "milliseconds" in refused.json()["detail"]

        # 08:00 — two reservations for 15:00; the second will move to 17:00.
        await sleep_until(clock, at(8))
        answer = await http.post("/pms/events", json=created, headers=pms)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "applied"
        again = await http.post("/pms/events", json=created, headers=pms)
        assert again.json()["outcome"] == "duplicate"
        second = booking("e2", "R2", "102", at(15), ts=at(8), loyalty_id=other)
        assert (await http.post("/pms/events", json=second, headers=pms)).status_code == 200
        out_of_order = {
            "kind": "checked_out",
            "event_id": "e3",
            "ts": at(8),
            "reservation_id": "R2",
        }
        refused = await http.post("/pms/events", json=out_of_order, headers=pms)
        assert refused.status_code == 409
        assert "check-out before check-in" in refused.json()["detail"]

        def stay(reservation: str) -> StayRecord:
            record = gateway.arrivals.stay(reservation)
            assert record is not None
            return record

        await eventually(lambda: stay("R2").precondition is not None, "R2 planned")
        planned_for_15 = stay("R2").precondition
        assert planned_for_15 is not None
        moved = booking(
            "e4", "R2", "102", at(17), ts=at(8.1), loyalty_id=other, kind="reservation_changed"
        )
        assert (await http.post("/pms/events", json=moved, headers=pms)).status_code == 200
        await eventually(
            lambda: (p := stay("R2").precondition) is not None and p.planned_eta == at(17),
            "R2 re-planned for 17:00",
        )
        replanned = stay("R2").precondition
        assert replanned is not None
        assert replanned.start_at - planned_for_15.start_at > 1.5 * H

        # Preparation goes to the dispatcher before the ETA: the pillow of the profile.
        await sleep_until(clock, at(11.5))
        prep = [t for t in gateway.tasks.tasks() if t.room_id == "101" and t.source is Source.PMS]
        assert [t.kind for t in prep] == ["extra_pillow"]
        assert "memory foam" in (prep[0].note or "")
        assert prep[0].due_at <= at(15)

        # 14:55 check-in, 15:00 the door opens.
        await sleep_until(clock, at(14.9))
        check_in = {
            "kind": "checked_in", "event_id": "e5", "ts": at(14.9), "reservation_id": "R1",
            "room_id": "101",
        }  # fmt: skip
        assert (await http.post("/pms/events", json=check_in, headers=pms)).status_code == 200
        await sleep_until(clock, at(15))
        room = sim.room("101")
        assert abs(room.temperature_c - 22.0) <= 0.5, room.temperature_c
        sim.room("101").open_door()
        sim.room("101").motion()

        r1 = stay("R1")
        plan = r1.precondition
        assert plan is not None
        assert plan.started_at is not None
        assert plan.lead_s is not None
        # Learned from the twin, not the prior: close to the room's true physics (which
        # only the test reads), and started no earlier than it needed to.
        learned = gateway.arrivals.learning.estimate("101")
        truth = sim.room("101").thermal_params
        assert learned.samples > 0
        assert learned.confident_for(heating=False)
        assert abs(learned.tau_s / truth.tau_s - 1) < 0.25
        assert abs(learned.cool_rate_c_per_s / truth.hvac_rate_c_per_s - 1) < 0.25
        assert plan.started_at >= at(15) - (plan.lead_s + plan.margin_s) - 120.0
        assert plan.started_at <= at(15) - plan.lead_s
        # Room 102's guest is not due until 17:00: still in eco at 15:00.
        assert sim.room("102").thermostat.mode is HvacMode.ECO

        # The scene on the first door opening; the guest turns the thermostat to 21 °C.
        await eventually(lambda: stay("R1").scene_applied_at is not None, "scene applied")
        lights = sim.room("101")
        await eventually(
            lambda: isinstance(s := lights.state(Device.LIGHTS), LightsState) and s.on,
            "lights on",
        )
        sim.room("101").close_door()
        await sleep_until(clock, at(15.1))
        sim.room("101").guest_sets_thermostat(21.0)
        await eventually(lambda: stay("R1").manual is not None, "the guest's change seen")
        await sleep_until(clock, at(16.5))
        assert sim.room("101").setpoint_c == 21.0  # the guest's change wins

        # 16:30 the guest goes out: eco after 15 minutes, comfort again on return.
        sim.room("101").open_door()
        sim.room("101").set_occupied(False)
        sim.room("101").close_door()
        await sleep_until(clock, at(16.85))
        assert stay("R1").vacant_since is not None
        await eventually(lambda: sim.room("101").thermostat.mode is HvacMode.ECO, "eco while empty")
        await sleep_until(clock, at(17))
        sim.room("101").open_door()
        await eventually(
            lambda: (
                sim.room("101").thermostat.mode is HvacMode.AUTO
                and sim.room("101").setpoint_c == 21.0
            ),
            "comfort at the guest's own setting on return",
        )

        # Room 102 is ready for its moved ETA.
        assert abs(sim.room("102").temperature_c - 22.0) <= 0.5, sim.room("102").temperature_c
        r2 = stay("R2").precondition
        assert r2 is not None
        assert r2.started_at is not None
        assert r2.lead_s is not None
        assert r2.started_at >= at(17) - (r2.lead_s + r2.margin_s) - 120.0

        # 17:10 check-out: standby (the unsold room's deeper setback), make-up-room, and
        # what the guest did goes to the outbox.
        await sleep_until(clock, at(17.15))
        outbox_before = len(await gateway.profile_store.outbox(1000))
        check_out = {
            "kind": "checked_out",
            "event_id": "e6",
            "ts": at(17.15),
            "reservation_id": "R1",
        }
        assert (await http.post("/pms/events", json=check_out, headers=pms)).status_code == 200
        await eventually(lambda: stay("R1").observations_recorded is not None, "observations")
        pseudonym = gateway.profiles.pseudonym(guest)
        observed = [o for o in await gateway.profiles.observations(pseudonym) if o.stay_id == "R1"]
        assert [(o.key, o.value, o.kind) for o in observed] == [
            ("room.temperature_c", 21.0, ObservationKind.OBSERVED)
        ]
        assert len(await gateway.profile_store.outbox(1000)) == outbox_before + 1
        await eventually(
            lambda: sim.room("101").thermostat.mode is HvacMode.STANDBY,
            "standby after check-out",
        )
        make_up = [
            t for t in gateway.tasks.tasks() if t.room_id == "101" and t.kind == "make_up_room"
        ]
        assert len(make_up) == 1

        listed = (await http.get("/stays", headers=ops)).json()
        assert [s["reservation_id"] for s in listed] == ["R1", "R2"]
        assert (await http.get("/stays/R9", headers=ops)).status_code == 404

        # The next guest of 101 arrives at 00:30. Until then the unsold room drifts in
        # standby, past where eco would have stopped it (28.3 °C), and is still ready.
        third = booking("e7", "R3", "101", at(24.5), ts=at(17.3), loyalty_id=other)
        assert (await http.post("/pms/events", json=third, headers=pms)).status_code == 200
        await sleep_until(clock, at(24.5))
        assert abs(sim.room("101").temperature_c - 22.0) <= 0.5, sim.room("101").temperature_c
        r3 = stay("R3").precondition
        assert r3 is not None
        assert r3.started_at is not None
        assert r3.lead_s is not None
        assert r3.room_c is not None
        assert r3.room_c > 28.3, r3.room_c
        assert r3.started_at >= at(24.5) - (r3.lead_s + r3.margin_s) - 120.0
        await asyncio.sleep(0)
