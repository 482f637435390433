"""Time as the project sees it: every wait and every schedule goes through a `Clock`.

Three clocks share one protocol:

* `WallClock`: production; hotel time is real time.
* `SimulatedClock`: the demo and the benchmarks; a hotel day runs in minutes
  (``speed=600`` makes one real second ten hotel minutes).
* `ManualClock`: tests; time stands still until the test calls `advance`.

Times are POSIX seconds (floats); durations are seconds of hotel time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SimulatedClock", "WallClock", "wait_event"]


@runtime_checkable
class Clock(Protocol):
    """What a component needs to know about time."""

    def now(self) -> float:
        """Current hotel time, POSIX seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of hotel time (returns at once for zero or less)."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Wait until hotel time reaches `when`."""
        ...


class WallClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        await self.sleep(when - self.now())


class SimulatedClock:
    """Hotel time running `speed` times faster than real time from `start`."""

    def __init__(self, start: float | None = None, speed: float = 60.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._start = time.time() if start is None else start
        self._origin = time.monotonic()
        self.speed = speed

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def sleep_until(self, when: float) -> None:
        # Re-check after waking: the event loop may wake us early or late. Nothing else
        # could signal the deadline, so an Event would not help (ASYNC110).
        while (remaining := when - self.now()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining / self.speed)


class ManualClock:
    """A clock that moves only when told to; sleepers wake in deadline order."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00Z
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._seq), future))
        await future

    @property
    def pending(self) -> int:
        """Number of sleepers not yet woken (cancelled ones included until reaped)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline in order."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            if not future.done():
                future.set_result(None)
                # Let the woken task run (and perhaps schedule more sleeps) before moving on.
                for _ in range(3):
                    await asyncio.sleep(0)
        self._now = target
        await asyncio.sleep(0)


async def wait_event(event: asyncio.Event, clock: Clock, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` of the clock's time pass; True if it was set."""
    if event.is_set():
        return True
    if seconds <= 0:
        return False
    # The deadline is fixed now, not when the sleeper task first runs.
    deadline = clock.now() + seconds
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep_until(deadline))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, sleeper):
            task.cancel()
        await asyncio.gather(waiter, sleeper, return_exceptions=True)
    return event.is_set()
