"""The gateway's connection to its property's broker, with the reconnect loop outside the client.

`MqttLink.run` connects, subscribes, hands every message to a callback and, when the
connection drops, waits with exponential backoff and connects again. Subscribing
again on each connection makes the broker re-send every retained message, which is
how the twin resyncs after a broker restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiomqtt

from shared.broker import BrokerAddress
from shared.clock import Clock, wait_event
from shared.tasks import cancel_and_wait

from .errors import NotConnected
from .metrics import GatewayMetrics

__all__ = ["LinkTiming", "MqttLink"]

log = logging.getLogger(__name__)

# (topic, payload, retained): retained is True for a copy the broker replays on subscribe.
MessageHandler = Callable[[str, bytes, bool], None]


@dataclass(frozen=True, slots=True)
class LinkTiming:
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    keepalive_s: int = 30
    operation_timeout_s: float = 5.0


class MqttLink:
    def __init__(
        self,
        broker: BrokerAddress,
        client_id: str,
        subscriptions: Sequence[tuple[str, int]],
        on_message: MessageHandler,
        clock: Clock,
        metrics: GatewayMetrics,
        timing: LinkTiming | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self._broker = broker
        self._client_id = client_id
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_connected = on_connected
        self._clock = clock
        self._metrics = metrics
        self._timing = timing or LinkTiming()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._failures = 0
        self._established = False
        self._stop = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False, timeout_s: float
    ) -> None:
        """Publish; `NotConnected` if the link is down or the broker does not take it in time."""
        client = self._client
        if client is None:
            raise NotConnected(f"broker {self._broker} is not connected")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=timeout_s)
        except aiomqtt.MqttError as exc:
            raise NotConnected(f"publish to {self._broker} failed: {exc}") from exc

    async def run(self) -> None:
        """Stay connected until `stop` is called."""
        backoff = self._timing.reconnect_initial_s
        while not self._stop.is_set():
            self._established = False
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                self._failures += 1
                # One loud line per outage; the retries of the same outage go to DEBUG.
                level = logging.WARNING if self._failures == 1 else logging.DEBUG
                log.log(level, "broker %s unreachable (%s); retrying", self._broker, exc)
            if self._established:  # a fresh outage starts the backoff from the beginning
                backoff = self._timing.reconnect_initial_s
            await wait_event(self._stop, self._clock, backoff)
            backoff = min(backoff * 2, self._timing.reconnect_max_s)

    def stop(self) -> None:
        """Ask `run` to disconnect cleanly and return.

        Stopping is a request, not a cancellation: cancelling aiomqtt while it connects
        leaves its futures and its background task behind, and on Python 3.11 a
        cancellation that meets a SUBACK in `asyncio.wait_for` is lost altogether. So
        the link finishes connecting, then leaves through the client's own DISCONNECT.
        """
        self._stop.set()

    async def _session(self) -> None:
        client = aiomqtt.Client(
            self._broker.host,
            self._broker.port,
            username=self._broker.username,
            password=self._broker.password,
            identifier=self._client_id,
            # A persistent session: the broker queues QoS 1 messages while we are away.
            clean_session=False,
            keepalive=self._timing.keepalive_s,
            max_queued_incoming_messages=0,
            # Bounds connect, subscribe and a clean disconnect; publishes pass their own.
            timeout=self._timing.operation_timeout_s,
        )
        try:
            async with client:
                granted = await client.subscribe(self._subscriptions)
                refused = [
                    topic
                    for (topic, _), code in zip(self._subscriptions, granted, strict=True)
                    if _refused(code)
                ]
                if refused:
                    # Connected but deaf is worse than down: an ACL error must be seen.
                    log.error("broker %s refused subscriptions %s", self._broker, refused)
                    raise aiomqtt.MqttError(f"subscriptions refused: {refused}")
                self._client = client
                self._established = True
                self._connected.set()
                self._metrics.connected.set(1)
                self._metrics.reconnects.inc()
                if self._failures:
                    log.warning("broker %s connected again", self._broker)
                self._failures = 0
                if self._on_connected is not None:
                    self._on_connected()
                reader = asyncio.create_task(self._read(client), name="mqtt-read")
                stopper = asyncio.create_task(self._stop.wait(), name="mqtt-stop")
                try:
                    await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    # Cancelling the reader only abandons a queue read: safe in aiomqtt.
                    await cancel_and_wait([reader, stopper])
                if reader.done() and not reader.cancelled():
                    reader.result()  # the reader's MqttError, if the connection dropped
        finally:
            self._client = None
            self._connected.clear()
            self._metrics.connected.set(0)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            # paho hands over bytes; aiomqtt's type also admits str/int/float/None.
            payload = message.payload
            raw = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
            self._on_message(message.topic.value, raw, message.retain)


def _refused(granted: object) -> bool:
    """A SUBACK return code of 0x80 (or a v5 reason code >= 0x80) refuses the subscription."""
    value = getattr(granted, "value", granted)
    return isinstance(value, int) and value >= 0x80
