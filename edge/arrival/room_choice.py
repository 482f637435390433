"""Room choice: the best free room for each of the day's arrivals that names only a type.

Pure code: no I/O, no clock. The gateway gathers the day's arrivals (reservations with a
room type but no room), the free rooms with the time housekeeping will have them cleaned
and inspected, and the front desk's pins; `recommend` answers with one `Recommendation`
per arrival. It is a recommendation: the PMS keeps the final word on the room.

The problem is solved for the whole day at once, as an assignment of arrivals (rows) to
free rooms (columns) with `edge.assignment.solve`: exact, cardinality first (as many
arrivals get a room as possible), then the smallest total cost, and among equal totals
first come, first served.

Order
-----
Rows are the arrivals by ETA, then reservation id; columns are the rooms by floor,
distance from the lifts, then room id. So ties go to the guest expected first, and
among equally good rooms to the one lowest and nearest the lifts. `recommend` returns
the arrivals in that row order, whatever order they were given in.

A pair's cost (integers, so that ties are exact)
------------------------------------------------
* **Room type** must match; otherwise the pair is forbidden (``+inf``).
* **Readiness.** A room with no cleaning scheduled (``ready_at is None``) cannot be
  given (``+inf``). A room ready after the guest's ETA costs ``LATE_COST`` plus each
  minute of waiting (rounded up) times the tier's weight. ``LATE_COST`` is above what
  a whole day's missed wishes can add up to (64 per arrival at most), so no wish is
  ever bought with a guest waiting: the solver keeps the guests who wait few and
  their waits short, and only then looks at wishes.
* **Wishes.** Each wish the room misses costs the wish's weight (`WISH_WEIGHTS`) times
  the loyalty tier's weight (`TIER_WEIGHTS`): when rooms that meet a wish are scarce,
  the higher tier gets them first.

Wishes and when a room meets them
---------------------------------
* ``floor="high"``: the room's floor is in the upper half of the property's guest
  floors (``floors``, by default the range of the rooms given); ``"low"``: the lower
  half. With an odd number of floors the middle one counts as both.
* ``quiet``: the room is on the quiet side (courtyard, not street).
* ``lift="away"``: more than `LIFT_NEAR_M` corridor metres from the lifts;
  ``"near"``: at most that (a guest who walks with difficulty).
* ``view``: the room's view is that one. ``bed_type``: the room's bed is that one.

`fit` is the share of the guest's stated wishes that a room meets, in [0, 1] (1 when
the guest stated none); `Recommendation.matched` and ``missed`` name them in words.

Front-desk pins (`Pin`) are taken out of the problem before solving: the pinned arrival
gets its pinned room (whatever its type or readiness: the desk knows better), and the
pinned room is no longer free for anyone else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from edge.assignment import solve
from shared.layout import Room

__all__ = [
    "LATE_COST",
    "LIFT_NEAR_M",
    "TIER_WEIGHTS",
    "WISH_WEIGHTS",
    "Arrival",
    "CostMatrix",
    "FreeRoom",
    "LoyaltyTier",
    "Pin",
    "Recommendation",
    "RecommendationStatus",
    "RoomWishes",
    "build_costs",
    "fit",
    "recommend",
    "wish_check",
    "wishes_from_preferences",
]

ReservationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
RoomId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
RoomType = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Timestamp = Annotated[float, Field(ge=0.0)]


class LoyaltyTier(StrEnum):
    NONE = "none"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


# A missed wish costs its weight times the tier's: a platinum guest's miss weighs 4×
# a guest's without a tier, so a wish that few rooms meet goes up the tiers first.
TIER_WEIGHTS: Final[Mapping[LoyaltyTier, int]] = {
    LoyaltyTier.NONE: 1,
    LoyaltyTier.SILVER: 2,
    LoyaltyTier.GOLD: 3,
    LoyaltyTier.PLATINUM: 4,
}
# Beds first (two colleagues cannot share a king), then the rest; whole numbers.
WISH_WEIGHTS: Final[Mapping[str, int]] = {
    "bed_type": 5,
    "floor": 3,
    "quiet": 3,
    "view": 3,
    "lift": 2,
}
# A guest kept waiting for the room: above a whole day's missed wishes (at most
# 16 × 4 = 64 per arrival: 1,500 arrivals), so no wish is bought with a wait.
LATE_COST: Final = 100_000
LATE_MINUTES_CAP: Final = 7 * 24 * 60  # keeps costs bounded whatever ready_at says
# A room another stay has during this arrival's later nights: worse than any wait.
UNAVAILABLE_COST: Final = 1_000 * LATE_COST
LIFT_NEAR_M: Final = 15.0  # the first three doors from the lifts hear them


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RoomWishes(_Frozen):
    """A guest's effective room preferences, as plain values; None/False = no wish."""

    floor: Literal["high", "low"] | None = None
    quiet: bool = False
    lift: Literal["near", "away"] | None = None
    view: Label | None = None
    bed_type: Label | None = None

    @property
    def stated(self) -> int:
        """How many wishes the guest stated."""
        return sum(
            (
                self.floor is not None,
                self.quiet,
                self.lift is not None,
                self.view is not None,
                self.bed_type is not None,
            )
        )


