"""`staysync demo`: a simulated hotel, its gateway and a live table, with nothing installed.

An embedded broker (unless `--broker` names one), a property of simulated rooms with
guests coming and going, the gateway twinning every room, and a terminal table of the
rooms. A few seconds in, the demo sets one room's thermostat through the gateway and
shows the command from journaled to acknowledged, and the room's temperature moving.
Then a guest who likes 22 °C and a memory-foam pillow books a room for 90 minutes later:
the gateway plans the preparation and the pre-conditioning, the guest checks in, and the
door opens at the ETA on a room at the guest's temperature.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from edge.commands import CommandRecord, CommandStatus
from edge.dispatch.model import Source
from edge.gateway import Gateway
from edge.settings import EdgeSettings
from edge.twin import RoomTwin
from firmware_sim.config import BehaviourConfig, SimConfig, Span, ThermalConfig
from firmware_sim.property import SimulatedProperty
from shared.broker import BrokerAddress
from shared.clock import SimulatedClock
from shared.layout import PropertyLayout
from shared.messages import DoorState, OccupancyState
from shared.pms import CheckedIn, ReservationCreated
from shared.preferences import ObservationKind
from shared.topics import Device

from .embedded_broker import embedded_broker

PROPERTY_ID = "demo"
REFRESH_PER_S = 4
COMMAND_AFTER_REAL_S = 3.0  # let the table fill before the demo acts
ARRIVAL_AFTER_REAL_S = 5.0
ARRIVAL_IN_S = 90 * 60.0  # hotel time from the booking to the guest at the door
GUEST = "LOY-DEMO-1"
DRINK_AFTER_ETA_S = 30 * 60.0
TABLE_COLUMNS = 2


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    rooms: Annotated[
        int, typer.Option(min=1, max=500, help="rooms of the simulated property")
    ] = 50,
    broker: Annotated[
        str | None, typer.Option(help="mqtt://host:port; default: an embedded broker")
    ] = None,
    speed: Annotated[float, typer.Option(min=1.0, help="hotel seconds per real second")] = 120.0,
    room: Annotated[str, typer.Option(help="the room whose thermostat the demo sets")] = "101",
    setpoint: Annotated[float, typer.Option(min=16.0, max=30.0, help="°C to set")] = 22.0,
    duration: Annotated[
        float, typer.Option(min=0.0, help="stop after this many real seconds (0: at Ctrl-C)")
    ] = 0.0,
) -> None:
    """Run a simulated hotel and its gateway, and watch the rooms live."""
    if broker is not None:
        try:
            BrokerAddress.parse(broker)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--broker") from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(rooms, broker, speed, room, setpoint, duration))


@dataclass
class _Story:
    """What the demo did, for the panel under the table."""

    lines: list[str] = field(default_factory=list)
    record: CommandRecord | None = None
    sent_at: float = 0.0
    done_after_ms: float | None = None
    arrival_room: str | None = None
    eta: float = 0.0
    told: set[str] = field(default_factory=set)  # arrival steps already told


async def run_demo(
    rooms: int,
    broker_url: str | None,
    speed: float,
    room_id: str,
    setpoint: float,
    duration: float,
    console: Console | None = None,
) -> list[str]:
    """Run the demo; returns what it told (for a test to read)."""
    console = console or Console()
    layout = PropertyLayout.generate(PROPERTY_ID, rooms)
    if not layout.has_room(room_id):
        raise typer.BadParameter(f"the demo property has no room {room_id!r}", param_hint="--room")
    clock = SimulatedClock(speed=speed)
    story = _Story()
    async with contextlib.AsyncExitStack() as stack:
        if broker_url is None:
            broker = await stack.enter_async_context(embedded_broker())
            broker_url = f"mqtt://{broker.host}:{broker.port}"
            story.lines.append(f"embedded MQTT broker on {broker}")
        else:
            broker = BrokerAddress.parse(broker_url)
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="staysync-demo-")))
        settings = EdgeSettings(
            property_id=PROPERTY_ID,
            broker_url=broker_url,
            data_dir=data_dir,
            room_count=rooms,
        )
        gateway = await stack.enter_async_context(Gateway(settings, clock, layout=layout))
        # Rooms sized for the day (the simulator's widest spans include HVACs too small
        # to reach 22 °C on an 8 °C day, which the gateway would rightly call unreachable).
        config = SimConfig(
            behaviour=BehaviourConfig(enabled=True),
            thermal=ThermalConfig(
                tau_h=Span(low=4.0, high=8.0), hvac_rate_c_per_h=Span(low=5.0, high=8.0)
            ),
        )
        sim = SimulatedProperty(PROPERTY_ID, layout.room_ids, broker, clock, seed=1, config=config)
        await stack.enter_async_context(sim)
        story.lines.append(f"{rooms} simulated rooms connecting; the gateway twins them")
        started = time.monotonic()
        with Live(
            _render(gateway, clock, story, room_id),
            console=console,
            refresh_per_second=REFRESH_PER_S,
        ) as live:
            while duration == 0 or time.monotonic() - started < duration:
                await asyncio.sleep(1 / REFRESH_PER_S)
                if story.record is None and time.monotonic() - started >= COMMAND_AFTER_REAL_S:
                    await _send(gateway, story, room_id, setpoint)
                await _follow(gateway, story)
                if (
                    story.arrival_room is None
                    and time.monotonic() - started >= ARRIVAL_AFTER_REAL_S
                ):
                    await _book(gateway, clock, story, layout, room_id)
                await _arrival(gateway, sim, clock, story)
                live.update(_render(gateway, clock, story, room_id))
    return story.lines


async def _send(gateway: Gateway, story: _Story, room_id: str, setpoint: float) -> None:
    story.sent_at = time.perf_counter()
    story.record = await gateway.send(
        room_id, "thermostat", {"mode": "auto", "setpoint_c": setpoint}
    )
    story.lines.append(
        f"room {room_id}: thermostat to {setpoint:.1f} °C — command {story.record.id[:8]} "
        "journaled, published on its set topic"
    )


async def _follow(gateway: Gateway, story: _Story) -> None:
    record = story.record
    if record is None or story.done_after_ms is not None:
        return
    final = await gateway.commands.get(record.id)
    if final.status is CommandStatus.PENDING:
        return
    story.done_after_ms = (time.perf_counter() - story.sent_at) * 1000
    if final.status is CommandStatus.ACKED:
        story.lines.append(
            f"room {record.room_id}: acknowledged by the thermostat's state echo after "
            f"{final.attempts} send(s), {story.done_after_ms:.0f} ms"
        )
    else:
        story.lines.append(f"room {record.room_id}: command failed — {final.reason}")


async def _book(
    gateway: Gateway, clock: SimulatedClock, story: _Story, layout: PropertyLayout, busy: str
) -> None:
    """A returning guest books: their profile (sealed at the edge) says 22 °C and a pillow."""
    room = next((r for r in reversed(layout.room_ids) if r != busy), busy)
    for key, value in (("room.temperature_c", 22.0), ("bed.pillow", "memory_foam")):
        await gateway.profiles.record(GUEST, key, value, ObservationKind.DECLARED, "booking")
    now = clock.now()
    story.arrival_room, story.eta = room, now + ARRIVAL_IN_S
    # At another property, staff noted the guest's warm milk, half an hour after this ETA.
    usual = dt.datetime.fromtimestamp(story.eta + DRINK_AFTER_ETA_S, tz=dt.UTC)
    await gateway.profiles.record(
        GUEST, "dining.evening_drink", "warm_milk", ObservationKind.NOTED, "earlier-stay",
        dt.time(usual.hour, usual.minute),
    )  # fmt: skip
    await gateway.arrivals.handle(
        ReservationCreated(
            event_id="demo-booking", ts=now, reservation_id="R-DEMO", loyalty_id=GUEST,
            room_id=room, eta=story.eta, nights=1,
        )
    )  # fmt: skip
    story.lines.append(
        f"PMS: reservation R-DEMO, room {room}, ETA {_hhmm(story.eta)}; the guest's profile "
        f"says 22 °C, a memory-foam pillow, warm milk at {usual:%H:%M}"
    )


async def _arrival(
    gateway: Gateway, sim: SimulatedProperty, clock: SimulatedClock, story: _Story
) -> None:
    """Tell each step of the arrival once, and play the guest's part at the right time."""
    room = story.arrival_room
    stay = gateway.arrivals.stay("R-DEMO")
    if room is None or stay is None:
        return
    now = clock.now()

    def once(step: str, line: str) -> None:
        if step not in story.told:
            story.told.add(step)
            story.lines.append(line)

    pre = stay.precondition
    if stay.prep_task_ids:
        once("prep", f"room {room}: {len(stay.prep_task_ids)} preparation task(s) dispatched")
    if pre is not None and pre.started_at is not None:
        once("start", f"room {room}: pre-conditioning from {_hhmm(pre.started_at)}: {pre.reason}")
    if now >= story.eta - 600 and "checkin" not in story.told:
        await gateway.arrivals.handle(
            CheckedIn(event_id="demo-checkin", ts=now, reservation_id="R-DEMO", room_id=room)
        )
        once("checkin", f"PMS: the guest checks in at {_hhmm(now)}")
    if now >= story.eta and "door" not in story.told:
        sim.room(room).open_door()
        sim.room(room).motion()
        temperature = sim.room(room).temperature_c
        once("door", f"room {room}: the door opens at {_hhmm(now)}; the room is at "
             f"{temperature:.1f} °C (the guest asked for 22 °C)")  # fmt: skip
        sim.room(room).close_door()
    offers = [t for t in gateway.tasks.tasks() if t.source is Source.PREDICTOR]
    if offers:
        once("offer", f"room {room}: {offers[0].note}")


