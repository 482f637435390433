"""Which rooms are free for a day's arrivals, and when housekeeping has them ready.

What the gateway knows: the stays (a room promised to a booking of the day, or kept by
a guest who stays on, is not free; one whose guest leaves that day is ready after the
check-out time plus the turnaround) and the open make-up-room tasks (a room is ready when
its cleaning is due). A front-desk pin makes its room a candidate even if it looks taken:
the desk knows better.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge.dispatch.model import Task
from shared.layout import PropertyLayout
from shared.pms import StayStatus

from .room_choice import FreeRoom
from .stays import StayRecord

__all__ = ["free_rooms"]

_ACTIVE = frozenset({StayStatus.RESERVED, StayStatus.IN_HOUSE})


def free_rooms(
    layout: PropertyLayout,
    stays: Iterable[StayRecord],
    tasks: Iterable[Task],
    day: date,
    zone: ZoneInfo,
    pinned: set[str],
    *,
    check_out_time: time,
    turnaround_s: float,
) -> list[FreeRoom]:
    """Rooms free for the day, each with when housekeeping will have it ready."""
    start = datetime.combine(day, time(0, 0), zone).timestamp()
    end = datetime.combine(day + timedelta(days=1), time(0, 0), zone).timestamp()
    check_out = datetime.combine(day, check_out_time, zone).timestamp()
    ready: dict[str, float | None] = {room.id: start for room in layout.rooms}
    for record in stays:
        room_id = record.room_id
        if room_id is None or record.status not in _ACTIVE or room_id not in ready:
            continue
        if record.status is StayStatus.RESERVED and record.eta < end:
            ready.pop(room_id, None)  # promised to an earlier booking of the day
        elif record.status is StayStatus.IN_HOUSE:
            arrived = datetime.fromtimestamp(record.checked_in_at or record.eta, zone).date()
            if arrived + timedelta(days=record.nights) > day:
                ready.pop(room_id, None)  # staying on
            else:
                ready[room_id] = check_out + turnaround_s
    for task in tasks:
        if task.kind == "make_up_room" and task.is_open and task.room_id in ready:
            due = ready[task.room_id] or start
            ready[task.room_id] = max(due, task.due_at)
    for room_id in pinned:
        ready.setdefault(room_id, start)
    return [FreeRoom.from_layout(room, ready[room.id]) for room in layout.rooms if room.id in ready]