class Arrival(_Frozen):
    """A reservation arriving today that names a room type but no room."""

    reservation_id: ReservationId
    room_type: RoomType
    eta: Timestamp  # POSIX seconds
    tier: LoyaltyTier = LoyaltyTier.NONE
    wishes: RoomWishes = RoomWishes()
    # Rooms free tonight that another stay has during this arrival's later nights.
    unavailable: frozenset[RoomId] = frozenset()


class FreeRoom(_Frozen):
    """A room free for today's arrivals.

    ``ready_at`` is when it will be cleaned and inspected (a time in the past for a room
    ready now); None when no cleaning is scheduled, and then it cannot be given.
    """

    room_id: RoomId
    room_type: RoomType
    floor: int
    position_m: float = Field(ge=0.0, description="corridor metres from the lifts")
    quiet: bool = False
    view: Label | None = None
    bed_type: Label | None = None
    ready_at: Timestamp | None = None

    @classmethod
    def from_layout(cls, room: Room, ready_at: float | None) -> FreeRoom:
        """A layout room, free, with when it will be cleaned and inspected."""
        return cls(
            room_id=room.id,
            room_type=room.room_type,
            floor=room.floor,
            position_m=room.position_m,
            quiet=room.quiet,
            view=room.view,
            bed_type=room.bed_type,
            ready_at=ready_at,
        )


class PinBy(StrEnum):
    FRONT_DESK = "front_desk"  # the desk's choice
    GATEWAY = "gateway"  # a room the gateway holds and readies: its earlier recommendation


class Pin(_Frozen):
    """This arrival gets this room, whatever the solver says: the front desk's choice, or
    a room the gateway already holds (a desk's pin wins over a hold of the same room)."""

    reservation_id: ReservationId
    room_id: RoomId
    by: PinBy = PinBy.FRONT_DESK


class RecommendationStatus(StrEnum):
    RECOMMENDED = "recommended"
    PINNED = "pinned"
    HELD = "held"  # recommended earlier and being readied (preparation, pre-conditioning)
    UNASSIGNED = "unassigned"


class Recommendation(_Frozen):
    """The answer for one arrival, with what the front desk needs to see why."""

    reservation_id: ReservationId
    status: RecommendationStatus
    room_id: RoomId | None
    reason: str
    fit: float | None = Field(default=None, ge=0.0, le=1.0)  # None: no room, or unknown
    matched: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    ready_at: Timestamp | None = None
    # How long the guest would wait for the room after the ETA (0: ready in time);
    # None without a room or without cleaning scheduled.
    wait_s: float | None = Field(default=None, ge=0.0)
    cost: float | None = None  # the pair's cost in the solved problem; None if pinned


# ----------------------------------------------------------------------- wish checks


def _mid_floor(floors: tuple[int, int]) -> float:
    """High floors are at or above it, low floors at or below it."""
    return (floors[0] + floors[1]) / 2


