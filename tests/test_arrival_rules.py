"""Arrival rules on a real broker: room moves, cancellations, dormant profiles, restarts.

The PMS events go straight to `ArrivalService.handle` (the HTTP route is covered in
`test_arrival.py`); rooms are simulated, the hotel clock runs 600× real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.api import create_app
from edge.arrival import service
from edge.arrival.learning import RoomLearning
from edge.arrival.room_choice import RecommendationStatus
from edge.arrival.service import PmsRefused
from edge.arrival.stays import StayRecord
from edge.dispatch.model import Skill, Source, Task, TaskStatus
from edge.gateway import Gateway
from edge.persistence import GatewayStore
from edge.profiles import GuestProfiles
from firmware_sim.config import OutdoorConfig, SimConfig, ThermalConfig
from firmware_sim.property import SimulatedProperty
from shared.broker import BrokerAddress
from shared.clock import ManualClock, SimulatedClock
from shared.crypto import open_keyring
from shared.layout import PropertyLayout, Room
from shared.messages import HvacMode
from shared.pms import (
    Cancelled,
    CheckedIn,
    CheckedOut,
    ReservationChanged,
    ReservationCreated,
    RoomMoved,
    StayStatus,
)
from shared.preferences import ObservationKind
from tests.fixtures.http_server import ServeApp
from tests.fixtures.property import WAIT_S, eventually, fast_settings, unique_property_id

DAY = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
H = 3600.0
SIM = SimConfig(
    thermal=ThermalConfig(initial_mode=HvacMode.ECO, initial_setpoint_c=20.0),
    outdoor=OutdoorConfig(mean_c=8.0, daily_amplitude_c=0.0),
)


def at(hours: float) -> float:
    return DAY + hours * H


async def test_moves_cancellations_dormant_profiles_and_a_restart(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    property_id = unique_property_id("rules")
    clock = SimulatedClock(start=at(13), speed=600.0)
    layout = PropertyLayout.generate(property_id, 3)
    settings = fast_settings(property_id, broker_address, tmp_path, 3)
    sim = SimulatedProperty(property_id, layout.room_ids, broker_address, clock, seed=5, config=SIM)
    guest, late = "LOY-7", "LOY-8"
    async with sim:
        await sim.wait_connected(timeout=WAIT_S)
        async with Gateway(settings, clock, layout=layout) as gateway:
            await eventually(lambda: gateway.twin.rooms_complete == 3, "rooms twinned")
            arrivals = gateway.arrivals

            def stay(reservation: str) -> StayRecord:
                record = arrivals.stay(reservation)
                assert record is not None
                return record

            # A guest last in the house seven months ago: their preferences are dormant.
            keyring = open_keyring(settings.keyring_path, settings.environment)
            old = GuestProfiles(
                property_id,
                keyring,
                gateway.profile_store,
                ManualClock(start=at(13) - 210 * 86_400),
                node_id="old-stay",
            )
            await old.record(guest, "room.temperature_c", 23.0, ObservationKind.OBSERVED, "S0")
            await old.record(guest, "bed.pillow", "latex", ObservationKind.OBSERVED, "S0")
            await gateway.profiles.record(
                late, "room.extra_hangers", 4, ObservationKind.DECLARED, "booking"
            )

            now = clock.now()
            await arrivals.handle(
                ReservationCreated(
                    event_id="c1", ts=now, reservation_id="A", loyalty_id=guest,
                    room_id="101", eta=now + 600, nights=2,
                )
            )  # fmt: skip
            await arrivals.handle(
                ReservationCreated(
                    event_id="c2", ts=now, reservation_id="B", loyalty_id=late,
                    room_id="103", eta=now + 1800, nights=1,
                )
            )  # fmt: skip
            await eventually(lambda: bool(stay("A").prep_task_ids), "A's preparation")
            await eventually(lambda: bool(stay("B").prep_task_ids), "B's preparation")
            b_prep = list(stay("B").prep_task_ids)
            await eventually(
                lambda: (p := stay("B").precondition) is not None and p.started_at is not None,
                "B pre-conditioning (an unlearned room starts early)",
            )
            await eventually(
                lambda: sim.room("103").thermostat.mode is HvacMode.AUTO, "103 warming up"
            )

            # B cancels: its room goes to standby, its preparation is withdrawn.
            await arrivals.handle(Cancelled(event_id="c3", ts=clock.now(), reservation_id="B"))
            await eventually(
                lambda: sim.room("103").thermostat.mode is HvacMode.STANDBY, "103 standby"
            )
            assert stay("B").status is StayStatus.CANCELLED
            await eventually(
                lambda: all(gateway.tasks.get(i).status is TaskStatus.CANCELLED for i in b_prep),
                "B's preparation withdrawn",
            )

            # A checks in; the first door opening asks the guest to confirm.
            await arrivals.handle(
                CheckedIn(event_id="c4", ts=clock.now(), reservation_id="A", room_id="101")
            )
            sim.room("101").open_door()
            await eventually(lambda: stay("A").confirmation_task_id is not None, "confirmation")
            assert stay("A").confirm_keys == ["bed.pillow", "room.temperature_c"]
            confirm = gateway.tasks.get(stay("A").confirmation_task_id or 0)
            assert confirm.skill is Skill.FRONT_DESK
            assert "latex" in (confirm.note or "")
            assert confirm.source is Source.PMS
            await eventually(lambda: sim.room("101").setpoint_c == 23.0, "101 at the guest's 23 °C")

            # The next guest of 101 is due soon, but A is still in it: D waits; and the
            # PMS cannot check D in to an occupied room.
            await gateway.profiles.record(
                "LOY-9", "room.temperature_c", 19.0, ObservationKind.DECLARED, "booking"
            )
            await arrivals.handle(
                ReservationCreated(
                    event_id="d1", ts=clock.now(), reservation_id="D", loyalty_id="LOY-9",
                    room_id="101", eta=clock.now() + 1200, nights=1,
                )
            )  # fmt: skip
            await eventually(
                lambda: (p := stay("D").precondition) is not None and p.started_at is not None,
                "D's pre-conditioning due",
            )
            await arrivals.tick()
            assert sim.room("101").setpoint_c == 23.0  # still A's
            assert stay("A").manual is None  # and nothing taken for A's own doing
            with pytest.raises(PmsRefused, match="still occupied by reservation A"):
                await arrivals.handle(
                    CheckedIn(event_id="d2", ts=clock.now(), reservation_id="D", room_id="101")
                )

            # A moves to 102: the new room gets comfort, the old one eco and a make-up.
            await arrivals.handle(
                RoomMoved(
                    event_id="c5", ts=clock.now(), reservation_id="A",
                    from_room_id="101", to_room_id="102",
                )
            )  # fmt: skip
            await eventually(
                lambda: (
                    sim.room("102").thermostat.mode is HvacMode.AUTO
                    and sim.room("102").setpoint_c == 23.0
                ),
                "102 at comfort",
            )
            # 101 is free for D now: D's 19 °C, not eco.
            await eventually(lambda: sim.room("101").setpoint_c == 19.0, "101 ready for D")
            make_up = [t for t in gateway.tasks.tasks() if t.kind == "make_up_room"]
            assert [t.room_id for t in make_up] == ["101"]
            await eventually(lambda: stay("A").prep_room_id == "102", "preparation follows")
            prep = [gateway.tasks.get(i) for i in stay("A").prep_task_ids]
            assert [(t.room_id, t.kind) for t in prep] == [("102", "extra_pillow")]
            withdrawn = [t for t in gateway.tasks.tasks() if t.status is TaskStatus.CANCELLED]
            assert sorted(t.room_id for t in withdrawn) == ["101", "103"]
            assert all(t.request_id.startswith("prep:") for t in withdrawn)
            learning = arrivals.learning
            await eventually(lambda: learning.estimate("101").samples > 0, "101 learned from")
            before = stay("A").model_dump()

        # What was learned is on disk as it was at the close (the rooms keep talking
        # to the next gateway, so it is compared here, before that one starts).
        learned = learning.estimate("101")
        assert learned.samples > 0
        store = GatewayStore(settings.data_dir / property_id)
        await store.open()
        try:
            reloaded = RoomLearning(store)
            assert await reloaded.load() >= 1
            assert reloaded.estimate("101") == learned
        finally:
            await store.close()

        # A restart: the stays come back from the store.
        async with Gateway(settings, clock, layout=layout) as gateway:
            again = gateway.arrivals.stay("A")
            assert again is not None
            assert again.room_id == "102"
            assert again.status is StayStatus.IN_HOUSE
            assert again.confirm_keys == before["confirm_keys"]
            assert again.prep_task_ids == before["prep_task_ids"]


def _room(room_id: str, floor: int, pos: float, kind: str, **kw: object) -> Room:
    return Room(id=room_id, floor=floor, position_m=pos, room_type=kind, **kw)


async def test_room_choice_for_the_days_arrivals_with_a_front_desk_pin(
    broker_address: BrokerAddress, tmp_path: Path, serve_app: ServeApp
) -> None:
    property_id = unique_property_id("choice")
    layout = PropertyLayout(
        property_id=property_id,
        rooms=(
            _room("101", 1, 5, "standard", bed_type="twin"),
            _room("102", 1, 10, "standard", quiet=True),
            _room("103", 1, 15, "standard"),
            _room("104", 1, 20, "standard", quiet=True),
            _room("105", 1, 25, "standard"),
            _room("201", 2, 5, "suite", quiet=True, view="city"),
        ),
    )
    clock = ManualClock(start=at(8))
    settings = fast_settings(property_id, broker_address, tmp_path, 6)
    app = create_app(settings, clock, layout=layout)
    # A long timeout: on a fresh checkout the first solve compiles the numba kernel (~20 s).
    async with serve_app(app) as base, httpx.AsyncClient(base_url=base, timeout=120) as http:
        gateway: Gateway = app.state.gateway
        for loyalty, key, value in (
            ("G-A", "room.quiet", "quiet"),
            ("G-E", "room.quiet", "quiet"),
            ("G-B", "room.bed_type", "twin"),
        ):
            await gateway.profiles.record(loyalty, key, value, ObservationKind.DECLARED, "bk")

        async def post(event: dict[str, object]) -> None:
            answer = await http.post("/pms/events", json=event)
            assert answer.status_code == 200, answer.text

        async def book(rid: str, kind: str, eta_h: float, **kw: object) -> None:
            await post(
                {
                    "kind": "reservation_created", "event_id": f"c-{rid}", "ts": at(8),
                    "reservation_id": rid, "room_type": kind, "eta": at(eta_h), "nights": 1,
                    **kw,
                }
            )  # fmt: skip

        await book("A", "standard", 15, loyalty_id="G-A", loyalty_tier="gold")
        await book("B", "standard", 16, loyalty_id="G-B")
        await book("C", "suite", 14)
        await book("D", "standard", 12)
        await book("E", "standard", 17, loyalty_id="G-E", loyalty_tier="platinum")
        # Room 104 has a guest staying two more nights; 105 is being cleaned until 13:00.
        await post(
            {
                "kind": "reservation_created", "event_id": "c-S", "ts": at(8),
                "reservation_id": "S", "room_id": "104", "eta": at(8), "nights": 3,
            }
        )  # fmt: skip
        await post(
            {
                "kind": "checked_in", "event_id": "i-S", "ts": at(8), "reservation_id": "S",
                "room_id": "104",
            }
        )  # fmt: skip
        mur = {"request_id": "mur-105", "room_id": "105", "kind": "make_up_room", "due_in_s": 5 * H}
        assert (await http.post("/tasks", json=mur)).status_code == 201
        pinned = await http.put("/stays/D/pin", json={"room_id": "103"})
        assert pinned.status_code == 200, pinned.text
        # The pin is where the gateway plans until the PMS assigns a room.
        stay_d = (await http.get("/stays/D")).json()
        assert stay_d["pinned_room_id"] == "103"
        async with asyncio.timeout(WAIT_S):
            while (stay_d := (await http.get("/stays/D")).json())["precondition"] is None:
                await asyncio.sleep(0.05)
        assert stay_d["precondition"]["room_id"] == "103"
        assert (await http.put("/stays/S/pin", json={"room_id": "101"})).status_code == 409
        assert (await http.put("/stays/nope/pin", json={"room_id": "101"})).status_code == 404

        answer = await http.get("/arrivals/rooms", params={"day": "2026-03-02"})
        assert answer.status_code == 200, answer.text
        chosen = {r["reservation_id"]: r["room_id"] for r in answer.json()}
        # The suite for C; the desk's pin for D; the only free quiet room to platinum E
        # though gold A asked first; the twin for B; A gets 105, ready by 13:00.
        assert chosen == {"A": "105", "B": "101", "C": "201", "D": "103", "E": "102"}
        by_id = {r["reservation_id"]: r for r in answer.json()}
        assert by_id["A"]["missed"]
        assert by_id["E"]["fit"] == 1.0
        assert "104" not in chosen.values()
        assert (await http.get("/arrivals/rooms", params={"day": "2026-03-03"})).json() == []

        # Six hours before its ETA, C's suite is held and readied (the planner ticked on
        # the PMS events): the front desk sees it.
        async with asyncio.timeout(WAIT_S):
            while (await http.get("/stays/C")).json()["held_room_id"] is None:
                await asyncio.sleep(0.05)
        listed = {r["reservation_id"]: r for r in (await http.get("/arrivals/rooms")).json()}
        assert (listed["C"]["status"], listed["C"]["room_id"]) == ("held", "201")
        assert "being readied" in listed["C"]["reason"]


async def test_a_booking_of_a_room_type_gets_its_recommended_room_held_and_readied(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    property_id = unique_property_id("hold")
    layout = PropertyLayout(
        property_id=property_id,
        rooms=(
            _room("101", 1, 5, "standard", bed_type="twin"),
            _room("102", 1, 10, "standard", quiet=True),
            _room("103", 1, 15, "standard"),
            _room("201", 2, 5, "suite"),
        ),
    )
    clock = ManualClock(start=at(8))
    settings = fast_settings(property_id, broker_address, tmp_path, 4)
    async with Gateway(settings, clock, layout=layout) as gateway:
        arrivals = gateway.arrivals
        await gateway.profiles.record("G-Q", "room.quiet", "quiet", ObservationKind.DECLARED, "b")
        await gateway.profiles.record("G-T", "room.bed_type", "twin", ObservationKind.DECLARED, "b")
        for rid, kind, eta_h, loyalty in (
            ("A", "standard", 15, "G-Q"),
            ("B", "standard", 17, "G-T"),
            ("C", "suite", 14, None),
        ):
            await arrivals.handle(
                ReservationCreated(
                    event_id=f"c-{rid}", ts=at(8), reservation_id=rid, room_type=kind,
                    eta=at(eta_h), nights=1, loyalty_id=loyalty,
                )
            )  # fmt: skip

        def held() -> dict[str, str | None]:
            return {r.reservation_id: r.held_room_id for r in arrivals.stays()}

        await arrivals.tick()  # 08:00: only C (14:00) is within six hours
        assert held() == {"A": None, "B": None, "C": "201"}
        await clock.advance(1.5 * H)
        await arrivals.tick()  # 09:30: A (15:00) too, in the day's optimum (quiet 102)
        assert held() == {"A": "102", "B": None, "C": "201"}
        stay_a = arrivals.stay("A")
        assert stay_a is not None
        assert stay_a.planned_room_id == "102"
        assert any("102 held" in n for n in stay_a.notes)
        # Readied: the planner works in the held room (pre-conditioning is planned there).
        assert stay_a.precondition is not None
        assert stay_a.precondition.room_id == "102"
        rooms = {r.reservation_id: r for r in await arrivals.recommend_rooms()}
        assert (rooms["A"].status, rooms["A"].room_id) == (RecommendationStatus.HELD, "102")
        assert (rooms["B"].status, rooms["B"].room_id) == (RecommendationStatus.RECOMMENDED, "101")

        # The PMS gives A room 103: its hold goes. It gives B the suite C holds: C's
        # hold goes too, and with no suite left, nothing is held for C.
        await arrivals.handle(
            ReservationChanged(
                event_id="m-A", ts=at(9.5), reservation_id="A", room_id="103", eta=at(15),
                nights=1, loyalty_id="G-Q",
            )
        )  # fmt: skip
        await arrivals.handle(
            ReservationChanged(
                event_id="m-B", ts=at(9.5), reservation_id="B", room_id="201", eta=at(17),
                nights=1, loyalty_id="G-T",
            )
        )  # fmt: skip
        await arrivals.tick()
        assert held() == {"A": None, "B": None, "C": None}
        stay_c = arrivals.stay("C")
        assert stay_c is not None
        assert any("201 no longer held" in n for n in stay_c.notes)
        # The desk's pin replaces a hold.
        await clock.advance(2 * H)
        await arrivals.tick()
        assert held()["C"] is None  # still no suite
        await arrivals.pin_room("C", "102")
        assert arrivals.stay("C").planned_room_id == "102"  # type: ignore[union-attr]


async def test_holds_keep_to_other_stays_nights_and_to_each_other(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    """Found in review: a room booked from tomorrow was held and dropped at every tick
    (its preparation cancelled and never re-issued); two arrivals across midnight, and a
    no-show the PMS never reported, all held the one free room."""
    property_id = unique_property_id("holds")
    layout = PropertyLayout(
        property_id=property_id,
        rooms=(_room("101", 1, 5, "standard"), _room("102", 1, 10, "standard")),
    )
    clock = ManualClock(start=at(10))
    settings = fast_settings(property_id, broker_address, tmp_path, 2)
    async with Gateway(settings, clock, layout=layout) as gateway:
        arrivals = gateway.arrivals
        await gateway.profiles.record(
            "G-M", "room.magazine", "the_economist", ObservationKind.DECLARED, "b"
        )
        for event in (
            ReservationCreated(
                event_id="g1", ts=at(7), reservation_id="G", room_id="102", eta=at(7), nights=3
            ),
            CheckedIn(event_id="g2", ts=at(7.5), reservation_id="G", room_id="102"),
            # 101 is booked from tomorrow 15:00: free for tonight.
            ReservationCreated(
                event_id="f1", ts=at(8), reservation_id="F", room_id="101", eta=at(39),
                nights=1,
            ),
            ReservationCreated(
                event_id="t1", ts=at(8), reservation_id="T", room_type="standard", eta=at(13),
                nights=1, loyalty_id="G-M",
            ),
        ):  # fmt: skip
            await arrivals.handle(event)
        for _ in range(4):
            await arrivals.tick()
            await clock.advance(60)
        stay = arrivals.stay("T")
        assert stay is not None
        assert stay.held_room_id == "101"
        assert not any("no longer held" in n for n in stay.notes)
        assert [gateway.tasks.get(i).status for i in stay.prep_task_ids] == [TaskStatus.NEW]

        # 20:00: T checked in; one arrival at 23:00, one at 01:00, and yesterday's
        # booking that never came: only the first gets the one room left.
        await arrivals.handle(
            CheckedIn(event_id="t2", ts=at(13), reservation_id="T", room_id="101")
        )
        await clock.advance(at(20) - clock.now())
        for evening in (
            ReservationCreated(
                event_id="y1", ts=at(-20), reservation_id="Y", room_type="standard", eta=at(-4),
                nights=1,
            ),
            ReservationCreated(
                event_id="a1", ts=at(20), reservation_id="T1", room_type="standard",
                eta=at(23), nights=1,
            ),
            ReservationCreated(
                event_id="b1", ts=at(20), reservation_id="T2", room_type="standard",
                eta=at(25), nights=1,
            ),
            CheckedOut(event_id="g3", ts=at(20), reservation_id="G"),
        ):  # fmt: skip
            await arrivals.handle(evening)
        await arrivals.tick()
        held = {r.reservation_id: r.held_room_id for r in arrivals.stays()}
        assert (held["T1"], held["T2"], held["Y"]) == ("102", None, None)


async def test_a_longer_stay_is_not_recommended_a_room_booked_for_its_later_nights(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    """The quiet room it wishes for is free tonight but booked from tomorrow: a three-night
    guest gets another room held, not that one recommended for ever and never held."""
    property_id = unique_property_id("nights")
    layout = PropertyLayout(
        property_id=property_id,
        rooms=(_room("101", 1, 5, "standard", quiet=True), _room("102", 1, 10, "standard")),
    )
    clock = ManualClock(start=at(10))
    settings = fast_settings(property_id, broker_address, tmp_path, 2)
    async with Gateway(settings, clock, layout=layout) as gateway:
        arrivals = gateway.arrivals
        await gateway.profiles.record("G-Q", "room.quiet", "quiet", ObservationKind.DECLARED, "b")
        for event in (
            ReservationCreated(
                event_id="f1", ts=at(8), reservation_id="F", room_id="101", eta=at(39),
                nights=1,
            ),
            ReservationCreated(
                event_id="m1", ts=at(8), reservation_id="M", room_type="standard", eta=at(14),
                nights=3, loyalty_id="G-Q",
            ),
        ):  # fmt: skip
            await arrivals.handle(event)
        await arrivals.tick()
        stay = arrivals.stay("M")
        assert stay is not None
        assert stay.held_room_id == "102"
        rooms = {r.reservation_id: r for r in await arrivals.recommend_rooms()}
        assert rooms["M"].missed  # the quiet wish, which no room free for all three nights meets


@asynccontextmanager
async def _two_live_rooms(
    label: str, broker_address: BrokerAddress, tmp_path: Path, config: SimConfig, **settings: Any
) -> AsyncIterator[tuple[SimulatedClock, SimulatedProperty, Gateway]]:
    """Two simulated rooms on the real broker and a gateway that has twinned them, at
    13:00 on a clock 60 times real time."""
    property_id = unique_property_id(label)
    clock = SimulatedClock(start=at(13), speed=60.0)
    layout = PropertyLayout.generate(property_id, 2)
    gateway_settings = fast_settings(property_id, broker_address, tmp_path, 2, **settings)
    async with SimulatedProperty(
        property_id, layout.room_ids, broker_address, clock, seed=5, config=config
    ) as sim:
        await sim.wait_connected(timeout=WAIT_S)
        async with Gateway(gateway_settings, clock, layout=layout) as gateway:
            await eventually(lambda: gateway.twin.rooms_complete == 2, "rooms twinned")
            yield clock, sim, gateway


async def test_a_command_lost_to_an_offline_room_is_sent_again(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with _two_live_rooms(
        "resend", broker_address, tmp_path, SIM, command_timeout_s=1.0
    ) as live:
        clock, sim, gateway = live
        await sim.room("102").crash()  # the controller is down when the plan starts
        now = clock.now()
        await gateway.arrivals.handle(
            ReservationCreated(
                event_id="r1", ts=now, reservation_id="R", room_id="102",
                eta=now + 900, nights=1,
            )
        )  # fmt: skip
        record = gateway.arrivals.stay("R")
        assert record is not None
        await eventually(
            lambda: any("command in 102 failed" in n for n in record.notes),
            "the lost command noticed",
        )
        await sim.room("102").reconnect()
        await eventually(
            lambda: sim.room("102").thermostat.mode is HvacMode.AUTO,
            "pre-conditioning once the room is back",
        )


async def test_a_thermostat_that_refuses_standby_gets_eco_and_the_stay_settles(
    broker_address: BrokerAddress, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "STANDBY_RETRY_S", 300.0)  # five hotel minutes, not a day
    older = SimConfig(
        thermal=ThermalConfig(
            initial_mode=HvacMode.AUTO, modes=frozenset(HvacMode) - {HvacMode.STANDBY}
        ),
        outdoor=OutdoorConfig(mean_c=8.0, daily_amplitude_c=0.0),
    )
    async with _two_live_rooms("oldfw", broker_address, tmp_path, older) as live:
        clock, sim, gateway = live
        now = clock.now()
        for event in (
            ReservationCreated(
                event_id="o1", ts=now, reservation_id="O", room_id="101", eta=now,
                nights=1,
            ),
            CheckedIn(event_id="o2", ts=now, reservation_id="O", room_id="101"),
            CheckedOut(event_id="o3", ts=now + 1, reservation_id="O"),
        ):  # fmt: skip
            await gateway.arrivals.handle(event)
        record = gateway.arrivals.stay("O")
        assert record is not None
        await eventually(
            lambda: any("refused standby" in n for n in record.notes), "the refusal seen"
        )
        await eventually(lambda: sim.room("101").thermostat.mode is HvacMode.ECO, "eco")
        await eventually(
            lambda: record.intent is not None and record.intent.mode is HvacMode.ECO,
            "eco is what the gateway wants of it now",
        )
        sent = len([n for n in record.notes if "refused standby" in n])
        await gateway.arrivals.tick()
        await gateway.arrivals.tick()
        assert len([n for n in record.notes if "refused standby" in n]) == sent
        # Updated firmware: asked again once the retry time is up, it takes standby.
        sim.room("101").update_thermostat_firmware(frozenset(HvacMode))
        await eventually(
            lambda: sim.room("101").thermostat.mode is HvacMode.STANDBY,
            "standby once the thermostat takes it",
        )


async def test_an_ended_stay_asks_a_thermostat_gone_for_hours_only_now_and_then(
    broker_address: BrokerAddress, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every failed ask is a command and a note: after `GIVE_UP_AFTER_S` of failures an
    ended stay asks only every `RECHECK_S`, and sets the room back once it answers."""
    monkeypatch.setattr(service, "GIVE_UP_AFTER_S", 120.0)  # hotel seconds, not hours
    monkeypatch.setattr(service, "RECHECK_S", 240.0)
    async with _two_live_rooms(
        "gone", broker_address, tmp_path, SIM, command_timeout_s=1.0
    ) as live:
        clock, sim, gateway = live
        now = clock.now()
        for event in (
            ReservationCreated(
                event_id="g1", ts=now, reservation_id="G", room_id="102", eta=now,
                nights=1,
            ),
            CheckedIn(event_id="g2", ts=now, reservation_id="G", room_id="102"),
        ):  # fmt: skip
            await gateway.arrivals.handle(event)
        await sim.room("102").crash()
        await gateway.arrivals.handle(CheckedOut(event_id="g3", ts=clock.now(), reservation_id="G"))
        record = gateway.arrivals.stay("G")
        assert record is not None
        await eventually(lambda: any("not answering" in n for n in record.notes), "resting", 30.0)
        # Resting: no command for a while, though the ticks go on.
        rested_at = clock.now()
        asked = sum("failed" in n for n in record.notes)
        assert record.intent is not None
        command = record.intent.command_id
        await clock.sleep(150.0)
        assert clock.now() - rested_at < 240.0
        assert sum("failed" in n for n in record.notes) == asked
        assert record.intent is not None
        assert record.intent.command_id == command  # nothing sent meanwhile
        # Back: at the next ask the room takes its setback and the stay rests for good.
        await sim.room("102").reconnect()
        await eventually(
            lambda: sim.room("102").thermostat.mode is HvacMode.STANDBY,
            "the setback once the thermostat answers",
            30.0,
        )
        assert not any("refused standby" in n for n in record.notes)


