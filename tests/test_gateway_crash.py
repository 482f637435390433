"""SIGKILL in the middle of the gateway's writes loses no acknowledged command."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from edge.commands import CommandStatus
from edge.persistence import GatewayStore
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.property import unique_property_id

KILLS = 3
ACKS_BEFORE_KILL = (50, 200, 400)


def _run_and_kill(property_id: str, broker: Mosquitto, data_dir: Path, after: int) -> list[str]:
    """Start the writer, read `after` acknowledged ids, SIGKILL it, return what it printed."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.programs.gateway_writer",
            property_id,
            broker.url,
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked: list[str] = []
    try:
        for line in proc.stdout:
            acked.append(line.strip())
            if len(acked) >= after:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # Lines the child wrote between our last read and its death were acknowledged too.
        acked.extend(line.strip() for line in proc.stdout.read().splitlines() if line.strip())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, "the writer died before it was killed"
    return acked


def test_sigkill_mid_writes_keeps_every_acknowledged_command(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    property_id = unique_property_id("crash")
    acked: list[str] = []
    for kill in range(KILLS):
        acked += _run_and_kill(property_id, mosquitto, tmp_path, ACKS_BEFORE_KILL[kill])

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
