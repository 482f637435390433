"""SIGKILL in the middle of the gateway's writes loses no acknowledged command."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.commands import CommandStatus
from edge.persistence import GatewayStore
from tests.fixtures.crash import run_and_kill
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.property import unique_property_id

KILLS = 3
ACKS_BEFORE_KILL = (50, 200, 400)


def test_sigkill_mid_writes_keeps_every_acknowledged_command(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    property_id = unique_property_id("crash")
    acked: list[str] = []
    for kill in range(KILLS):
        acked += run_and_kill(
            "tests.programs.gateway_writer",
            [property_id, mosquitto.url, str(tmp_path)],
            ACKS_BEFORE_KILL[kill],
        )

    async def stored() -> dict[str, CommandStatus]:
        store = GatewayStore(tmp_path / property_id)
        await store.open()
        try:
            found = {}
            for command_id in acked:
                record = await store.get(command_id)
                if record is not None:
                    found[command_id] = record.status
            return found
        finally:
            await store.close()

    found = asyncio.run(stored())
    missing = [c for c in acked if c not in found]
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged commands lost, e.g. {missing[:3]}"
    )
    assert len(acked) >= sum(ACKS_BEFORE_KILL)
