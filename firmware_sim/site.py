"""The property's weather station: the outdoor temperature over MQTT.

A real hotel's building management has an outdoor sensor; the gateway needs its reading
to tell a room's passive drift from the HVAC's work (`edge.arrival.learning`). It
publishes `WeatherTelemetry` on ``staysync/<property>/site/weather/telemetry`` (QoS 0,
like every reading) once per telemetry interval, over its own session whose client and
user name are the reserved room id ``site``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from firmware_sim.config import SimConfig
from firmware_sim.controller import RoomController
from firmware_sim.thermal import OutdoorTemperature
from shared.broker import BrokerAddress
from shared.messages import WeatherTelemetry, encode
from shared.topics import SITE_ID, Channel, Device, RoomTopic

__all__ = ["WeatherStation"]

TELEMETRY_QOS = 0
READING_DECIMALS = 1  # a weather station's resolution


class WeatherStation:
    def __init__(
        self,
        property_id: str,
        broker: BrokerAddress,
        outdoor: OutdoorTemperature,
        config: SimConfig,
        connect_gate: asyncio.Semaphore,
        seed: int = 0,
    ) -> None:
        self._outdoor = outdoor
        self._interval = config.telemetry_interval_s
        self._due: float | None = None
        self._topic = str(RoomTopic(property_id, SITE_ID, Device.WEATHER, Channel.TELEMETRY))
        self._controller = RoomController(
            property_id,
            SITE_ID,
            broker,
            keepalive_s=config.keepalive_real_s,
            connect_gate=connect_gate,
            on_connected=lambda: None,
            on_message=lambda topic, payload, retained: None,
            jitter=random.Random(f"{seed}:{property_id}:site"),
        )
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def start(self, host: str) -> None:
        self._task = asyncio.create_task(self._controller.run(host), name="sim-weather")

    async def stop(self, ts: float) -> None:
        await self._controller.shutdown(ts)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_ready(self) -> None:
        await self._controller.wait_ready()

    def tick(self, now: float) -> None:
        if self._due is not None and now < self._due:
            return
        reading = WeatherTelemetry(ts=now, outdoor_c=round(self._outdoor.at(now), READING_DECIMALS))
        if self._controller.publish(self._topic, encode(reading), qos=TELEMETRY_QOS, retain=False):
            self.published += 1
            self._due = now + self._interval
