"""Benchmark of room choice: a day of 300 arrivals into 400 free rooms.

Run as ``python -m bench.room_choice [--seed N] [--repeats N]``. It prints the guests'
preference fit per loyalty tier for StaySync's recommendation
(`edge.arrival.room_choice.recommend`) and for the first free room (each arrival, by
ETA, takes the first free room of its type in room order that has cleaning
scheduled: what a desk does without help), and the time to solve the day's
assignment with the numba kernel (`edge.assignment.solve`) and with scipy's
``linear_sum_assignment`` on the same matrix, median of several solves; building the
matrix is timed apart. Exits 1 if scipy's optimum and the kernel's disagree.

The day (fixed seed): `PropertyLayout.generate` with 600 rooms (15 floors of 40), of
which 400 are free today (the others have stay-overs); the top two floors are sold
as "deluxe", the rest as "standard". Of the free rooms 45 % are ready in the morning,
50 % are cleaned between 10:00 and 17:00, and 5 % have no cleaning scheduled. ETAs fall
between 12:00 and 23:00, most in the afternoon. Wishes are drawn independently:
high floor 35 %, low floor 8 %, quiet side 30 %, away from the lift 25 %, near it 3 %,
a view 20 % (city or garden), a bed type 40 % (king or twin). Tiers: none 50 %,
silver 25 %, gold 17 %, platinum 8 %. Fit is the share of an arrival's stated wishes
that its room meets, over the arrivals that stated any; an arrival without a room
counts as 0. "All met by some room" is the ceiling for each arrival alone: a free room
of its type exists that meets every wish (quiet side and city view never go together
in the generated layout, nor a deluxe room and a low floor).

A second day has picky guests (``--picky 2``: every wish stated twice as often), so
that the rooms meeting some wishes run short and the tiers compete for them.

`run` and `format_table` are the API for other benchmarks (``bench/arrival.py``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from edge.arrival.room_choice import (
    Arrival,
    FreeRoom,
    LoyaltyTier,
    RoomWishes,
    build_costs,
    recommend,
    wish_check,
)
from edge.assignment import solve, warm_up
from shared.layout import PropertyLayout

__all__ = ["RoomChoiceResult", "TierFit", "format_table", "main", "make_day", "run"]

ARRIVALS = 300
FREE_ROOMS = 400
HOTEL_ROOMS = 600
DELUXE_FROM_FLOOR = 14
DAY0 = 1_780_000_000.0 - 1_780_000_000.0 % 86_400  # a midnight (UTC)
HOUR = 3600.0
REL_TOL = 1e-9
TIERS = (LoyaltyTier.NONE, LoyaltyTier.SILVER, LoyaltyTier.GOLD, LoyaltyTier.PLATINUM)
TIER_SHARES = (0.50, 0.25, 0.17, 0.08)


@dataclass(frozen=True)
class TierFit:
    """Fit of one tier's arrivals that stated wishes, for one method."""

    tier: str
    arrivals: int
    with_wishes: int
    mean_fit: float  # mean share of stated wishes met
    all_met: float  # share of arrivals with every stated wish met
    ready_by_eta: float  # share of all the tier's arrivals whose room is ready in time
    possible: float  # share of those with wishes for whom some room meets them all


@dataclass(frozen=True)
class RoomChoiceResult:
    seed: int
    picky: float  # how much more often than the base rates each wish is stated
    arrivals: int
    free_rooms: int
    repeats: int
    staysync: tuple[TierFit, ...]  # per tier, then "all"
    first_free: tuple[TierFit, ...]
    build_ms: float  # the cost matrix, median
    kernel_ms: float  # edge.assignment.solve on it, median
    scipy_ms: float  # scipy.optimize.linear_sum_assignment on it, median
    first_free_ms: float  # the first-free-room rule, median
    recommend_ms: float  # recommend() end to end (build, solve, describe), median
    kernel_total: float
    scipy_total: float
    first_free_total: float  # the same cost function on the first-free rooms

    @property
    def agree(self) -> bool:
        scale = max(1.0, abs(self.scipy_total))
        return abs(self.kernel_total - self.scipy_total) <= REL_TOL * scale


