"""The demo of the quick start runs end to end: rooms twinned, a command acknowledged, a
guest booked, the room pre-conditioned, the door opened at the ETA, and the guest's usual
warm milk offered before they call."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from staysync.demo import run_demo


async def test_the_demo_tells_the_whole_story(mosquitto: Any) -> None:
    console = Console(file=io.StringIO(), width=120)
    lines = await run_demo(
        rooms=6,
        broker_url=f"mqtt://{mosquitto.host}:{mosquitto.port}",
        speed=900.0,  # the 90 minutes to the ETA pass in 6 s
        room_id="101",
        setpoint=22.0,
        duration=20.0,  # the door opens ~11 s in; room for a loaded machine
        console=console,
    )
    told = "\n".join(lines)
    assert "acknowledged by the thermostat's state echo" in told, told
    assert "PMS: reservation R-DEMO" in told, told
    assert "preparation task(s) dispatched" in told, told
    assert "pre-conditioning from" in told, told
    assert "the guest checks in" in told, told
    assert "the door opens" in told, told
    assert "Offer warm milk" in told, told
