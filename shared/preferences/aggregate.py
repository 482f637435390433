"""Recency weights and the arithmetic that turns several stays' values into one.

Each stay speaks with one voice per key (`Vote`): the observations of one stay are first
reduced to that stay's value (`reduce_stay`), so a guest who touches the thermostat forty
times in one stay does not outvote three stays. The stays' votes are then combined with
recency weights (`combine`) in the way the key's spec asks for (see
`shared.preferences.catalogue`).

All weights are exact fractions and every tie has an explicit, total tie-break, so the
result depends only on the set of observations, never on their order: floating-point
sums would differ in the last bit with the order of addition.

**Stay weights** (rank 0 = the guest's most recent stay, ordered by the stays' latest
HLC stamps): 1, 1/2, 1/4 for the three most recent stays, then 1/40, 1/400, ... (each
older stay a tenth of the next more recent one). Each weight is larger than all older weights
together, so

* the three most recent stays outweigh all older stays (1.75 against less than 0.028);
* in a weighted vote the most recent stay that has a say decides, and older stays only
  break its ties: a change (down → latex pillow) becomes current at once;
* in a weighted mean recent stays dominate but older ones still pull a little
  (24, 24, then 25 °C in the latest stay gives 24.5, not 25).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from fractions import Fraction
from types import MappingProxyType
from typing import Final

from shared.preferences.catalogue import (
    MINUTES_PER_DAY,
    Aggregation,
    CountSpec,
    NumberSpec,
    PreferenceValue,
    ValueSpec,
    minute_of_day,
)
from shared.preferences.observation import ObservationKind

__all__ = [
    "AUTHORITY",
    "OLDER_DECAY",
    "RECENT_WEIGHTS",
    "WINDOW",
    "Evidence",
    "Vote",
    "combine",
    "reduce_stay",
    "stay_weight",
    "votes",
]

WINDOW: Final = 3  # "the last three stays"
RECENT_WEIGHTS: Final = (Fraction(1), Fraction(1, 2), Fraction(1, 4))
OLDER_DECAY: Final = Fraction(1, 10)


# Within one stay, the more authoritative kind of evidence is the stay's voice.
AUTHORITY: Final[Mapping[ObservationKind, int]] = MappingProxyType(
    {
        ObservationKind.DECLARED: 0,
        ObservationKind.NOTED: 1,
        ObservationKind.OBSERVED: 2,
        ObservationKind.CONFIRMED: 3,
    }
)


def stay_weight(rank: int) -> Fraction:
    """The weight of the guest's `rank`-th most recent stay (0 = the latest)."""
    if rank < 0:
        raise ValueError(f"stay rank {rank} is negative")
    if rank < WINDOW:
        return RECENT_WEIGHTS[rank]
    return RECENT_WEIGHTS[-1] * OLDER_DECAY ** (rank - WINDOW + 1)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation's say about one value (a tag's yes/no is evidence of its own)."""

    stay_id: str
    rank: int
    kind: ObservationKind
    # (HLC order, observation id): total, so "the latest" is always one observation.
    order: tuple[tuple[int, int, str], str]
    value: PreferenceValue
    time_of_day: time | None = None


@dataclass(frozen=True, slots=True)
class Vote:
    """One stay's value for one key, with the stay's recency weight."""

    stay_id: str
    rank: int
    weight: Fraction
    kind: ObservationKind
    value: PreferenceValue


def votes(spec: ValueSpec, evidence: Sequence[Evidence]) -> tuple[Vote, ...]:
    """One vote per stay, most recent stay first.

    Within a stay only the most authoritative kind present counts (a staff note over the
    booking form of the same stay); callers pass evidence of one class at a time.
    """
    by_stay: dict[str, list[Evidence]] = {}
    for item in evidence:
        by_stay.setdefault(item.stay_id, []).append(item)
    result = []
    for stay_id, items in by_stay.items():
        top = max(AUTHORITY[item.kind] for item in items)
        kept = sorted((i for i in items if AUTHORITY[i.kind] == top), key=lambda i: i.order)
        rank = kept[0].rank
        result.append(Vote(stay_id, rank, stay_weight(rank), kept[0].kind, reduce_stay(spec, kept)))
    return tuple(sorted(result, key=lambda v: (v.rank, v.stay_id)))


def _unwrap(minutes: int, reference: int) -> int:
    """`minutes` moved by whole days to lie within 12 hours of `reference`."""
    return (
        reference
        + (minutes - reference + MINUTES_PER_DAY // 2) % MINUTES_PER_DAY
        - (MINUTES_PER_DAY // 2)
    )


def _as_time(minutes: int) -> time:
    hours, mins = divmod(minutes % MINUTES_PER_DAY, 60)
    return time(hours, mins)


def _minutes(value: PreferenceValue) -> int:
    if not isinstance(value, time):
        raise TypeError(f"{value!r} is not a time of day")
    return minute_of_day(value)


def reduce_stay(spec: ValueSpec, items: Sequence[Evidence]) -> PreferenceValue:
    """The value of one stay from its evidence (sorted by `order`, oldest first).

    Numbers: the lower median (a real setting, robust to a one-off). Times: the same on
    the circle, around the stay's latest time. Choices: the most frequent, a tie going to
    the latest.
    """
    match spec.aggregation:
        case Aggregation.WEIGHTED_MEAN:
            values = sorted(_number(item.value) for item in items)
            return _typed(spec, values[(len(values) - 1) // 2])
        case Aggregation.CIRCULAR_MEAN:
            reference = _minutes(items[-1].value)
            minutes = sorted(_unwrap(_minutes(item.value), reference) for item in items)
            return _as_time(minutes[(len(minutes) - 1) // 2])
        case Aggregation.WEIGHTED_VOTE:
            counts: dict[PreferenceValue, int] = {}
            latest: dict[PreferenceValue, int] = {}
            for position, item in enumerate(items):
                counts[item.value] = counts.get(item.value, 0) + 1
                latest[item.value] = position
            return max(counts, key=lambda value: (counts[value], latest[value]))
        case Aggregation.TAG_UNION:
            raise TypeError("tags are decided one tag at a time, as yes/no votes")


def combine(spec: ValueSpec, stay_votes: Sequence[Vote]) -> PreferenceValue:
    """The stays' votes (most recent first, non-empty) as one value, by recency weight."""
    total = sum((v.weight for v in stay_votes), Fraction(0))
    match spec.aggregation:
        case Aggregation.WEIGHTED_MEAN:
            mean = sum((v.weight * _number(v.value) for v in stay_votes), Fraction(0)) / total
            return _round(spec, mean)
        case Aggregation.CIRCULAR_MEAN:
            # Unwrapped around the latest stay's time, so 23:30 and 00:30 meet at midnight.
            reference = _minutes(stay_votes[0].value)
            offset = (
                sum(
                    (v.weight * (_unwrap(_minutes(v.value), reference) - reference))
                    for v in stay_votes
                )
                / total
            )
            return _as_time(reference + round(offset))
        case Aggregation.WEIGHTED_VOTE:
            tally: dict[PreferenceValue, Fraction] = {}
            for v in stay_votes:
                tally[v.value] = tally.get(v.value, Fraction(0)) + v.weight
            best = max(tally.values())
            # An exact tie goes to the value of the most recent stay among the tied.
            return next(v.value for v in stay_votes if tally[v.value] == best)
        case Aggregation.TAG_UNION:
            raise TypeError("tags are decided one tag at a time, as yes/no votes")


def _number(value: PreferenceValue) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return Fraction(value)


def _typed(spec: ValueSpec, value: Fraction) -> PreferenceValue:
    return int(value) if isinstance(spec, CountSpec) else float(value)


def _round(spec: ValueSpec, mean: Fraction) -> PreferenceValue:
    if isinstance(spec, NumberSpec):
        step = Fraction(spec.step)
        # round() on a Fraction rounds half to even: exact, and the same everywhere.
        stepped = round(mean / step) * step
        return float(min(max(stepped, Fraction(spec.minimum)), Fraction(spec.maximum)))
    if isinstance(spec, CountSpec):
        return min(max(round(mean), spec.minimum), spec.maximum)
    raise TypeError(f"{type(spec).__name__} has no mean")
