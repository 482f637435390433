"""An in-process MQTT broker (amqtt, pure Python) so the demo needs no service installed.

Production and the tests use mosquitto; amqtt is enough for a demo property of a few
dozen rooms on loopback.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from amqtt.broker import Broker

from shared.broker import BrokerAddress

__all__ = ["embedded_broker"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def embedded_broker(port: int | None = None) -> AsyncIterator[BrokerAddress]:
    """Run an anonymous loopback-only broker for the duration of the block."""
    port = port or _free_port()
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        # Only anonymous auth: the default plugin set also logs every packet, which
        # would drown the demo's own output.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(config)
    await broker.start()
    try:
        yield BrokerAddress("127.0.0.1", port)
    finally:
        await broker.shutdown()