def wish_check(
    wishes: RoomWishes, room: FreeRoom, floors: tuple[int, int]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(matched, missed): the guest's stated wishes, in words, that the room meets or not."""
    mid = _mid_floor(floors)
    matched: list[str] = []
    missed: list[str] = []

    def check(ok: bool, words: str) -> None:
        (matched if ok else missed).append(words)

    if wishes.floor == "high":
        check(room.floor >= mid, "high floor")
    elif wishes.floor == "low":
        check(room.floor <= mid, "low floor")
    if wishes.quiet:
        check(room.quiet, "quiet side")
    if wishes.lift == "away":
        check(room.position_m > LIFT_NEAR_M, "away from the lift")
    elif wishes.lift == "near":
        check(room.position_m <= LIFT_NEAR_M, "near the lift")
    if wishes.view is not None:
        check(room.view == wishes.view, f"{wishes.view} view".replace("_", " "))
    if wishes.bed_type is not None:
        check(room.bed_type == wishes.bed_type, f"{wishes.bed_type} bed".replace("_", " "))
    return tuple(matched), tuple(missed)


def fit(wishes: RoomWishes, room: FreeRoom, floors: tuple[int, int]) -> float:
    """Share of the guest's stated wishes that the room meets, in [0, 1]; 1 if none."""
    matched, missed = wish_check(wishes, room, floors)
    stated = len(matched) + len(missed)
    return 1.0 if stated == 0 else len(matched) / stated


def wishes_from_preferences(values: Mapping[str, object]) -> RoomWishes:
    """A guest's wishes from effective preference values keyed as in the catalogue.

    ``values`` maps keys to plain values (``{key: pref.value}`` of a guest's effective
    preferences). Reads ``room.floor``, ``room.quiet``, ``room.lift``, ``room.view`` and
    ``room.bed_type``; "any" (or an absent key) is no wish. Other keys are ignored.
    """

    def choice(key: str) -> str | None:
        value = values.get(key)
        return value if isinstance(value, str) and value != "any" else None

    floor = choice("room.floor")
    lift = choice("room.lift")
    return RoomWishes(
        floor=floor if floor in ("high", "low") else None,
        quiet=choice("room.quiet") == "quiet",
        lift=lift if lift in ("near", "away") else None,
        view=choice("room.view"),
        bed_type=choice("room.bed_type"),
    )


# ---------------------------------------------------------------------- cost matrix

FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class CostMatrix:
    """The problem as solved: ``cost[i, j]`` for ``arrivals[i]`` and ``rooms[j]``."""

    arrivals: tuple[Arrival, ...]  # rows: by ETA, then reservation id
    rooms: tuple[FreeRoom, ...]  # columns: by floor, distance from the lifts, room id
    cost: FloatMatrix
    floors: tuple[int, int]


def _codes(values: Sequence[str | None], vocabulary: dict[str, int]) -> npt.NDArray[np.int64]:
    """Integer codes; None is 0 and every distinct string gets its own positive code."""
    out = np.zeros(len(values), dtype=np.int64)
    for k, value in enumerate(values):
        if value is not None:
            out[k] = vocabulary.setdefault(value, len(vocabulary) + 1)
    return out


def _order_arrivals(arrivals: Iterable[Arrival]) -> tuple[Arrival, ...]:
    ordered = tuple(sorted(arrivals, key=lambda a: (a.eta, a.reservation_id)))
    ids = [a.reservation_id for a in ordered]
    if len(set(ids)) != len(ids):
        dup = next(i for k, i in enumerate(ids) if i in ids[k + 1 :])
        raise ValueError(f"reservation {dup!r} is listed twice among the arrivals")
    return ordered


def _order_rooms(rooms: Iterable[FreeRoom]) -> tuple[FreeRoom, ...]:
    ordered = tuple(sorted(rooms, key=lambda r: (r.floor, r.position_m, r.room_id)))
    ids = [r.room_id for r in ordered]
    if len(set(ids)) != len(ids):
        dup = next(i for k, i in enumerate(ids) if i in ids[k + 1 :])
        raise ValueError(f"room {dup!r} is listed twice among the free rooms")
    return ordered


def _floors_of(rooms: Sequence[FreeRoom], floors: tuple[int, int] | None) -> tuple[int, int]:
    if floors is not None:
        lo, hi = floors
        if lo > hi:
            raise ValueError(f"floors {floors} must be (lowest, highest)")
        return lo, hi
    if not rooms:
        return 0, 0
    return min(r.floor for r in rooms), max(r.floor for r in rooms)


def _waiting_costs(
    eta: npt.NDArray[np.float64], tier: npt.NDArray[np.float64], cols: Sequence[FreeRoom]
) -> FloatMatrix:
    """Waiting for the room: a flat cost per guest kept waiting, then minutes by tier.

    Unscheduled rooms count as ready (they are forbidden elsewhere). In place where it
    can be: a (n, m) temporary costs more than the arithmetic at these sizes.
    """
    ready = np.array([-np.inf if r.ready_at is None else r.ready_at for r in cols])
    wait = np.subtract.outer(-eta, -ready)  # ready - eta
    late = wait > 0.0
    np.maximum(wait, 0.0, out=wait)
    wait /= 60.0
    np.ceil(wait, out=wait)
    np.minimum(wait, LATE_MINUTES_CAP, out=wait)
    wait *= tier[:, None]
    wait += late * float(LATE_COST)
    return wait  # type: ignore[no-any-return]


def build_costs(
    arrivals: Iterable[Arrival],
    rooms: Iterable[FreeRoom],
    *,
    floors: tuple[int, int] | None = None,
) -> CostMatrix:
    """The cost matrix of arrivals × rooms (see the module doc), in solving order.

    ``floors`` is the property's (lowest, highest) guest floor, for high/low wishes;
    by default the range of the rooms given.
    """
    rows = _order_arrivals(arrivals)
    cols = _order_rooms(rooms)
    span = _floors_of(cols, floors)
    n, m = len(rows), len(cols)
    if n == 0 or m == 0:
        return CostMatrix(rows, cols, np.zeros((n, m)), span)

    # Rooms fall into few profiles (type, scheduled, floor half, side, lift, view, bed):
    # the wish costs are computed per arrival and profile, then gathered per room.
    mid = _mid_floor(span)
    profile_of: dict[tuple[object, ...], int] = {}
    room_profile = np.empty(m, dtype=np.intp)
    for j, r in enumerate(cols):
        key = (
            r.room_type,
            r.ready_at is not None,
            r.floor >= mid,
            r.floor <= mid,
            r.quiet,
            r.position_m <= LIFT_NEAR_M,
            r.view,
            r.bed_type,
        )
        room_profile[j] = profile_of.setdefault(key, len(profile_of))
    profiles = list(profile_of)
    types: dict[str, int] = {}
    p_type = _codes([str(p[0]) for p in profiles], types)
    a_type = _codes([a.room_type for a in rows], types)
    views: dict[str, int] = {}
    p_view = _codes([p[6] for p in profiles], views)  # type: ignore[misc]
    a_view = _codes([a.wishes.view for a in rows], views)
    beds: dict[str, int] = {}
    p_bed = _codes([p[7] for p in profiles], beds)  # type: ignore[misc]
    a_bed = _codes([a.wishes.bed_type for a in rows], beds)
    p_flags = np.array([p[1:6] for p in profiles], dtype=bool)
    p_scheduled, p_high, p_low, p_quiet, p_near = p_flags.T

    a_high = np.array([a.wishes.floor == "high" for a in rows], dtype=bool)
    a_low = np.array([a.wishes.floor == "low" for a in rows], dtype=bool)
    a_quiet = np.array([a.wishes.quiet for a in rows], dtype=bool)
    a_away = np.array([a.wishes.lift == "away" for a in rows], dtype=bool)
    a_near = np.array([a.wishes.lift == "near" for a in rows], dtype=bool)
    a_eta = np.array([a.eta for a in rows], dtype=np.float64)
    a_tier = np.array([TIER_WEIGHTS[a.tier] for a in rows], dtype=np.float64)

    # Missed wishes, weighted, per arrival and profile: (n, profiles).
    w = WISH_WEIGHTS
    miss = (a_high[:, None] & ~p_high[None, :]) | (a_low[:, None] & ~p_low[None, :])
    small = miss * float(w["floor"])
    small += (a_quiet[:, None] & ~p_quiet[None, :]) * float(w["quiet"])
    lift_miss = (a_away[:, None] & p_near[None, :]) | (a_near[:, None] & ~p_near[None, :])
    small += lift_miss * float(w["lift"])
    small += ((a_view[:, None] != 0) & (a_view[:, None] != p_view[None, :])) * float(w["view"])
    small += ((a_bed[:, None] != 0) & (a_bed[:, None] != p_bed[None, :])) * float(w["bed_type"])
    small *= a_tier[:, None]
    small[(a_type[:, None] != p_type[None, :]) | ~p_scheduled[None, :]] = np.inf
    cost: FloatMatrix = np.take(small, room_profile, axis=1)
    # Booked during a later night: dearer than any wait, but not infeasible, so that who
    # gets a room of the type stays first come, first served (`_first_come` counts rooms
    # per type); the gateway does not hold such a room (`ArrivalService._claimed`).
    column = {r.room_id: j for j, r in enumerate(cols)}
    for i, a in enumerate(rows):
        for room_id in a.unavailable:
            if room_id in column:
                cost[i, column[room_id]] += UNAVAILABLE_COST

    cost += _waiting_costs(a_eta, a_tier, cols)
    return CostMatrix(rows, cols, cost, span)


# ------------------------------------------------------------------------ recommend


def _no_room_reason(room_type: str, free: Sequence[FreeRoom], pinned: Sequence[FreeRoom]) -> str:
    """Why no arrival of this type can get a room (the type has no room that can be given)."""
    if any(r.room_type == room_type for r in free):
        return f"no free {room_type} room has cleaning scheduled"
    if any(r.room_type == room_type for r in pinned):
        return f"every free {room_type} room is pinned by the front desk"
    return f"no free {room_type} room"


_PINNED_WHY: Final[Mapping[RecommendationStatus, str]] = {
    RecommendationStatus.PINNED: "pinned by the front desk",
    RecommendationStatus.HELD: "held and being readied by the gateway (assign it in the PMS)",
}


def _read_pins(
    overrides: Iterable[Pin], arrivals: Sequence[Arrival]
) -> tuple[dict[str, str], dict[str, str]]:
    """(reservation id -> pinned room id, reservation id -> why its pin was set aside).

    Two arrivals pinned to one room: the one expected first keeps it, and the other is
    recommended a room like any arrival, told why (a desk's slip should not hold up
    the whole day's recommendation).
    """
    row = {a.reservation_id: i for i, a in enumerate(arrivals)}
    given = list(overrides)
    for pin in given:
        if pin.reservation_id not in row:
            raise ValueError(f"pin for reservation {pin.reservation_id!r}, not among arrivals")
    pins: dict[str, str] = {}
    holder: dict[str, str] = {}
    set_aside: dict[str, str] = {}
    desk_first = sorted(
        given, key=lambda p: (p.by is PinBy.GATEWAY, row[p.reservation_id], p.room_id)
    )
    for pin in desk_first:
        if pin.reservation_id in pins:
            raise ValueError(f"reservation {pin.reservation_id!r} is pinned twice")
        if pin.room_id in holder:
            set_aside[pin.reservation_id] = (
                f"pin to room {pin.room_id} set aside: also pinned for "
                f"{holder[pin.room_id]}, expected earlier"
            )
            continue
        pins[pin.reservation_id] = pin.room_id
        holder[pin.room_id] = pin.reservation_id
    return pins, set_aside


def _first_come(
    arrivals: Sequence[Arrival], free: Sequence[FreeRoom], pinned: Sequence[FreeRoom]
) -> tuple[list[Arrival], dict[str, str]]:
    """(served, left out with the reason): per type, the first arrivals rooms allow.

    A pair is forbidden only for a wrong type or an unscheduled room, so each type is
    a complete bipartite block: its first `capacity` arrivals can all be served, and
    those after them cannot, whatever the others get.
    """
    capacity: dict[str, int] = {}
    for room in free:
        if room.ready_at is not None:
            capacity[room.room_type] = capacity.get(room.room_type, 0) + 1
    served: list[Arrival] = []
    left_out: dict[str, str] = {}
    taken: dict[str, int] = {}
    for arrival in arrivals:
        kind = arrival.room_type
        cap = capacity.get(kind, 0)
        if taken.get(kind, 0) < cap:
            taken[kind] = taken.get(kind, 0) + 1
            served.append(arrival)
        elif cap == 0:
            left_out[arrival.reservation_id] = _no_room_reason(kind, free, pinned)
        else:
            left_out[arrival.reservation_id] = (
                f"more {kind} arrivals than {kind} rooms that can be given: the {cap} "
                f"{'room goes' if cap == 1 else 'rooms go'} to guests expected earlier"
            )
    return served, left_out


def _pinned(
    arrival: Arrival,
    room_id: str,
    room: FreeRoom | None,
    floors: tuple[int, int],
    status: RecommendationStatus,
) -> Recommendation:
    if room is None:
        return Recommendation(
            reservation_id=arrival.reservation_id,
            status=status,
            room_id=room_id,
            reason=f"{_PINNED_WHY[status]} (not among the free rooms)",
        )
    return _describe(arrival, room, floors, status, None)


def recommend(
    arrivals: Iterable[Arrival],
    rooms: Iterable[FreeRoom],
    overrides: Iterable[Pin] = (),
    *,
    floors: tuple[int, int] | None = None,
) -> list[Recommendation]:
    """The best free room for each arrival, solved for all of them at once.

    Returns one `Recommendation` per arrival, by ETA then reservation id. Pins in
    ``overrides`` are honoured first and their rooms are no longer free. Who gets a
    room at all is first come, first served: when a type has more arrivals than rooms
    that can be given, the ones expected last are left without (status
    ``unassigned``, with the reason). ``floors`` is the property's (lowest, highest)
    guest floor for high/low wishes (default: the range of the rooms given).

    Two arrivals pinned to one room: the one expected first keeps it; the other's pin
    is set aside (its reason says so) and it is recommended a room like the rest.

    Raises `ValueError` for a reservation or room listed twice, a pin for a reservation
    that is not among the arrivals, or two pins of one reservation.
    """
    all_arrivals = _order_arrivals(arrivals)
    all_rooms = _order_rooms(rooms)
    span = _floors_of(all_rooms, floors)
    given = list(overrides)
    pins, set_aside = _read_pins(given, all_arrivals)
    held = {
        p.reservation_id
        for p in given
        if p.by is PinBy.GATEWAY and pins.get(p.reservation_id) == p.room_id
    }
    free = [r for r in all_rooms if r.room_id not in pins.values()]
    pinned_rooms = {r.room_id: r for r in all_rooms if r.room_id in pins.values()}
    served, left_out = _first_come(
        [a for a in all_arrivals if a.reservation_id not in pins],
        free,
        list(pinned_rooms.values()),
    )

    problem = build_costs(served, free, floors=span)
    chosen: dict[str, tuple[FreeRoom, float]] = {}
    if problem.cost.size:
        result = solve(problem.cost)
        for i, j in zip(result.rows.tolist(), result.cols.tolist(), strict=True):
            pair_cost = float(problem.cost[i, j])
            chosen[problem.arrivals[i].reservation_id] = (problem.rooms[j], pair_cost)

    out: list[Recommendation] = []
    for arrival in all_arrivals:
        rid = arrival.reservation_id
        if rid in pins:
            status = RecommendationStatus.HELD if rid in held else RecommendationStatus.PINNED
            out.append(_pinned(arrival, pins[rid], pinned_rooms.get(pins[rid]), span, status))
        elif rid in chosen:
            room, pair_cost = chosen[rid]
            status = RecommendationStatus.RECOMMENDED
            out.append(_describe(arrival, room, span, status, pair_cost))
        else:
            out.append(
                Recommendation(
                    reservation_id=rid,
                    status=RecommendationStatus.UNASSIGNED,
                    room_id=None,
                    # Every served arrival gets a room of its block: a safe default only.
                    reason=left_out.get(rid, "no room could be given"),
                )
            )
        if rid in set_aside:
            out[-1] = out[-1].model_copy(update={"reason": f"{set_aside[rid]}; {out[-1].reason}"})
    return out


def _describe(
    arrival: Arrival,
    room: FreeRoom,
    floors: tuple[int, int],
    status: RecommendationStatus,
    cost: float | None,
) -> Recommendation:
    matched, missed = wish_check(arrival.wishes, room, floors)
    stated = len(matched) + len(missed)
    wait = None if room.ready_at is None else max(0.0, room.ready_at - arrival.eta)
    parts: list[str] = []
    if status in _PINNED_WHY:
        parts.append(_PINNED_WHY[status])
        if room.room_type != arrival.room_type:
            parts.append(f"a {room.room_type} room for a {arrival.room_type} booking")
    if room.ready_at is None:
        parts.append("no cleaning scheduled")
    elif wait:
        parts.append(f"ready {math.ceil(wait / 60)} min after the ETA")
    else:
        parts.append("ready before the ETA")
    if stated:
        parts.append(f"{len(matched)} of {stated} wishes met")
    else:
        parts.append("no stated wishes")
    return Recommendation(
        reservation_id=arrival.reservation_id,
        status=status,
        room_id=room.room_id,
        reason="; ".join(parts),
        fit=1.0 if stated == 0 else len(matched) / stated,
        matched=matched,
        missed=missed,
        ready_at=room.ready_at,
        wait_s=wait,
        cost=cost,
    )