def make_day(seed: int = 1, picky: float = 1.0) -> tuple[list[Arrival], list[FreeRoom]]:
    """The benchmark's day: 300 arrivals and 400 free rooms (see the module doc).

    ``picky`` scales how often each wish is stated (2.0: twice as often, at most 95 %).
    """

    def p(share: float) -> float:
        return min(0.95, share * picky)

    rng = random.Random(seed)
    layout = PropertyLayout.generate("bench-rooms", HOTEL_ROOMS)
    free_layout = sorted(rng.sample(range(HOTEL_ROOMS), FREE_ROOMS))
    rooms: list[FreeRoom] = []
    for index in free_layout:
        room = layout.rooms[index]
        draw = rng.random()
        if draw < 0.45:
            ready: float | None = DAY0 + rng.uniform(7.0, 10.0) * HOUR
        elif draw < 0.95:
            ready = DAY0 + rng.uniform(10.0, 17.0) * HOUR
        else:
            ready = None
        free = FreeRoom.from_layout(room, ready_at=ready)
        kind = "deluxe" if room.floor >= DELUXE_FROM_FLOOR else "standard"
        rooms.append(free.model_copy(update={"room_type": kind}))
    deluxe_share = sum(r.room_type == "deluxe" for r in rooms) / len(rooms)
    arrivals: list[Arrival] = []
    for k in range(ARRIVALS):
        # Mostly afternoon: a triangular draw between 12:00 and 23:00, peak at 15:00.
        eta = DAY0 + rng.triangular(12.0, 23.0, 15.0) * HOUR
        draw = rng.random()
        floor = "high" if draw < p(0.35) else "low" if draw < p(0.35) + p(0.08) else None
        draw = rng.random()
        lift = "away" if draw < p(0.25) else "near" if draw < p(0.25) + p(0.03) else None
        view = rng.choice(("city", "garden")) if rng.random() < p(0.20) else None
        bed = rng.choices(("king", "twin"), (0.7, 0.3))[0] if rng.random() < p(0.40) else None
        wishes = RoomWishes(
            floor=floor,
            quiet=rng.random() < p(0.30),
            lift=lift,
            view=view,
            bed_type=bed,
        )
        arrivals.append(
            Arrival(
                reservation_id=f"RES{seed:03d}-{k:04d}",
                room_type="deluxe" if rng.random() < deluxe_share * 0.9 else "standard",
                eta=round(eta),
                tier=rng.choices(TIERS, TIER_SHARES)[0],
                wishes=wishes,
            )
        )
    return arrivals, rooms


def first_free(arrivals: Sequence[Arrival], rooms: Sequence[FreeRoom]) -> dict[str, FreeRoom]:
    """Each arrival by ETA takes the first free room of its type (scheduled) in room order."""
    queues: dict[str, list[FreeRoom]] = {}
    for room in rooms:  # room order: the layout's
        if room.ready_at is not None:
            queues.setdefault(room.room_type, []).append(room)
    heads = dict.fromkeys(queues, 0)
    out: dict[str, FreeRoom] = {}
    for arrival in sorted(arrivals, key=lambda a: (a.eta, a.reservation_id)):
        kind = arrival.room_type
        k = heads.get(kind, 0)
        queue = queues.get(kind, [])
        if k < len(queue):
            out[arrival.reservation_id] = queue[k]
            heads[kind] = k + 1
    return out


def _all_possible(a: Arrival, rooms: Sequence[FreeRoom], floors: tuple[int, int]) -> bool:
    """Whether some free room of the arrival's type, cleaning scheduled, meets every wish."""
    return any(
        not wish_check(a.wishes, r, floors)[1]
        for r in rooms
        if r.room_type == a.room_type and r.ready_at is not None
    )


def _tier_fits(
    arrivals: Sequence[Arrival],
    given: dict[str, FreeRoom],
    rooms: Sequence[FreeRoom],
    floors: tuple[int, int],
) -> tuple[TierFit, ...]:
    rows: list[TierFit] = []
    for tier in (*TIERS, None):
        group = [a for a in arrivals if tier is None or a.tier is tier]
        fits: list[float] = []
        possible = 0
        ready = 0
        for a in group:
            room = given.get(a.reservation_id)
            if room is not None and room.ready_at is not None and room.ready_at <= a.eta:
                ready += 1
            if a.wishes.stated == 0:
                continue
            possible += _all_possible(a, rooms, floors)
            if room is None:
                fits.append(0.0)
                continue
            matched, missed = wish_check(a.wishes, room, floors)
            fits.append(len(matched) / (len(matched) + len(missed)))
        rows.append(
            TierFit(
                tier="all" if tier is None else tier.value,
                arrivals=len(group),
                with_wishes=len(fits),
                mean_fit=statistics.fmean(fits) if fits else 1.0,
                all_met=sum(f == 1.0 for f in fits) / len(fits) if fits else 1.0,
                ready_by_eta=ready / len(group) if group else 1.0,
                possible=possible / len(fits) if fits else 1.0,
            )
        )
    return tuple(rows)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def _scipy_total(cost: npt.NDArray[np.float64]) -> float:
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum())


