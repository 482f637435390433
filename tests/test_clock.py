import asyncio

import pytest

from shared.clock import ManualClock, SimulatedClock, wait_event


async def test_manual_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = ManualClock()
    start = clock.now()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now() - start))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("b", 20), ("a", 10), ("c", 30)]]
    await asyncio.sleep(0)
    await clock.advance(25)
    assert woke == [("a", 10), ("b", 20)]
    await clock.advance(10)
    assert woke == [("a", 10), ("b", 20), ("c", 30)]
    await asyncio.gather(*tasks)


async def test_manual_clock_refuses_to_go_back() -> None:
    with pytest.raises(ValueError, match="backwards"):
        await ManualClock().advance(-1)


async def test_simulated_clock_runs_fast() -> None:
    clock = SimulatedClock(start=0.0, speed=3600.0)
    await clock.sleep(36.0)  # 36 hotel seconds = 10 real milliseconds
    assert 36.0 <= clock.now() < 36.0 + 3600.0  # under a second of real slack


async def test_wait_event_returns_on_set_or_timeout() -> None:
    clock = ManualClock()
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_event(event, clock, 5.0))
    await asyncio.sleep(0)
    await clock.advance(5.0)
    assert await waiter is False
    waiter = asyncio.create_task(wait_event(event, clock, 5.0))
    await asyncio.sleep(0)
    event.set()
    assert await waiter is True
