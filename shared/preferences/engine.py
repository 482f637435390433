"""The effective preferences of a guest: a pure function of their set of observations.

`effective_preferences(observations, now)` gives one `Preference` per key. It depends
only on the *set* of observations (by id) and `now`: any order, any duplication and any
merge of copies from different properties give the same result. `merge` is that set
union.

* Stays are ordered by their latest HLC stamp over all keys; rank 0 is the most recent.
  Stamps say when an observation was recorded, so a note entered months later about an
  old stay moves that stay forward: record a stay's observations by its check-out.
  Recency weights and the aggregation per value type: `shared.preferences.aggregate`.
* Which evidence decides (confirmed > observed > noted > declared, with the exceptions
  that make it useful): `shared.preferences.precedence`.
* `recently_changed`: the most recent stay with evidence for the key is one of the three
  most recent stays and, without that stay's evidence, the value would differ;
  `previous_value` says what it was (so staff do not bring the old pillow).
* `dormant`: the guest has not been in the house for more than 180 days before `now`. In
  the house means an observed or noted observation (a booking is not a stay); a guest
  never in the house is dated by their latest observation of any kind. A confirmation of
  the key within those 180 days clears the flag for that key: the next arrival asks the
  guest to confirm, and a confirmed key is not asked again.
* Copies of one id: observations are immutable, so two copies under one id with different
  content mean a bug or tampering. `merge` and `effective_preferences` both keep the copy
  with the highest stamp, then the highest SHA-256 of its canonical JSON: a total order,
  so every node makes the same choice whatever the order it saw them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import time
from fractions import Fraction
from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.preferences.aggregate import WINDOW, combine, votes
from shared.preferences.catalogue import KeySpec, PreferenceValue, TimeSpec, key_spec
from shared.preferences.observation import Observation, ObservationKind
from shared.preferences.precedence import Resolution, evidence, resolve

__all__ = ["DORMANT_AFTER_S", "Preference", "effective_preferences", "merge"]

DORMANT_AFTER_S: Final = 180 * 86_400  # "no stay for six months"
_DAY_S: Final = 86_400
_TIME: Final = TimeSpec()


class Preference(BaseModel):
    """The effective preference for one key, and why it is what it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    value: PreferenceValue
    time_of_day: time | None = None  # the usual time of a timed key's value
    source: ObservationKind  # the kind of evidence the value rests on
    # Share of the recency weight of that evidence which agrees with the value.
    confidence: float = Field(ge=0.0, le=1.0)
    weight: float = Field(ge=0.0)  # summed recency weight of the stays it rests on
    mismatch: bool = False
    recently_changed: bool = False
    dormant: bool = False
    previous_value: PreferenceValue | None = None  # what it was, when recently_changed
    stays: tuple[str, ...]  # the stays it rests on, most recent first
    why: str  # one line for staff


def merge(*logs: Iterable[Observation]) -> tuple[Observation, ...]:
    """The set union of observation logs by id, ordered by (stamp, id).

    Commutative, associative and idempotent, so copies can be merged in any order and
    re-sending is harmless.
    """
    return tuple(sorted(_dedupe(o for log in logs for o in log).values(), key=_order))


def effective_preferences(observations: Iterable[Observation], now: float) -> dict[str, Preference]:
    """One `Preference` per key the guest has observations for, in key order.

    `now` is POSIX seconds (`Clock.now()`). All observations must be of one guest (one
    pseudonym), else `ValueError`.
    """
    log = merge(observations)
    if not log:
        return {}
    guests = len({o.pseudonym for o in log})
    if guests > 1:
        # The count only: pseudonyms do not belong in messages that end up in logs.
        raise ValueError(f"observations of {guests} guests; preferences are per guest")
    ranks = _stay_ranks(log)
    in_house = _last_in_house(log)
    by_key: dict[str, list[Observation]] = {}
    for obs in log:
        by_key.setdefault(obs.key, []).append(obs)
    return {
        key: _preference(key_spec(key), by_key[key], ranks, now, in_house) for key in sorted(by_key)
    }


# ---- the log -------------------------------------------------------------------------


def _order(obs: Observation) -> tuple[tuple[int, int, str], UUID]:
    return (obs.stamp.order, obs.id)


