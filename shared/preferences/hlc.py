"""A hybrid logical clock: stamps that follow wall time yet never contradict causality.

Observations are made at many properties whose clocks disagree by seconds or more. An HLC
stamp is (wall milliseconds, counter, node): it stays close to the physical time, and a
node that has seen a stamp never issues a smaller one (`HybridClock.observe`), so an
observation made after reading another property's log always sorts after it. The node id
breaks the last ties, which makes the order total: two stamps are equal only if they are
the same stamp.

Kulkarni et al., "Logical Physical Clocks and Consistent Snapshots in Globally Distributed
Databases" (2014).
"""

from __future__ import annotations

import math
from functools import total_ordering
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.clock import Clock

__all__ = ["DEFAULT_MAX_OFFSET_MS", "ClockOffsetError", "HlcStamp", "HybridClock"]

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]

# A remote stamp this far ahead of our own clock is refused rather than adopted: one node
# with a clock set a year ahead would otherwise drag every clock it talks to along with it,
# forever. Five minutes is far beyond NTP's error and far below a misconfigured clock.
DEFAULT_MAX_OFFSET_MS = 5 * 60 * 1000


class ClockOffsetError(ValueError):
    """A remote stamp too far ahead of the local clock to be trusted."""


@total_ordering
class HlcStamp(BaseModel):
    """One HLC reading; totally ordered by (wall_ms, counter, node)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_ms: int = Field(ge=0)
    counter: int = Field(ge=0)
    node: NodeId

    @property
    def order(self) -> tuple[int, int, str]:
        return (self.wall_ms, self.counter, self.node)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, HlcStamp):
            return NotImplemented
        return self.order < other.order

    # Pydantic's __eq__ compares exactly the fields that make up `order`, so equality and
    # ordering agree; __hash__ is pydantic's (the model is frozen).

    @property
    def seconds(self) -> float:
        """The physical part as POSIX seconds, comparable with `Clock.now()`."""
        return self.wall_ms / 1000.0

    def __str__(self) -> str:
        return f"{self.wall_ms}.{self.counter}@{self.node}"


class HybridClock:
    """Issues stamps for one node; `observe` every stamp received from another node.

    Not thread-safe: one clock belongs to one event loop, like everything else here.
    """

    def __init__(
        self, node: str, clock: Clock, max_offset_ms: int | None = DEFAULT_MAX_OFFSET_MS
    ) -> None:
        self._last = HlcStamp(wall_ms=0, counter=0, node=node)  # validates the node id
        self._node = node
        self._clock = clock
        self._max_offset_ms = max_offset_ms

    @property
    def node(self) -> str:
        return self._node

    @property
    def last(self) -> HlcStamp:
        """The last stamp issued (or observed); every later one is greater."""
        return self._last

    def _physical_ms(self) -> int:
        return math.floor(self._clock.now() * 1000)

    def now(self) -> HlcStamp:
        """A new stamp, greater than every stamp this clock has issued or observed."""
        physical = self._physical_ms()
        if physical > self._last.wall_ms:
            stamp = HlcStamp(wall_ms=physical, counter=0, node=self._node)
        else:
            # The wall clock stood still or went back (NTP step): keep the logical time
            # and count instead, so that order is never lost.
            stamp = HlcStamp(
                wall_ms=self._last.wall_ms, counter=self._last.counter + 1, node=self._node
            )
        self._last = stamp
        return stamp

    def observe(self, remote: HlcStamp) -> HlcStamp:
        """Take in a stamp from another node; return a local stamp greater than both.

        Raises `ClockOffsetError` (and changes nothing) if `remote` is more than
        `max_offset_ms` ahead of the local wall clock.
        """
        physical = self._physical_ms()
        if self._max_offset_ms is not None and remote.wall_ms - physical > self._max_offset_ms:
            raise ClockOffsetError(
                f"stamp {remote} from node {remote.node!r} is "
                f"{remote.wall_ms - physical} ms ahead of this clock "
                f"(at most {self._max_offset_ms} ms accepted)"
            )
        last = self._last
        wall = max(physical, last.wall_ms, remote.wall_ms)
        if wall == last.wall_ms == remote.wall_ms:
            counter = max(last.counter, remote.counter) + 1
        elif wall == last.wall_ms:
            counter = last.counter + 1
        elif wall == remote.wall_ms:
            counter = remote.counter + 1
        else:
            counter = 0
        self._last = HlcStamp(wall_ms=wall, counter=counter, node=self._node)
        return self._last
