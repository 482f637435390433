"""Which evidence decides a key: the guest's confirmation, then behaviour, then words.

Precedence, per key (highest first):

1. **confirmed** by the guest. The latest confirmation (by stamp) is the value, above every
   declaration, every staff note and the behaviour of its own and earlier stays. It is
   overturned only by **observed behaviour in a later stay** that differs from it: the
   guest said so, then lived otherwise, and the living is newer. The value is then that
   later behaviour, flagged `mismatch`. Behaviour from the confirmation's stay on that
   differs from a confirmation that holds also raises `mismatch`, for staff to ask.
2. **observed** behaviour beats words. If the recent window (the three most recent stays)
   holds observed evidence for the key, the value is the weighted aggregate of all
   observed evidence. If the window also holds words that aggregate to a different value,
   `mismatch` is raised ("booking differs from behaviour").
3. **noted** by staff and **declared** at booking are both words. Across stays recency
   decides (a newer request replaces an older one); within one stay a staff note outranks
   the booking form, since it was made with the guest in the house. Words decide when the
   recent window holds no behaviour for the key.

When the recent window says nothing about a key, the same order applies to older stays
(behaviour, else words). Weights and aggregation: `shared.preferences.aggregate`.

Sets of tags: every tag is decided on its own, by the rules above, as a yes (asserted) or
no (withdrawn) vote; the value is the sorted tuple of tags still asserted. *Sticky* tags
(allergies) are not voted on: an allergy asserted by anyone stays until the guest withdraws
it themself (declared or confirmed) with a stamp later than its latest assertion. A
withdrawal by staff or from a device leaves it in place and raises `mismatch`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from types import MappingProxyType
from typing import Final

from shared.preferences.aggregate import (
    AUTHORITY,
    WINDOW,
    Evidence,
    Vote,
    combine,
    stay_weight,
    votes,
)
from shared.preferences.catalogue import (
    WITHDRAW,
    ChoiceSpec,
    KeySpec,
    PreferenceValue,
    TagsSpec,
    ValueSpec,
)
from shared.preferences.observation import Observation, ObservationKind

__all__ = ["SOURCE_WORDS", "Resolution", "evidence", "resolve"]

_K = ObservationKind
# A tag's yes/no is decided as a vote between two values; ChoiceSpec gives the vote.
_YES_NO: Final = ChoiceSpec(options=())
_GUEST_OWN_WORDS: Final = (_K.DECLARED, _K.CONFIRMED)
SOURCE_WORDS: Final[Mapping[ObservationKind, str]] = MappingProxyType(
    {
        _K.DECLARED: "declared at booking",
        _K.NOTED: "noted by staff",
        _K.OBSERVED: "the guest's own choice in the room",
        _K.CONFIRMED: "confirmed by the guest",
    }
)

_Show = Callable[[PreferenceValue], str]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The value of one key and what it rests on."""

    value: PreferenceValue
    source: ObservationKind
    stays: tuple[Vote, ...]  # one per stay the value rests on, most recent first
    confidence: Fraction  # share of the weight of that evidence agreeing with the value
    mismatch: bool
    why: str
    # The evidence that decided, for the usual time of a timed key.
    decisive: tuple[Evidence, ...] = ()


def evidence(obs: Observation, value: PreferenceValue, ranks: Mapping[str, int]) -> Evidence:
    rank = ranks[obs.stay_id]
    return Evidence(
        obs.stay_id, rank, obs.kind, (obs.stamp.order, str(obs.id)), value, obs.time_of_day
    )


def resolve(
    spec: KeySpec, observations: Sequence[Observation], ranks: Mapping[str, int]
) -> Resolution:
    """The value of `spec`'s key from its (non-empty) observations; `ranks` orders stays."""
    if isinstance(spec.value, TagsSpec):
        return _resolve_tags(spec.value, observations, ranks)
    items = [evidence(o, o.value, ranks) for o in observations]
    return _resolve_value(spec.value, items, spec.value.show)


def _resolve_value(spec: ValueSpec, items: Sequence[Evidence], show: _Show) -> Resolution:
    confirmed = [e for e in items if e.kind is _K.CONFIRMED]
    observed = [e for e in items if e.kind is _K.OBSERVED]
    words = [e for e in items if e.kind.is_statement]
    if confirmed:
        return _resolve_confirmed(spec, max(confirmed, key=lambda e: e.order), observed, show)
    recent_behaviour = [e for e in observed if e.rank < WINDOW]
    recent_words = [e for e in words if e.rank < WINDOW]
    if not (recent_behaviour or (observed and not recent_words)):
        return _decide(spec, words)
    decided = _decide(spec, observed)
    if not (recent_behaviour and recent_words):
        return decided
    said = combine(spec, votes(spec, recent_words))
    did = combine(spec, votes(spec, recent_behaviour))
    if spec.same(said, did):
        return decided
    top_word = max((e.kind for e in recent_words), key=AUTHORITY.__getitem__)
    who = "booking" if top_word is _K.DECLARED else "staff note"
    return _with(
        decided, True, f"{who} differs from behaviour (said {show(said)}, did {show(did)})"
    )


