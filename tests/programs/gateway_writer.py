"""A gateway that submits commands as fast as it can and prints each acknowledged id.

Run by tests/test_gateway_crash.py, which kills it with SIGKILL mid-writes and then
checks that every id printed here (the gateway had answered "accepted") is in the store.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge.gateway import Gateway
from edge.settings import EdgeSettings
from shared.clock import WallClock


async def main(property_id: str, broker_url: str, data_dir: str) -> None:
    settings = EdgeSettings(
        property_id=property_id,
        broker_url=broker_url,
        data_dir=Path(data_dir),
        room_count=40,
        command_timeout_s=3600,
    )
    async with Gateway(settings, WallClock()) as gateway:
        rooms = gateway.layout.room_ids
        i = 0
        while True:
            record = await gateway.send(rooms[i % len(rooms)], "thermostat", {"setpoint_c": 21.0})
            # Printed only after submit returned: the command is acknowledged to the caller.
            sys.stdout.write(record.id + "\n")
            sys.stdout.flush()
            i += 1


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
