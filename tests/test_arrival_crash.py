"""SIGKILL in the middle of PMS events loses no event the PMS was told was taken."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.arrival.stays import StayStore
from edge.persistence import GatewayStore
from shared.pms import StayStatus
from tests.fixtures.crash import run_and_kill

ACKS_BEFORE_KILL = (60, 120)
_ORDER = {StayStatus.RESERVED: 0, StayStatus.IN_HOUSE: 1, StayStatus.CHECKED_OUT: 2}


def test_sigkill_keeps_every_acknowledged_pms_event(tmp_path: Path) -> None:
    acked: dict[str, StayStatus] = {}
    for run, after in enumerate(ACKS_BEFORE_KILL):
        lines = run_and_kill("tests.programs.pms_writer", [str(tmp_path), f"r{run}"], after)
        for line in lines:
            reservation, status = line.split()
            acked[reservation] = StayStatus(status)

    async def stored() -> dict[str, StayStatus]:
        store = GatewayStore(tmp_path / "crash")
        await store.open()
        try:
            return {r.reservation_id: r.status for r in await StayStore(store).load()}
        finally:
            await store.close()

    found = asyncio.run(stored())
    missing = [r for r in acked if r not in found]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged stays lost: {missing[:3]}"
    behind = [(r, s, found[r]) for r, s in acked.items() if _ORDER[found[r]] < _ORDER[s]]
    assert not behind, f"stays stored behind their acknowledged event, e.g. {behind[:3]}"
    assert set(acked.values()) == set(_ORDER)
    assert len(acked) >= sum(ACKS_BEFORE_KILL) // 3
