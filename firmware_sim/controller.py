"""One room controller's MQTT session: connect with a last will, stay up, crash on demand.

The session knows nothing about devices: on every (re)connect it subscribes to the
room's commands and calls `on_connected`, through which the room republishes its whole
retained state; it is *ready* once the broker acknowledged all of that.

Network timings here are real seconds, not hotel time: the broker measures keepalive
and connection attempts by its own clock, whatever speed the hotel clock runs at, and
a ManualClock that never moves must not stop a controller from reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from firmware_sim.mqtt import (
    ConnectionLost,
    MessageHandler,
    MqttConnection,
    MqttError,
    Will,
    connect,
)
from shared.broker import BrokerAddress
from shared.messages import Status, StatusMessage, encode
from shared.topics import Channel, Device, RoomTopic, subscription

__all__ = ["RoomController"]

log = logging.getLogger(__name__)

ROOM_USER = "room"

CONNECT_TIMEOUT_REAL_S = 10.0
RECONNECT_MIN_REAL_S = 0.2
RECONNECT_MAX_REAL_S = 10.0
# How long a clean shutdown waits for the broker to acknowledge the offline status.
SHUTDOWN_ACK_TIMEOUT_REAL_S = 5.0
STATE_QOS = 1  # retained state and status: the broker must have them
COMMAND_QOS = 1


class RoomController:
    """The MQTT session of one room; `run` keeps it up until cancelled."""

    def __init__(
        self,
        property_id: str,
        room_id: str,
        broker: BrokerAddress,
        *,
        keepalive_s: int,
        connect_gate: asyncio.Semaphore,
        on_connected: Callable[[], None],
        on_message: MessageHandler,
        jitter: random.Random,
    ) -> None:
        self.property_id = property_id
        self.room_id = room_id
        self._broker = broker
        self._keepalive_s = keepalive_s
        self._gate = connect_gate
        self._on_connected = on_connected
        self._on_message = on_message
        self._jitter = jitter
        self._status_topic = str(RoomTopic(property_id, room_id, Device.CONTROLLER, Channel.STATUS))
        self._will = Will(self._status_topic, encode(StatusMessage(state=Status.OFFLINE)))
        self._client_id = f"staysync-sim-{property_id}-{room_id}"
        # A user name of "room" stands for each room's own id, so that a broker's ACL
        # (deploy/mosquitto/acl: user name = room id) confines each room to its topics.
        username = broker.username
        self._username = room_id if username == ROOM_USER else username
        self._connection: MqttConnection | None = None
        self._wanted = asyncio.Event()  # cleared while crashed on purpose
        self._wanted.set()
        self._ready = asyncio.Event()
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected

    @property
    def ready(self) -> bool:
        """Connected, subscribed, and all retained state acknowledged by the broker."""
        return self._ready.is_set() and self.connected

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> bool:
        """Send now if connected; `False` if not (retained state goes out on reconnect)."""
        connection = self._connection
        return connection is not None and connection.publish(topic, payload, qos=qos, retain=retain)

    async def run(self, host: str) -> None:
        """Keep the session up until cancelled; `host` is the broker's resolved address."""
        backoff = RECONNECT_MIN_REAL_S
        failures = 0
        while True:
            await self._wanted.wait()
            try:
                async with self._gate:
                    connection = await connect(
                        host,
                        self._broker.port,
                        self._client_id,
                        will=self._will,
                        keepalive_s=self._keepalive_s,
                        on_message=self._on_message,
                        timeout_s=CONNECT_TIMEOUT_REAL_S,
                        username=self._username,
                        password=self._broker.password,
                    )
            except (OSError, MqttError, TimeoutError) as exc:
                failures += 1
                delay = backoff * self._jitter.uniform(0.5, 1.0)
                # A broker outage hits every room at once: one line per room at INFO,
                # then quiet retries (the property's summary counts who is online).
                log.log(
                    logging.INFO if failures == 1 else logging.DEBUG,
                    "room %s/%s: cannot connect to %s (%s); retrying in %.1f s",
                    self.property_id,
                    self.room_id,
                    self._broker,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, RECONNECT_MAX_REAL_S)
                continue
            backoff = RECONNECT_MIN_REAL_S
            failures = 0
            await self._serve(connection)
            if self._wanted.is_set():
                log.info(
                    "room %s/%s: connection lost; reconnecting", self.property_id, self.room_id
                )
                await asyncio.sleep(RECONNECT_MIN_REAL_S * self._jitter.uniform(0.5, 1.0))

    async def _serve(self, connection: MqttConnection) -> None:
        """Publish the room's state over a fresh session and hold it until it closes."""
        self._connection = connection
        self.connects += 1
        try:
            with contextlib.suppress(ConnectionLost):
                connection.subscribe(
                    subscription(self.property_id, self.room_id, channel=Channel.SET), COMMAND_QOS
                )
                self._on_connected()
                await connection.wait_acked()
                self._ready.set()
            await connection.wait_closed()
        finally:
            self._ready.clear()
            self._connection = None
            # A no-op after a clean close; if cancelled mid-session, drop it rather than
            # leave a half-open session behind (the broker then says offline for us).
            connection.abort()

    async def crash(self) -> None:
        """Drop TCP without DISCONNECT, as a power cut does; stay down until `reconnect`."""
        self._wanted.clear()
        self._ready.clear()  # now, not when the session task gets round to it
        connection = self._connection
        if connection is not None:
            connection.abort()
            await connection.wait_closed()

    def reconnect(self) -> None:
        """Come back after `crash` (returns at once; see `wait_ready`)."""
        self._wanted.set()

    async def shutdown(self, ts: float) -> None:
        """Say offline and leave cleanly, as a controller being switched off does."""
        self._wanted.clear()
        connection = self._connection
        if connection is None or not connection.connected:
            return
        connection.publish(
            self._status_topic,
            encode(StatusMessage(state=Status.OFFLINE, ts=ts)),
            qos=STATE_QOS,
            retain=True,
        )
        with contextlib.suppress(ConnectionLost, TimeoutError):
            async with asyncio.timeout(SHUTDOWN_ACK_TIMEOUT_REAL_S):
                await connection.wait_acked()
        await connection.disconnect()