async def test_stays_that_ended_long_ago_are_forgotten(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    clock = ManualClock(start=at(9))
    settings = fast_settings(unique_property_id("prune"), broker_address, tmp_path, 2)
    async with Gateway(settings, clock) as gateway:
        arrivals = gateway.arrivals
        for event in (
            ReservationCreated(
                event_id="p1", ts=at(9), reservation_id="P", room_id="101", eta=at(10),
                nights=1,
            ),
            CheckedIn(event_id="p2", ts=at(9), reservation_id="P", room_id="101"),
            CheckedOut(event_id="p3", ts=at(9), reservation_id="P"),
            ReservationCreated(
                event_id="q1", ts=at(9), reservation_id="Q", room_id="102", eta=at(9) + 40 * 86_400,
                nights=1,
            ),
        ):  # fmt: skip
            await arrivals.handle(event)
        await arrivals.tick()
        assert arrivals.stay("P") is not None
        await clock.advance(31 * 86_400)
        await arrivals.tick()
        assert arrivals.stay("P") is None
        assert arrivals.stay("Q") is not None  # a booking far ahead is not an ended stay
    async with Gateway(settings, clock) as gateway:
        assert [s.reservation_id for s in gateway.arrivals.stays()] == ["Q"]


async def test_the_guests_usual_evening_drink_is_offered_before_they_call(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    """Warm milk at 23:00 in Shanghai: in Hangzhou it is offered at 22:45."""
    clock = ManualClock(start=at(20))
    settings = fast_settings(unique_property_id("offer"), broker_address, tmp_path, 2)
    async with Gateway(settings, clock) as gateway:
        arrivals = gateway.arrivals
        await gateway.profiles.record(
            "LOY-MILK", "dining.evening_drink", "warm_milk", ObservationKind.NOTED, "sh-1",
            time(23, 0),
        )  # fmt: skip
        for event in (
            ReservationCreated(
                event_id="m1", ts=at(20), reservation_id="M", loyalty_id="LOY-MILK",
                room_id="101", eta=at(20), nights=2,
            ),
            CheckedIn(event_id="m2", ts=at(20), reservation_id="M", room_id="101"),
        ):  # fmt: skip
            await arrivals.handle(event)

        def offers() -> list[Task]:
            return [t for t in gateway.tasks.tasks() if t.source is Source.PREDICTOR]

        await clock.advance(2.5 * H)  # 22:30: not yet
        await arrivals.tick()
        assert offers() == []
        await clock.advance(0.25 * H)  # 22:45
        await arrivals.tick()
        (offer,) = offers()
        assert (offer.kind, offer.room_id, offer.preference_id) == (
            "drink",
            "101",
            "dining.evening_drink",
        )
        assert "warm milk at 23:00" in (offer.note or "")
        assert offer.due_at == at(23)
        await clock.advance(0.1 * H)
        await arrivals.tick()
        assert len(offers()) == 1  # once an evening
