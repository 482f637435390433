"""A minimal MQTT 3.1.1 client on asyncio's event loop: what a room controller needs.

Why not aiomqtt or paho: a property is 3,000 connections in one process, and the
per-packet Python work of those libraries dominates at that count. Measured on 2
cores against mosquitto 2.0 (3,000 connections, each one SUBSCRIBE and 9 retained
QoS 1 publishes of a fixed payload, until every PUBACK is in): aiomqtt 2.5 took
11.6 s, paho 2.2 driven from asyncio socket callbacks 4.3 s, a bare version of this
client 1.6 s (the whole simulator, building and validating its messages, takes about
3 s: bench/sim_scale.py). All connections share asyncio's one selector; no threads.

A firmware needs a small subset of MQTT, and that is all this implements: CONNECT
with a last will and a clean session, SUBSCRIBE, PUBLISH at QoS 0 and 1 both ways,
PUBACK, PINGREQ and DISCONNECT. No QoS 2 and no session resumption: after any
reconnect the controller republishes its whole retained state, which supersedes
whatever was in flight.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ConnectionLost",
    "ConnectionRefused",
    "MessageHandler",
    "MqttConnection",
    "MqttError",
    "ProtocolViolation",
    "Will",
    "connect",
]

log = logging.getLogger(__name__)

PROTOCOL_NAME = b"MQTT"
PROTOCOL_LEVEL = 4  # MQTT 3.1.1
MAX_PACKET_ID = 0xFFFF
# Remaining length is at most four 7-bit groups (MQTT 3.1.1 §2.2.3).
MAX_REMAINING_LENGTH_BYTES = 4
# Commands are tiny; a bigger packet from the broker means something is badly wrong.
MAX_INCOMING_PACKET_BYTES = 1 << 20
SUBACK_FAILURE = 0x80
# Ping after half the keepalive without traffic; give up on a broker silent for 1.5x.
PING_AFTER_FRACTION = 0.5
SILENCE_LIMIT_FRACTION = 1.5

# Packet types (high nibble of the first byte).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

_PINGREQ_PACKET = bytes([PINGREQ << 4, 0])
_DISCONNECT_PACKET = bytes([DISCONNECT << 4, 0])

CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttError(Exception):
    """Base of this client's errors."""


class ConnectionRefused(MqttError):
    def __init__(self, code: int) -> None:
        super().__init__(f"broker refused the connection: {CONNACK_REASONS.get(code, code)}")
        self.code = code


class ConnectionLost(MqttError):
    """The connection closed while something was waiting on it."""