def _hhmm(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%H:%M")


def _render(gateway: Gateway, clock: SimulatedClock, story: _Story, focus: str) -> Group:
    twin = gateway.twin
    hotel_time = dt.datetime.fromtimestamp(clock.now(), tz=dt.UTC).strftime("%H:%M")
    rejected = sum(
        sample.value
        for metric in gateway.metrics.rejected.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    header = (
        f"[b]StaySync demo[/b] · property {gateway.property_id} · hotel time {hotel_time} UTC "
        f"({clock.speed:g}×) · rooms online {twin.rooms_online}/{len(twin.rooms)} · "
        f"twinned {twin.rooms_complete} · broker {'up' if gateway.link.connected else 'DOWN'} · "
        f"dropped messages {rejected:.0f}"
    )
    all_rooms = list(twin)
    per_column = -(-len(all_rooms) // TABLE_COLUMNS)
    tables = [
        _table(all_rooms[i : i + per_column], focus) for i in range(0, len(all_rooms), per_column)
    ]
    events = Panel("\n".join(story.lines[-8:]) or "starting…", title="what the demo did")
    return Group(header, Columns(tables), events)


def _table(rooms: Iterable[RoomTwin], focus: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (
        ("room", "left"),
        ("°C", "right"),
        ("set", "right"),
        ("hvac", "left"),
        ("guest", "left"),
        ("door", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for room in rooms:
        thermostat = room.thermostat
        occupancy = room.state(Device.OCCUPANCY)
        door = room.state(Device.DOOR)
        style = (
            "bold yellow"
            if room.room_id == focus
            else ("dim" if not room.controller_online else "")
        )
        table.add_row(
            room.room_id,
            f"{thermostat.temperature_c:.1f}" if thermostat else "…",
            f"{thermostat.setpoint_c:.1f}" if thermostat else "",
            f"{thermostat.mode}/{thermostat.action}" if thermostat else "",
            ("in" if occupancy.occupied else "out")
            if isinstance(occupancy, OccupancyState)
            else "",
            ("open" if door.open else "closed") if isinstance(door, DoorState) else "",
            style=style,
        )
    return table
