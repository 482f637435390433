"""How fast a simulated property comes up, and what it costs at steady state.

    python -m bench.sim_scale --rooms 3000 --speed 60 --steady 30

Starts a private mosquitto (or uses --broker), runs the simulator in this process,
and reports: the time until every room is connected and the broker acknowledged its
whole retained state; a check that the broker really holds all of it; then process
CPU% and RSS (and mosquitto's CPU%) over a steady-state window.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import psutil

from firmware_sim import BehaviourConfig, SimConfig, SimulatedProperty, room_ids
from firmware_sim.mqtt import connect
from shared.broker import BrokerAddress
from shared.clock import SimulatedClock
from shared.messages import Inbound, decode
from shared.topics import subscription
from tests.fixtures.mosquitto import Mosquitto

RETAINED_QUIET_S = 1.0  # the retained flood is over once nothing arrives for this long


async def count_retained(broker: BrokerAddress, property_id: str) -> tuple[int, int, float]:
    """(retained messages, of which decodable, seconds to receive them) via a fresh subscriber."""
    received: list[tuple[str, bytes]] = []
    last = asyncio.Event()

    def on_message(topic: str, payload: bytes, retained: bool) -> None:
        if retained:
            received.append((topic, payload))
            last.set()

    connection = await connect(
        broker.host,
        broker.port,
        f"bench-counter-{os.getpid()}",
        will=None,
        keepalive_s=60,
        on_message=on_message,
        timeout_s=10,
    )
    started = time.perf_counter()
    connection.subscribe(subscription(property_id), qos=0)
    while True:
        last.clear()
        try:
            async with asyncio.timeout(RETAINED_QUIET_S):
                await last.wait()
        except TimeoutError:
            break
    elapsed = time.perf_counter() - started - RETAINED_QUIET_S
    await connection.disconnect()
    valid = sum(isinstance(decode(topic, payload), Inbound) for topic, payload in received)
    return len(received), valid, elapsed


async def run(args: argparse.Namespace, broker: BrokerAddress, broker_pid: int | None) -> None:
    me = psutil.Process()
    mosq = psutil.Process(broker_pid) if broker_pid else None
    property_id = f"bench{os.getpid()}"
    config = SimConfig(behaviour=BehaviourConfig(enabled=args.behaviour))
    clock = SimulatedClock(speed=args.speed)
    cpu0 = me.cpu_times()
    started = time.perf_counter()
    prop = SimulatedProperty(property_id, room_ids(args.rooms), broker, clock, config=config)
    built = time.perf_counter() - started
    async with prop:
        await prop.wait_connected(timeout=120)
        ready = time.perf_counter() - started
        cpu1 = me.cpu_times()
        devices = len(config.devices)
        expected = args.rooms * (2 + devices)
        print(
            f"rooms={args.rooms}: built in {built:.2f} s; all connected and {expected} retained "
            f"messages acknowledged {ready:.2f} s after start "
            f"(sim CPU {cpu1.user + cpu1.system - cpu0.user - cpu0.system:.2f} s)"
        )
        count, valid, took = await count_retained(broker, property_id)
        print(f"broker holds {count} retained messages ({valid} valid), read back in {took:.2f} s")

        await asyncio.sleep(args.warmup)
        cpu_a, mosq_a, wall_a = me.cpu_times(), mosq.cpu_times() if mosq else None, time.time()
        await asyncio.sleep(args.steady)
        cpu_b, mosq_b, wall_b = me.cpu_times(), mosq.cpu_times() if mosq else None, time.time()
        wall = wall_b - wall_a
        sim_cpu = (cpu_b.user + cpu_b.system - cpu_a.user - cpu_a.system) / wall * 100
        line = (
            f"steady state over {wall:.0f} s at {args.speed:g}x: "
            f"sim CPU {sim_cpu:.1f}% of one core, "
            f"RSS {me.memory_info().rss / 2**20:.0f} MiB"
        )
        if mosq_a is not None and mosq_b is not None and mosq is not None:
            mosq_cpu = (mosq_b.user + mosq_b.system - mosq_a.user - mosq_a.system) / wall * 100
            line += f"; mosquitto CPU {mosq_cpu:.1f}%, RSS {mosq.memory_info().rss / 2**20:.0f} MiB"
        print(line)
        print(f"summary: {prop.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=3000)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="real seconds before measuring")
    parser.add_argument("--steady", type=float, default=30.0, help="real seconds measured")
    parser.add_argument("--behaviour", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--broker", help="use this broker instead of starting mosquitto")
    args = parser.parse_args()
    if args.broker:
        asyncio.run(run(args, BrokerAddress.parse(args.broker), None))
        return
    with tempfile.TemporaryDirectory(prefix="staysync-bench-") as tmp:
        broker = Mosquitto(Path(tmp), persistence=False)
        broker.start()
        try:
            assert broker.proc is not None
            asyncio.run(run(args, BrokerAddress.parse(broker.url), broker.proc.pid))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