class ProtocolViolation(MqttError):
    """The broker sent something MQTT 3.1.1 does not allow here."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def _str16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        digit, length = length & 0x7F, length >> 7
        out.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(out)


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def encode_connect(
    client_id: str,
    keepalive_s: int,
    will: Will | None,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = 0x02  # clean session
    payload = [_str16(client_id.encode())]
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += [_str16(will.topic.encode()), _str16(will.payload)]
    if username is not None:
        flags |= 0x80
        payload.append(_str16(username.encode()))
        if password is not None:
            flags |= 0x40
            payload.append(_str16(password.encode()))
    header = _str16(PROTOCOL_NAME) + bytes([PROTOCOL_LEVEL, flags]) + struct.pack("!H", keepalive_s)
    return _packet(CONNECT << 4, header + b"".join(payload))


def encode_publish(topic: str, payload: bytes, qos: int, retain: bool, packet_id: int) -> bytes:
    first = (PUBLISH << 4) | (qos << 1) | (1 if retain else 0)
    packet_id_bytes = struct.pack("!H", packet_id) if qos else b""
    return _packet(first, _str16(topic.encode()) + packet_id_bytes + payload)


def encode_subscribe(packet_id: int, topic_filter: str, qos: int) -> bytes:
    # The low nibble 0b0010 is required for SUBSCRIBE (MQTT 3.1.1 §3.8.1).
    body = struct.pack("!H", packet_id) + _str16(topic_filter.encode()) + bytes([qos])
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def encode_puback(packet_id: int) -> bytes:
    return bytes([PUBACK << 4, 2]) + struct.pack("!H", packet_id)


# (topic, payload, retained): `retained` is set for messages the broker kept from before.
MessageHandler = Callable[[str, bytes, bool], None]


class MqttConnection(asyncio.Protocol):
    """One client connection. Publishing never blocks: packets written in the same
    event-loop turn leave in one `send`, which is what makes a room's burst of
    retained state cheap."""

    def __init__(
        self,
        client_id: str,
        *,
        will: Will | None,
        keepalive_s: int,
        on_message: MessageHandler,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.client_id = client_id
        self._will = will
        self._keepalive_s = keepalive_s
        self._on_message = on_message
        self._username = username
        self._password = password
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._write_paused = False
        self._next_id = 0
        self._inflight: set[int] = set()
        self._acked: asyncio.Future[None] | None = None
        self._connack: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._keepalive: asyncio.TimerHandle | None = None
        self._last_rx = self._last_tx = self._loop.time()
        self.dropped_qos0 = 0  # telemetry shed while the socket was backed up

    # ---- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(
            encode_connect(
                self.client_id, self._keepalive_s, self._will, self._username, self._password
            )
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._outgoing.clear()
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        lost = ConnectionLost(f"{self.client_id}: connection closed" + (f": {exc}" if exc else ""))
        for future in (self._connack, self._acked):
            if future is not None and not future.done():
                future.set_exception(lost)
                future.exception()  # retrieved here: nobody may be waiting any more
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False

    def data_received(self, data: bytes) -> None:
        self._last_rx = self._loop.time()
        buffer = self._buffer
        buffer += data
        start = 0
        while self._transport is not None and not self._transport.is_closing():
            try:
                header = _parse_header(buffer, start)
            except ProtocolViolation as exc:
                self._violation(str(exc))
                break
            if header is None:
                break
            body_start, length = header
            end = body_start + length
            if end > len(buffer):
                break
            self._handle(buffer[start], bytes(buffer[body_start:end]))
            start = end
        del buffer[:start]

    # ---- state ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return (
            self._transport is not None
            and self._connack.done()
            and self._connack.exception() is None
            and not self._transport.is_closing()
        )

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    # ---- operations -----------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
        """Queue a message; `False` if it was not sent (not connected, or QoS 0 shed)."""
        if not self.connected:
            return False
        if qos == 0 and self._write_paused:
            # A device with a full send buffer loses readings; it never queues them forever.
            self.dropped_qos0 += 1
            return False
        packet_id = self._allocate_id() if qos else 0
        self._send(encode_publish(topic, payload, qos, retain, packet_id))
        return True

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        if not self.connected:
            raise ConnectionLost(f"{self.client_id}: not connected")
        self._send(encode_subscribe(self._allocate_id(), topic_filter, qos))

    async def wait_acked(self) -> None:
        """Wait until the broker acknowledged every QoS 1 publish and subscription so far."""
        if not self.connected:
            raise ConnectionLost(f"{self.client_id}: not connected")
        if not self._inflight:
            return
        if self._acked is None or self._acked.done():
            self._acked = self._loop.create_future()
        # Shielded: one cancelled waiter must not cancel the future the others share.
        await asyncio.shield(self._acked)

    async def wait_connack(self) -> None:
        await asyncio.shield(self._connack)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the will."""
        if self._transport is not None:
            self._outgoing.clear()  # what a crashed device had not sent is lost
            self._transport.abort()

    async def disconnect(self) -> None:
        """Leave cleanly: DISCONNECT tells the broker to discard the will."""
        if self._transport is not None and not self._transport.is_closing():
            self._send(_DISCONNECT_PACKET)
            self._flush()
            self._transport.close()
        await self.wait_closed()

    # ---- internals ------------------------------------------------------------------

    def _allocate_id(self) -> int:
        if len(self._inflight) >= MAX_PACKET_ID:
            raise MqttError(f"{self.client_id}: {MAX_PACKET_ID} packets unacknowledged")
        while True:
            self._next_id = self._next_id % MAX_PACKET_ID + 1
            if self._next_id not in self._inflight:
                self._inflight.add(self._next_id)
                return self._next_id

    def _send(self, packet: bytes) -> None:
        self._outgoing.append(packet)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._outgoing:
            return
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
            self._last_tx = self._loop.time()

    def _settled(self, packet_id: int) -> None:
        self._inflight.discard(packet_id)
        if not self._inflight and self._acked is not None and not self._acked.done():
            self._acked.set_result(None)

    def _handle(self, first_byte: int, body: bytes) -> None:
        kind = first_byte >> 4
        if kind == PUBLISH:
            self._handle_publish(first_byte, body)
        elif kind in (PUBACK, SUBACK) and len(body) >= 2:
            (packet_id,) = struct.unpack_from("!H", body)
            if kind == SUBACK and SUBACK_FAILURE in body[2:]:
                # Without its subscription the controller cannot obey commands: start over.
                self._violation(f"subscription {packet_id} refused by the broker")
                return
            self._settled(packet_id)
        elif kind == CONNACK and len(body) == 2:
            self._handle_connack(body[1])
        elif kind == PINGRESP:
            pass  # `_last_rx` already moved; that is all a ping is for
        else:
            self._violation(f"unexpected packet type {kind} ({len(body)} bytes)")

    def _handle_connack(self, code: int) -> None:
        if self._connack.done():
            self._violation("second CONNACK")
        elif code:
            self._connack.set_exception(ConnectionRefused(code))
            assert self._transport is not None
            self._transport.close()
        else:
            self._connack.set_result(None)
            self._arm_keepalive()

    def _handle_publish(self, first_byte: int, body: bytes) -> None:
        qos = (first_byte >> 1) & 0x03
        if qos > 1 or len(body) < 2:
            self._violation(f"PUBLISH with QoS {qos} or no topic")
            return
        (topic_length,) = struct.unpack_from("!H", body)
        offset = 2 + topic_length
        if len(body) < offset + 2 * qos:
            self._violation(f"PUBLISH of {len(body)} bytes cut short")
            return
        topic = body[2:offset].decode("utf-8", errors="replace")
        if qos:
            (packet_id,) = struct.unpack_from("!H", body, offset)
            offset += 2
            # Acknowledged at once, as firmware does: MQTT delivery is not application success.
            self._send(encode_puback(packet_id))
        self._on_message(topic, body[offset:], bool(first_byte & 0x01))

    def _violation(self, what: str) -> None:
        log.warning("%s: protocol violation, dropping the connection: %s", self.client_id, what)
        self.abort()

    def _arm_keepalive(self) -> None:
        self._keepalive = self._loop.call_later(
            self._keepalive_s * PING_AFTER_FRACTION, self._keepalive_tick
        )

    def _keepalive_tick(self) -> None:
        # Real time on purpose: the broker judges keepalive by its own clock, whatever
        # speed the simulated hotel clock runs at.
        now = self._loop.time()
        if now - self._last_rx > self._keepalive_s * SILENCE_LIMIT_FRACTION:
            log.warning(
                "%s: broker silent for %.0f s, dropping", self.client_id, now - self._last_rx
            )
            self.abort()
            return
        # Ping when we have been quiet, and also when the broker has: a room that only
        # publishes QoS 0 readings gets nothing back, and silence must mean trouble.
        quiet = self._keepalive_s * PING_AFTER_FRACTION
        if now - self._last_tx >= quiet or now - self._last_rx >= quiet:
            self._send(_PINGREQ_PACKET)
        self._arm_keepalive()


