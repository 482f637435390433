"""How fast the gateway takes in a property: throughput, time to twin 3,000 rooms, memory.

Run: ``.venv/bin/python -m bench.ingest`` (needs the mosquitto binary; ``bash .ci/run``
installs it). Everything is measured in one run against one real mosquitto:

1. Throughput: a backlog of N device-state messages is queued at the broker for a
   persistent session, then drained (a) by a raw aiomqtt subscriber that only counts and
   (b) by the gateway, which validates each message and applies it to its twin. The raw
   subscriber is the ceiling that aiomqtt/paho on this machine allows. Goal: >= 0.5x raw.
2. Twinning: the gateway runs while ``staysync sim`` starts 3,000 rooms (~24,000
   devices) in another process; time until every room is online and every device it
   announced has reported its state. Goal: <= 10 s.
3. The gateway's resident memory with 3,000 rooms twinned. Goal: <= 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import psutil
from rich.console import Console
from rich.table import Table

from edge.gateway import Gateway
from edge.settings import EdgeSettings
from shared.clock import WallClock
from shared.layout import PropertyLayout
from shared.messages import HvacAction, HvacMode, ThermostatState, encode
from shared.topics import Channel, Device, RoomTopic, subscription
from tests.fixtures.mosquitto import Mosquitto

POLL_S = 0.005


async def _publish_backlog(broker: Mosquitto, layout: PropertyLayout, count: int) -> None:
    rooms = layout.room_ids
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-publisher") as client:
        for i in range(count):
            room = rooms[i % len(rooms)]
            state = ThermostatState(
                ts=float(i),
                mode=HvacMode.AUTO,
                setpoint_c=22.0,
                temperature_c=20.0 + (i % 50) / 10,
                action=HvacAction.IDLE,
            )
            topic = RoomTopic(layout.property_id, room, Device.THERMOSTAT, Channel.STATE)
            await client.publish(str(topic), encode(state), qos=1)


async def _raw_drain(broker: Mosquitto, layout: PropertyLayout, count: int) -> float:
    """Seconds for a counting-only aiomqtt subscriber to drain `count` queued messages."""
    filters = [(subscription(layout.property_id, channel=Channel.STATE), 1)]
    ident = f"bench-raw-{layout.property_id}"
    async with aiomqtt.Client(broker.host, broker.port, identifier=ident, clean_session=False) as c:
        await c.subscribe(filters)
    await _publish_backlog(broker, layout, count)
    received = 0
    async with aiomqtt.Client(broker.host, broker.port, identifier=ident, clean_session=False) as c:
        start = time.perf_counter()
        async for _ in c.messages:
            received += 1
            if received == count:
                break
        return time.perf_counter() - start


async def _gateway_drain(
    broker: Mosquitto, layout: PropertyLayout, count: int, data: Path
) -> float:
    """Seconds for the gateway to validate and twin `count` queued messages."""
    settings = EdgeSettings(
        property_id=layout.property_id,
        broker_url=broker.url,
        data_dir=data,
        room_count=len(layout.rooms),
    )
    async with Gateway(settings, WallClock(), layout=layout) as gateway:  # creates the session
        await gateway.wait_connected()
    await _publish_backlog(broker, layout, count)
    gateway = Gateway(settings, WallClock(), layout=layout)
    registry = gateway.metrics.registry
    labels = {"channel": "state"}
    start = time.perf_counter()
    async with gateway:
        # Polling a counter costs the gateway nothing; an event per message would.
        while (registry.get_sample_value("staysync_mqtt_messages_total", labels) or 0) < count:
            await asyncio.sleep(POLL_S)
        return time.perf_counter() - start


async def _twin_3000(
    broker: Mosquitto, rooms: int, data: Path
) -> tuple[float, float, float, float]:
    """Seconds from the first room online to every room twinned, seconds the simulator
    process took to start and connect its first room, gateway RSS (MB), sim CPU seconds."""
    layout = PropertyLayout.generate("bench-twin", rooms)
    settings = EdgeSettings(
        property_id=layout.property_id, broker_url=broker.url, data_dir=data, room_count=rooms
    )
    async with Gateway(settings, WallClock(), layout=layout) as gateway:
        await gateway.wait_connected()
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "staysync", "sim",
            "--property", layout.property_id, "--rooms", str(rooms),
            "--broker", broker.url, "--no-behaviour", "--log-level", "WARNING",
            # Real time, as in a hotel: at 60x, 3,000 rooms send ~5,000 telemetry and
            # state messages a second, a load no real property makes.
            "--speed", "1",
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        start = time.perf_counter()
        first: float | None = None
        try:
            while gateway.twin.rooms_complete < rooms or gateway.twin.rooms_online < rooms:
                if sim.returncode is not None:
                    raise RuntimeError(f"the simulator exited with {sim.returncode}")
                if first is None and gateway.twin.rooms_online:
                    first = time.perf_counter()
                await asyncio.sleep(POLL_S)
            end = time.perf_counter()
            elapsed = end - (first or start)
            launch = first - start if first is not None else 0.0
            rss_mb = psutil.Process().memory_info().rss / 2**20
            sim_cpu = sum(psutil.Process(sim.pid).cpu_times()[:2])
        finally:
            sim.terminate()
            await sim.wait()
    return elapsed, launch, rss_mb, sim_cpu


async def main(count: int, rooms: int) -> None:
    console = Console()
    baseline_rss = psutil.Process().memory_info().rss / 2**20
    with (
        tempfile.TemporaryDirectory(prefix="staysync-bench-mqtt-") as tmp,
        tempfile.TemporaryDirectory(prefix="staysync-bench-data-") as data,
    ):
        broker = Mosquitto(Path(tmp), persistence=False)
        broker.start()
        try:
            layout = PropertyLayout.generate("bench-rate", 3000)
            raw_s = await _raw_drain(broker, layout, count)
            gateway_s = await _gateway_drain(broker, layout, count, Path(data) / "rate")
            twin_s, launch_s, rss_mb, sim_cpu = await _twin_3000(broker, rooms, Path(data) / "twin")
        finally:
            broker.stop()

    raw_rate, gw_rate = count / raw_s, count / gateway_s
    table = Table(title=f"Gateway ingest (mosquitto on loopback, {os.cpu_count()} cores)")
    for column in ("measure", "value", "reference", "goal", "met"):
        table.add_column(column)
    table.add_row(
        f"messages/s validated + twinned ({count:,} queued states)",
        f"{gw_rate:,.0f}",
        f"raw aiomqtt subscriber {raw_rate:,.0f}/s (ratio {gw_rate / raw_rate:.2f})",
        ">= 0.5x raw",
        _yes(gw_rate >= 0.5 * raw_rate),
    )
    table.add_row(
        f"{rooms:,} rooms online and fully twinned, from the first room's connection",
        f"{twin_s:.2f} s",
        f"+ {launch_s:.2f} s for the sim process to start; it used {sim_cpu:.1f} CPU s",
        "<= 10 s",
        _yes(twin_s <= 10.0),
    )
    table.add_row(
        f"gateway RSS with {rooms:,} rooms",
        f"{rss_mb:.0f} MB",
        f"{baseline_rss:.0f} MB at bench start (imports)",
        "<= 300 MB",
        _yes(rss_mb <= 300.0),
    )
    console.print(table)


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rooms", type=int, default=3_000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.messages, args.rooms))
