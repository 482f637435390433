"""Room choice for the day's arrivals (`edge.arrival.room_choice`)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from edge.arrival.room_choice import (
    LATE_COST,
    LATE_MINUTES_CAP,
    TIER_WEIGHTS,
    WISH_WEIGHTS,
    Arrival,
    FreeRoom,
    LoyaltyTier,
    Pin,
    RecommendationStatus,
    RoomWishes,
    build_costs,
    fit,
    recommend,
    wish_check,
    wishes_from_preferences,
)
from edge.assignment import solve
from shared.layout import PropertyLayout
from shared.preferences import validate

DAY0 = 1_780_000_000.0  # some midnight-ish POSIX time
TYPES = ("standard", "deluxe", "suite")
TIERS = tuple(LoyaltyTier)


def _room(room_id: str, **kw: object) -> FreeRoom:
    fields: dict[str, object] = {
        "room_type": "standard",
        "floor": 1,
        "position_m": 30.0,
        "ready_at": DAY0,
    }
    fields.update(kw)
    return FreeRoom(room_id=room_id, **fields)


def _arrival(rid: str, eta_h: float = 15.0, **kw: object) -> Arrival:
    fields: dict[str, object] = {"room_type": "standard", "eta": DAY0 + eta_h * 3600}
    fields.update(kw)
    return Arrival(reservation_id=rid, **fields)


def _random_day(
    seed: int, n_arrivals: int, n_rooms: int, *, enough: bool
) -> tuple[list[Arrival], list[FreeRoom]]:
    """Arrivals and free rooms of three types; `enough`: every type has room for all."""
    rng = random.Random(seed)
    layout = PropertyLayout.generate(f"day{seed}", n_rooms, rooms_per_floor=12)
    rooms = []
    for room in layout.rooms:
        ready = rng.choice([DAY0, DAY0 + 12 * 3600, DAY0 + 16 * 3600, DAY0 + 20 * 3600, None])
        free = FreeRoom.from_layout(room, ready_at=ready)
        rooms.append(free.model_copy(update={"room_type": rng.choice(TYPES)}))
    arrivals = []
    for k in range(n_arrivals):
        wishes = RoomWishes(
            floor=rng.choice([None, None, "high", "low"]),
            quiet=rng.random() < 0.3,
            lift=rng.choice([None, None, None, "away", "near"]),
            view=rng.choice([None, None, "city", "garden"]),
            bed_type=rng.choice([None, "king", "twin"]),
        )
        arrivals.append(
            Arrival(
                reservation_id=f"R{k:04d}",
                room_type=rng.choice(TYPES),
                # Whole minutes from noon: many ETAs tie, which the order must settle.
                eta=DAY0 + 12 * 3600 + rng.randrange(0, 10 * 60, 15) * 60,
                tier=rng.choice(list(LoyaltyTier)),
                wishes=wishes,
            )
        )
    if enough:
        by_type = {
            t: sum(r.room_type == t and r.ready_at is not None for r in rooms) for t in TYPES
        }
        kept, used = [], dict.fromkeys(TYPES, 0)
        for a in arrivals:
            if used[a.room_type] < by_type[a.room_type]:
                used[a.room_type] += 1
                kept.append(a)
        arrivals = kept
    return arrivals, rooms


def _scipy_optimum(cost: np.ndarray) -> tuple[int, float]:
    """(pairs, total) of the cheapest assignment with the most pairs, via big-M."""
    big = 1e12
    padded = np.where(np.isinf(cost), big, cost)
    r, c = linear_sum_assignment(padded)
    keep = padded[r, c] < big
    return int(keep.sum()), float(padded[r, c][keep].sum())


@pytest.mark.parametrize("seed", range(6))
def test_the_optimum_equals_scipys(seed: int) -> None:
    arrivals, rooms = _random_day(seed, n_arrivals=60, n_rooms=80, enough=True)
    problem = build_costs(arrivals, rooms)
    pairs, total = _scipy_optimum(problem.cost)
    assert pairs == len(arrivals)

    recs = recommend(arrivals, rooms)
    assert all(r.status is RecommendationStatus.RECOMMENDED for r in recs)
    assert sum(r.cost or 0.0 for r in recs) == pytest.approx(total, abs=1e-9)


_WISH_OF_WORDS = {
    "high floor": "floor",
    "low floor": "floor",
    "quiet side": "quiet",
    "away from the lift": "lift",
    "near the lift": "lift",
}


def _pair_cost(arrival: Arrival, room: FreeRoom, floors: tuple[int, int]) -> float:
    """The module doc's cost of one pair, computed the slow way."""
    if room.room_type != arrival.room_type or room.ready_at is None:
        return float("inf")
    tier = TIER_WEIGHTS[arrival.tier]
    _, missed = wish_check(arrival.wishes, room, floors)
    cost = 0.0
    for words in missed:
        wish = _WISH_OF_WORDS.get(words) or ("view" if words.endswith(" view") else "bed_type")
        cost += WISH_WEIGHTS[wish] * tier
    wait = room.ready_at - arrival.eta
    if wait > 0:
        minutes = min(-(-wait // 60), LATE_MINUTES_CAP)
        cost += LATE_COST + minutes * tier
    return cost


@pytest.mark.parametrize("seed", range(3))
def test_the_vectorised_matrix_equals_the_pairwise_cost(seed: int) -> None:
    arrivals, rooms = _random_day(300 + seed, n_arrivals=40, n_rooms=50, enough=False)
    # Some arrivals before every room is ready, and odd ETAs: waits of every length.
    arrivals += [
        _arrival(f"E{k}", eta_h=k * 1.37, room_type=TYPES[k % 3], tier=TIERS[k % 4])
        for k in range(12)
    ]
    problem = build_costs(arrivals, rooms)
    expected = np.array(
        [[_pair_cost(a, r, problem.floors) for r in problem.rooms] for a in problem.arrivals]
    )
    np.testing.assert_array_equal(problem.cost, expected)


@pytest.mark.parametrize("seed", range(4))
def test_the_kernel_matches_scipy_when_rooms_run_short(seed: int) -> None:
    arrivals, rooms = _random_day(100 + seed, n_arrivals=90, n_rooms=60, enough=False)
    cost = build_costs(arrivals, rooms).cost
    result = solve(cost)
    assert (len(result), result.total_cost) == pytest.approx(_scipy_optimum(cost))


@pytest.mark.parametrize("seed", range(4))
def test_room_type_is_never_violated_and_no_room_is_given_twice(seed: int) -> None:
    arrivals, rooms = _random_day(200 + seed, n_arrivals=90, n_rooms=60, enough=False)
    by_id = {r.room_id: r for r in rooms}
    recs = recommend(arrivals, rooms)
    assert [r.reservation_id for r in recs] == [
        a.reservation_id for a in sorted(arrivals, key=lambda a: (a.eta, a.reservation_id))
    ]
    given = [r.room_id for r in recs if r.room_id is not None]
    assert len(given) == len(set(given))
    want = {a.reservation_id: a.room_type for a in arrivals}
    for rec in recs:
        if rec.room_id is not None:
            room = by_id[rec.room_id]
            assert room.room_type == want[rec.reservation_id]
            assert room.ready_at is not None
            assert rec.fit is not None
            assert 0.0 <= rec.fit <= 1.0
        else:
            assert rec.status is RecommendationStatus.UNASSIGNED
            assert rec.reason


def test_the_answer_does_not_depend_on_the_input_order() -> None:
    arrivals, rooms = _random_day(7, n_arrivals=50, n_rooms=60, enough=False)
    first = recommend(arrivals, rooms)
    rng = random.Random(1)
    rng.shuffle(arrivals)
    rng.shuffle(rooms)
    assert recommend(arrivals, rooms) == first


def test_a_pin_is_respected_and_its_room_is_no_longer_free() -> None:
    rooms = [_room("101", quiet=True), _room("102")]
    arrivals = [
        _arrival("A", eta_h=14, wishes=RoomWishes(quiet=True)),
        _arrival("B", eta_h=15),
    ]
    assert recommend(arrivals, rooms)[0].room_id == "101"  # A wants the quiet one

    recs = recommend(arrivals, rooms, [Pin(reservation_id="B", room_id="101")])
    by_id = {r.reservation_id: r for r in recs}
    assert by_id["B"].status is RecommendationStatus.PINNED
    assert by_id["B"].room_id == "101"
    assert by_id["B"].reason.startswith("pinned by the front desk")
    assert by_id["A"].room_id == "102"
    assert by_id["A"].missed == ("quiet side",)
    assert by_id["A"].fit == 0.0


def test_a_pin_outside_the_free_rooms_is_kept_and_a_pinned_out_type_is_explained() -> None:
    rooms = [_room("201", room_type="suite")]
    arrivals = [_arrival("A", room_type="suite"), _arrival("B", eta_h=16, room_type="suite")]
    recs = recommend(
        arrivals,
        rooms,
        [Pin(reservation_id="A", room_id="999"), Pin(reservation_id="B", room_id="201")],
    )
    assert [(r.room_id, r.status) for r in recs] == [
        ("999", RecommendationStatus.PINNED),
        ("201", RecommendationStatus.PINNED),
    ]
    recs = recommend(arrivals, rooms, [Pin(reservation_id="A", room_id="201")])
    assert recs[1].status is RecommendationStatus.UNASSIGNED
    assert recs[1].reason == "every free suite room is pinned by the front desk"


def test_two_pins_of_one_room_the_earlier_arrival_keeps_it() -> None:
    rooms = [_room("101"), _room("102")]
    arrivals = [_arrival("A", eta_h=16), _arrival("B", eta_h=14)]
    pins = [Pin(reservation_id="A", room_id="101"), Pin(reservation_id="B", room_id="101")]
    b, a = recommend(arrivals, rooms, pins)
    assert (b.reservation_id, b.status, b.room_id) == ("B", RecommendationStatus.PINNED, "101")
    assert (a.status, a.room_id) == (RecommendationStatus.RECOMMENDED, "102")
    assert a.reason.startswith("pin to room 101 set aside: also pinned for B, expected earlier;")


def test_pins_that_cannot_hold_are_refused() -> None:
    rooms = [_room("101"), _room("102")]
    arrivals = [_arrival("A"), _arrival("B")]
    with pytest.raises(ValueError, match="not among arrivals"):
        recommend(arrivals, rooms, [Pin(reservation_id="Z", room_id="101")])
    with pytest.raises(ValueError, match="reservation 'A' is pinned twice"):
        recommend(
            arrivals,
            rooms,
            [Pin(reservation_id="A", room_id="101"), Pin(reservation_id="A", room_id="102")],
        )
    with pytest.raises(ValueError, match="listed twice"):
        recommend([_arrival("A"), _arrival("A", eta_h=9)], rooms)


def test_a_higher_tier_gets_the_scarce_wish() -> None:
    rooms = [_room("101", quiet=True), _room("102")]
    first = _arrival("A", eta_h=13, wishes=RoomWishes(quiet=True))
    later = _arrival("B", eta_h=17, wishes=RoomWishes(quiet=True))
    # Same tier: first come, first served.
    assert [r.room_id for r in recommend([first, later], rooms)] == ["101", "102"]
    gold = later.model_copy(update={"tier": LoyaltyTier.GOLD})
    recs = recommend([first, gold], rooms)
    assert [r.room_id for r in recs] == ["102", "101"]
    assert recs[1].matched == ("quiet side",)
    assert recs[1].fit == 1.0


def test_a_room_not_ready_in_time_is_not_given_when_a_ready_one_exists() -> None:
    eta_h = 15.0
    rooms = [
        # First in room order and meets every wish, but cleaned an hour after the ETA.
        _room("101", floor=1, quiet=True, view="garden", ready_at=DAY0 + (eta_h + 1) * 3600),
        _room("501", floor=5, ready_at=DAY0 + 9 * 3600),
    ]
    wishes = RoomWishes(floor="low", quiet=True, view="garden", bed_type="king")
    rec = recommend([_arrival("A", eta_h=eta_h, tier=LoyaltyTier.PLATINUM, wishes=wishes)], rooms)[
        0
    ]
    assert rec.room_id == "501"
    assert rec.wait_s == 0.0
    assert "ready before the ETA" in rec.reason
    # Alone, the late room is given (better a wait than no room), and says so.
    rec = recommend([_arrival("A", eta_h=eta_h, wishes=wishes)], rooms[:1])[0]
    assert rec.room_id == "101"
    assert rec.wait_s == 3600.0
    assert "ready 60 min after the ETA" in rec.reason
    assert rec.cost is not None
    assert rec.cost >= LATE_COST


def test_a_room_with_no_cleaning_scheduled_is_never_given() -> None:
    rooms = [_room("101", ready_at=None)]
    rec = recommend([_arrival("A")], rooms)[0]
    assert rec.status is RecommendationStatus.UNASSIGNED
    assert rec.reason == "no free standard room has cleaning scheduled"
    rec = recommend([_arrival("A", room_type="suite")], rooms)[0]
    assert rec.reason == "no free suite room"


def test_more_arrivals_than_rooms_leaves_the_last_come_unassigned() -> None:
    rooms = [_room("101"), _room("102", quiet=True)]
    arrivals = [
        # The last one comes first in id order and is platinum: neither buys a room.
        _arrival("A", eta_h=18, tier=LoyaltyTier.PLATINUM, wishes=RoomWishes(quiet=True)),
        _arrival("B", eta_h=14),
        _arrival("C", eta_h=14, wishes=RoomWishes(view="sea")),  # a wish nobody meets
    ]
    recs = recommend(arrivals, rooms)
    assert [r.reservation_id for r in recs] == ["B", "C", "A"]
    assert [r.room_id for r in recs] == ["101", "102", None]
    assert recs[2].status is RecommendationStatus.UNASSIGNED
    assert recs[2].reason == (
        "more standard arrivals than standard rooms that can be given: "
        "the 2 rooms go to guests expected earlier"
    )


def test_fit_is_the_share_of_stated_wishes_met() -> None:
    room = _room("901", floor=9, position_m=40.0, view="city", bed_type="twin")
    floors = (1, 10)
    assert fit(RoomWishes(), room, floors) == 1.0
    wishes = RoomWishes(floor="high", quiet=True, lift="away", view="city", bed_type="king")
    assert fit(wishes, room, floors) == pytest.approx(3 / 5)
    assert fit(RoomWishes(floor="low"), room, floors) == 0.0
    assert fit(RoomWishes(lift="near"), room.model_copy(update={"position_m": 9.0}), floors) == 1


def test_wishes_come_from_catalogue_preferences() -> None:
    raw = {
        "room.floor": "high",
        "room.quiet": "quiet",
        "room.lift": "any",
        "room.view": "garden",
        "room.bed_type": "twin",
        "room.temperature_c": 22.0,
    }
    values = {key: validate(key, value) for key, value in raw.items()}
    assert wishes_from_preferences(values) == RoomWishes(
        floor="high", quiet=True, view="garden", bed_type="twin"
    )
    assert wishes_from_preferences({}) == RoomWishes()


def test_generated_rooms_have_plausible_deterministic_attributes() -> None:
    layout = PropertyLayout.generate("h", 400)
    assert layout == PropertyLayout.generate("h", 400)
    rooms = layout.rooms
    assert {r.quiet for r in rooms} == {True, False}
    assert {r.bed_type for r in rooms} == {"king", "twin"}
    assert {r.view for r in rooms} == {None, "city", "garden"}
    assert all(r.view != "city" or (not r.quiet and r.floor > 5) for r in rooms)
    assert all(r.room_type == "standard" for r in rooms)
    assert layout.room("1001").view == "city"
    assert layout.room("101").view is None
