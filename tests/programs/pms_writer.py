"""A gateway taking PMS events as fast as it can, printing "<reservation> <status>" for
each event only after `ArrivalService.handle` has returned (the moment the PMS would get
its 200).

Run by tests/test_arrival_crash.py, which kills it with SIGKILL mid-writes and then
checks that every stay printed here is in the store, at least as far along as printed.
No broker listens on the address given: the gateway keeps working without one.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge.gateway import Gateway
from edge.settings import EdgeSettings
from shared.clock import WallClock
from shared.pms import CheckedIn, CheckedOut, ReservationCreated

ROOMS = 1500
ROOMS_PER_RUN = 700  # each run checks guests into rooms of its own (a room holds one)


async def main(data_dir: str, run: str) -> None:
    settings = EdgeSettings(
        property_id="crash",
        broker_url="mqtt://127.0.0.1:9",  # discard port: nothing answers
        data_dir=Path(data_dir),
        room_count=ROOMS,
        reconnect_initial_s=5.0,
    )
    clock = WallClock()
    async with Gateway(settings, clock) as gateway:
        arrivals = gateway.arrivals
        offset = int(run.lstrip("r")) * ROOMS_PER_RUN
        i = 0
        while True:
            rid = f"{run}-{i}"
            room = gateway.layout.room_ids[(offset + i) % ROOMS]
            now = clock.now()
            steps = (
                ReservationCreated(
                    event_id=f"{rid}-c", ts=now, reservation_id=rid, room_id=room,
                    eta=now + 3600, nights=1,
                ),
                CheckedIn(event_id=f"{rid}-i", ts=now, reservation_id=rid, room_id=room),
                CheckedOut(event_id=f"{rid}-o", ts=now, reservation_id=rid),
            )  # fmt: skip
            for event in steps[: 1 + i % 3]:
                result = await arrivals.handle(event)
                sys.stdout.write(f"{rid} {result.stay.status.value}\n")
                sys.stdout.flush()
            i += 1


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
