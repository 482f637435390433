"""`staysync sim`: run a simulated property against a broker until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from firmware_sim.config import BehaviourConfig, OutdoorConfig, SimConfig
from firmware_sim.faults import Faults
from firmware_sim.property import PropertySummary, SimulatedProperty, room_ids
from shared.broker import BrokerAddress
from shared.clock import SimulatedClock

__all__ = ["register", "run_property"]

log = logging.getLogger(__name__)

# Real seconds: the summary is for the operator watching, whatever the hotel clock speed.
DEFAULT_SUMMARY_EVERY_REAL_S = 10.0
# How long to wait for all rooms before saying that some never came up.
READY_REPORT_TIMEOUT_REAL_S = 300.0
MAX_ROOMS = 10_000  # one connection each; the process's file descriptors are the limit


def register(app: typer.Typer) -> None:
    """Add the `sim` command to the root `staysync` app."""
    app.command("sim", help="Run a simulated property: one MQTT room controller per room.")(sim)


def sim(
    property_id: Annotated[str, typer.Option("--property", help="Property id in the topics.")],
    rooms: Annotated[int, typer.Option(min=1, max=MAX_ROOMS, help="Number of rooms.")] = 40,
    broker: Annotated[str, typer.Option(help="mqtt://[user[:password]@]host[:port]")] = (
        "mqtt://127.0.0.1:1883"
    ),
    speed: Annotated[float, typer.Option(min=0.001, help="Hotel seconds per real second.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    drop_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of commands ignored.")
    ] = 0.0,
    delay_s: Annotated[
        float, typer.Option(min=0.0, help="Hotel seconds before a command is answered.")
    ] = 0.0,
    duplicate: Annotated[bool, typer.Option(help="Publish every state twice.")] = False,
    malformed_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Chance per room and step of a garbage message.")
    ] = 0.0,
    outdoor_c: Annotated[float, typer.Option(min=-40.0, max=50.0, help="Mean outdoor °C.")] = 8.0,
    outdoor_swing_c: Annotated[
        float, typer.Option(min=0.0, max=20.0, help="Daily outdoor amplitude, °C.")
    ] = 0.0,
    behaviour: Annotated[bool, typer.Option(help="Random guests come and go.")] = True,
    summary_every: Annotated[
        float, typer.Option(min=0.1, help="Real seconds between summary lines.")
    ] = DEFAULT_SUMMARY_EVERY_REAL_S,
    duration: Annotated[
        float, typer.Option(min=0.0, help="Stop after this many real seconds (0: at Ctrl-C).")
    ] = 0.0,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    try:
        address = BrokerAddress.parse(broker)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--broker") from None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = SimConfig(
        outdoor=OutdoorConfig(mean_c=outdoor_c, daily_amplitude_c=outdoor_swing_c),
        behaviour=BehaviourConfig(enabled=behaviour),
    )
    faults = Faults(
        drop_rate=drop_rate, delay_s=delay_s, duplicate=duplicate, malformed_rate=malformed_rate
    )
    try:
        summary = asyncio.run(
            run_property(
                property_id,
                room_ids(rooms),
                address,
                SimulatedClock(speed=speed),
                seed=seed,
                config=config,
                faults=faults,
                summary_every_s=summary_every,
                duration_s=duration,
            )
        )
    except KeyboardInterrupt:
        typer.echo("stopped")
        return
    typer.echo(f"stopped: {summary}")


async def run_property(
    property_id: str,
    rooms: list[str],
    broker: BrokerAddress,
    clock: SimulatedClock,
    *,
    seed: int,
    config: SimConfig,
    faults: Faults,
    summary_every_s: float,
    duration_s: float,
) -> PropertySummary:
    """Run until cancelled, or for `duration_s` real seconds if positive; log a summary
    line every `summary_every_s` real seconds; return the last summary."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    prop = SimulatedProperty(property_id, rooms, broker, clock, seed=seed, config=config)
    for name in ("drop_rate", "delay_s", "duplicate", "malformed_rate"):
        setattr(prop.faults, name, getattr(faults, name))
    async with prop:
        ready_report = asyncio.create_task(_report_ready(prop, started))
        try:
            deadline = loop.time() + duration_s if duration_s > 0 else None
            while deadline is None or loop.time() < deadline:
                pause = summary_every_s if deadline is None else deadline - loop.time()
                await asyncio.sleep(min(summary_every_s, max(0.0, pause)))
                hotel_time = datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds")
                log.info("property %s at %s: %s", property_id, hotel_time, prop.summary())
            return prop.summary()
        finally:
            ready_report.cancel()
            await asyncio.gather(ready_report, return_exceptions=True)


async def _report_ready(prop: SimulatedProperty, started: float) -> None:
    try:
        await prop.wait_connected(READY_REPORT_TIMEOUT_REAL_S)
    except TimeoutError as exc:
        log.warning("%s", exc)
        return
    log.info(
        "property %s: all %d rooms online, retained state acknowledged, in %.2f s",
        prop.property_id,
        len(prop.rooms),
        time.perf_counter() - started,
    )