def _parse_header(buffer: bytearray, start: int) -> tuple[int, int] | None:
    """(body offset, body length) of the packet at `start`, or `None` if incomplete."""
    length = 0
    for index in range(MAX_REMAINING_LENGTH_BYTES):
        position = start + 1 + index
        if position >= len(buffer):
            return None
        digit = buffer[position]
        length |= (digit & 0x7F) << (7 * index)
        if not digit & 0x80:
            if length > MAX_INCOMING_PACKET_BYTES:
                raise ProtocolViolation(f"incoming packet of {length} bytes")
            return position + 1, length
    raise ProtocolViolation("remaining length longer than four bytes")


async def connect(
    host: str,
    port: int,
    client_id: str,
    *,
    will: Will | None,
    keepalive_s: int,
    on_message: MessageHandler,
    timeout_s: float,
    username: str | None = None,
    password: str | None = None,
) -> MqttConnection:
    """Open a session; raise `ConnectionRefused`, `OSError` or `TimeoutError` if none."""
    loop = asyncio.get_running_loop()
    protocol = MqttConnection(
        client_id,
        will=will,
        keepalive_s=keepalive_s,
        on_message=on_message,
        username=username,
        password=password,
    )
    try:
        async with asyncio.timeout(timeout_s):
            await loop.create_connection(lambda: protocol, host, port)
            await protocol.wait_connack()
    except BaseException:
        # Covers cancellation too: a half-open session must not linger.
        protocol.abort()
        raise
    return protocol