def _decide(spec: ValueSpec, items: Sequence[Evidence]) -> Resolution:
    """The weighted aggregate of one class of evidence."""
    chosen = votes(spec, items)
    value = combine(spec, chosen)
    agreeing = [v for v in chosen if spec.same(v.value, value)]
    # The kind of the most recent stay that agrees; a weighted vote always has one, a
    # mean may fall between all of them, and then the most recent stay speaks for it.
    source = (agreeing or list(chosen))[0].kind
    total = sum((v.weight for v in chosen), Fraction(0))
    confidence = sum((v.weight for v in agreeing), Fraction(0)) / total
    n = len(chosen)
    why = f"{SOURCE_WORDS[source]} ({_stays(n)}"
    why += f", {len(agreeing)} agree)" if len(agreeing) != n else ")"
    return Resolution(value, source, chosen, confidence, False, why, tuple(items))


def _resolve_confirmed(
    spec: ValueSpec, confirmation: Evidence, observed: Sequence[Evidence], show: _Show
) -> Resolution:
    later = [e for e in observed if e.rank < confirmation.rank]
    if later:
        lived = _decide(spec, later)
        if not spec.same(lived.value, confirmation.value):
            return _with(lived, True, f"the guest confirmed {show(confirmation.value)} before")
    vote = Vote(
        confirmation.stay_id,
        confirmation.rank,
        stay_weight(confirmation.rank),
        confirmation.kind,
        confirmation.value,
    )
    held = Resolution(
        confirmation.value,
        _K.CONFIRMED,
        (vote,),
        Fraction(1),
        False,
        SOURCE_WORDS[_K.CONFIRMED],
        (confirmation,),
    )
    since = [e for e in observed if e.rank <= confirmation.rank]
    if since:
        lived_value = combine(spec, votes(spec, since))
        if not spec.same(lived_value, confirmation.value):
            return _with(held, True, f"behaviour since differs ({show(lived_value)})")
    return held


def _with(resolution: Resolution, mismatch: bool, note: str) -> Resolution:
    return replace(
        resolution, mismatch=resolution.mismatch or mismatch, why=f"{resolution.why}; {note}"
    )


def _stays(n: int) -> str:
    return f"{n} stay" if n == 1 else f"{n} stays"


# ---- sets of tags --------------------------------------------------------------------


def _resolve_tags(
    spec: TagsSpec, observations: Sequence[Observation], ranks: Mapping[str, int]
) -> Resolution:
    tags: dict[str, list[Evidence]] = {}
    for obs in observations:
        if not isinstance(obs.value, tuple):  # the catalogue makes this impossible
            raise TypeError(f"{obs.key}: {obs.value!r} is not a set of tags")
        for tag in obs.value:
            name = tag.removeprefix(WITHDRAW)
            tags.setdefault(name, []).append(evidence(obs, name == tag, ranks))
    decided = {
        name: _resolve_sticky(items) if spec.sticky else _resolve_value(_YES_NO, items, _yes_no)
        for name, items in sorted(tags.items())
    }
    present = tuple(name for name, r in decided.items() if r.value is True)
    deciding = [r for name, r in decided.items() if name in present] or list(decided.values())
    stays: dict[str, Vote] = {}
    for r in decided.values():
        for vote in r.stays:
            stays.setdefault(vote.stay_id, vote)
    return Resolution(
        value=present,
        source=max((r.source for r in deciding), key=AUTHORITY.__getitem__),
        stays=tuple(sorted(stays.values(), key=lambda v: v.rank)),
        confidence=min(r.confidence for r in decided.values()),
        mismatch=any(r.mismatch for r in decided.values()),
        why="; ".join(
            f"{spec.show((name,))}{'' if r.value is True else ' withdrawn'}: {r.why}"
            for name, r in decided.items()
        ),
    )


def _yes_no(value: PreferenceValue) -> str:
    return "yes" if value is True else "no"


def _resolve_sticky(items: Sequence[Evidence]) -> Resolution:
    asserted = [e for e in items if e.value is True]
    if asserted:
        latest = max(asserted, key=lambda e: e.order)
        after = [e for e in items if e.value is False and e.order > latest.order]
    else:
        after = list(items)
    by_guest = [e for e in after if e.kind in _GUEST_OWN_WORDS]
    if by_guest or not asserted:
        withdrawal = max(by_guest or after, key=lambda e: e.order)
        vote = Vote(
            withdrawal.stay_id,
            withdrawal.rank,
            stay_weight(withdrawal.rank),
            withdrawal.kind,
            False,
        )
        return Resolution(
            False, withdrawal.kind, (vote,), Fraction(1), False, SOURCE_WORDS[withdrawal.kind]
        )
    why = f"{SOURCE_WORDS[latest.kind]} (kept until the guest withdraws it)"
    if after:
        why += "; withdrawn by staff or a device, which cannot withdraw it"
    return Resolution(True, latest.kind, votes(_YES_NO, asserted), Fraction(1), bool(after), why)