def run(seed: int = 1, repeats: int = 9, picky: float = 1.0) -> RoomChoiceResult:
    """Measure one day (see the module doc); `repeats` solves per method, median."""
    warm_up()
    arrivals, rooms = make_day(seed, picky)
    recs = recommend(arrivals, rooms)
    by_id = {r.room_id: r for r in rooms}
    ours = {r.reservation_id: by_id[r.room_id] for r in recs if r.room_id is not None}
    theirs = first_free(arrivals, rooms)
    problem = build_costs(arrivals, rooms)
    cost = problem.cost
    if len(ours) != len(arrivals):
        raise RuntimeError("the benchmark day must have a room for every arrival")

    kernel = solve(cost)
    scipy_total = _scipy_total(cost)
    row = {a.reservation_id: i for i, a in enumerate(problem.arrivals)}
    col = {r.room_id: j for j, r in enumerate(problem.rooms)}
    ff_total = float(sum(cost[row[a], col[r.room_id]] for a, r in theirs.items()))

    build_ms = _median_ms(lambda: build_costs(arrivals, rooms), repeats)
    kernel_ms = _median_ms(lambda: solve(cost), repeats)
    scipy_ms = _median_ms(lambda: linear_sum_assignment(cost), repeats)
    ff_ms = _median_ms(lambda: first_free(arrivals, rooms), repeats)
    rec_ms = _median_ms(lambda: recommend(arrivals, rooms), repeats)
    return RoomChoiceResult(
        seed=seed,
        picky=picky,
        arrivals=len(arrivals),
        free_rooms=len(rooms),
        repeats=repeats,
        staysync=_tier_fits(arrivals, ours, rooms, problem.floors),
        first_free=_tier_fits(arrivals, theirs, rooms, problem.floors),
        build_ms=build_ms,
        kernel_ms=kernel_ms,
        scipy_ms=scipy_ms,
        first_free_ms=ff_ms,
        recommend_ms=rec_ms,
        kernel_total=kernel.total_cost,
        scipy_total=scipy_total,
        first_free_total=ff_total,
    )


def format_table(result: RoomChoiceResult) -> str:
    """The result as Markdown tables, as printed by ``python -m bench.room_choice``."""
    r = result
    lines = [
        f"Room choice: {r.arrivals} arrivals into {r.free_rooms} free rooms "
        f"(seed {r.seed}, wishes ×{r.picky:g} the base rates, median of {r.repeats})",
        "",
        "| tier | arrivals | with wishes | mean fit StaySync | mean fit first-free "
        "| all wishes met StaySync | all wishes met first-free | all met by some room "
        "| ready by ETA StaySync | ready by ETA first-free |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ours, theirs in zip(r.staysync, r.first_free, strict=True):
        lines.append(
            f"| {ours.tier} | {ours.arrivals} | {ours.with_wishes} "
            f"| {ours.mean_fit:.0%} | {theirs.mean_fit:.0%} "
            f"| {ours.all_met:.0%} | {theirs.all_met:.0%} | {ours.possible:.0%} "
            f"| {ours.ready_by_eta:.0%} | {theirs.ready_by_eta:.0%} |"
        )
    verdict = "agree" if r.agree else "DISAGREE"
    lines += [
        "",
        "| step | median ms | total cost |",
        "|---|---:|---:|",
        f"| build the cost matrix ({r.arrivals}×{r.free_rooms}) | {r.build_ms:.2f} | |",
        f"| solve: StaySync (numba kernel) | {r.kernel_ms:.2f} | {r.kernel_total:,.0f} |",
        f"| solve: scipy linear_sum_assignment | {r.scipy_ms:.2f} | {r.scipy_total:,.0f} |",
        f"| first free room | {r.first_free_ms:.2f} | {r.first_free_total:,.0f} |",
        f"| recommend() end to end | {r.recommend_ms:.2f} | |",
        "",
        f"Optimum: StaySync and scipy {verdict} "
        f"(kernel ÷ scipy solve time {r.kernel_ms / r.scipy_ms:.2f}). Fit: share of an "
        "arrival's stated wishes its room meets, over arrivals with wishes; \"all met by "
        'some room": a free room of the type meets them all (the ceiling: some wishes '
        "contradict each other, e.g. quiet side and city view).",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--picky",
        type=float,
        action="append",
        help="scale of the wish rates; repeatable (default: 1 and 2, a day of picky guests)",
    )
    args = parser.parse_args(argv)
    ok = True
    for k, picky in enumerate(args.picky or [1.0, 2.0]):
        result = run(seed=args.seed, repeats=args.repeats, picky=picky)
        print(("\n" if k else "") + format_table(result))
        ok = ok and result.agree
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