def _dedupe(observations: Iterable[Observation]) -> dict[UUID, Observation]:
    kept: dict[UUID, Observation] = {}
    for obs in observations:
        other = kept.get(obs.id)
        if other is None or _wins(obs, other):
            kept[obs.id] = obs
    return kept


def _wins(obs: Observation, other: Observation) -> bool:
    """Whether `obs` replaces `other`, a copy under the same id: a total order."""
    if obs.stamp != other.stamp:
        return obs.stamp > other.stamp
    # Equal stamps: an honest re-send is equal and either copy will do; anything else is
    # decided by content, hashed only in this rare case.
    return obs != other and obs.digest() > other.digest()


def _stay_ranks(log: Sequence[Observation]) -> dict[str, int]:
    latest: dict[str, tuple[int, int, str]] = {}
    for obs in log:
        latest[obs.stay_id] = max(latest.get(obs.stay_id, obs.stamp.order), obs.stamp.order)
    ordered = sorted(latest, key=lambda stay: (latest[stay], stay), reverse=True)
    return {stay: rank for rank, stay in enumerate(ordered)}


def _last_in_house(log: Sequence[Observation]) -> float:
    in_house = [o for o in log if o.kind in (ObservationKind.OBSERVED, ObservationKind.NOTED)]
    return max(o.stamp for o in (in_house or log)).seconds


# ---- one key -------------------------------------------------------------------------


def _preference(
    spec: KeySpec,
    observations: Sequence[Observation],
    ranks: Mapping[str, int],
    now: float,
    in_house: float,
) -> Preference:
    resolution = resolve(spec, observations, ranks)
    previous = _previous(spec, observations, ranks)
    changed = previous is not None and not spec.value.same(previous.value, resolution.value)
    dormant = now - in_house > DORMANT_AFTER_S and not any(
        o.kind is ObservationKind.CONFIRMED and now - o.stamp.seconds <= DORMANT_AFTER_S
        for o in observations
    )
    when = _usual_time(spec, resolution, observations, ranks)
    head = spec.value.show(resolution.value) + (f" at {when:%H:%M}" if when else "")
    why = [f"{head} — {resolution.why}"]
    if changed and previous is not None:
        why.append(f"recently changed (was {spec.value.show(previous.value)})")
    if dormant:
        days = int((now - in_house) // _DAY_S)
        why.append(f"dormant: no stay for {days} days, ask the guest to confirm")
    return Preference(
        key=spec.key,
        value=resolution.value,
        time_of_day=when,
        source=resolution.source,
        confidence=float(resolution.confidence),
        weight=float(sum((v.weight for v in resolution.stays), Fraction(0))),
        mismatch=resolution.mismatch,
        recently_changed=changed,
        dormant=dormant,
        previous_value=previous.value if changed and previous is not None else None,
        stays=tuple(v.stay_id for v in resolution.stays),
        why="; ".join(why),
    )


def _previous(
    spec: KeySpec, observations: Sequence[Observation], ranks: Mapping[str, int]
) -> Resolution | None:
    """The value before the latest stay that spoke about the key, if that stay is recent."""
    latest = min(ranks[o.stay_id] for o in observations)
    if latest >= WINDOW:
        return None
    before = [o for o in observations if ranks[o.stay_id] != latest]
    return resolve(spec, before, ranks) if before else None


def _usual_time(
    spec: KeySpec,
    resolution: Resolution,
    observations: Sequence[Observation],
    ranks: Mapping[str, int],
) -> time | None:
    """For a timed key, the usual time of the winning value.

    Taken from the evidence that decided the value; if none of it carries a time, from
    any observation of the same value that does (a declared "warm milk at 23:00" still
    times the milk that behaviour has since confirmed).
    """
    if not spec.timed:
        return None
    matching = [
        replace(e, value=e.time_of_day)
        for e in resolution.decisive
        if e.time_of_day is not None and spec.value.same(e.value, resolution.value)
    ] or [
        evidence(o, o.time_of_day, ranks)
        for o in observations
        if o.time_of_day is not None and spec.value.same(o.value, resolution.value)
    ]
    if not matching:
        return None
    usual = combine(_TIME, votes(_TIME, matching))
    if not isinstance(usual, time):  # a TimeSpec always combines to a time
        raise TypeError(f"{spec.key}: usual time {usual!r} is not a time of day")
    return usual
