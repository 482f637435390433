"""The catalogue of preference keys: what may be remembered about a guest, and in what form.

A key is a dotted name (``room.temperature_c``) with a value spec. Nothing outside the
catalogue is stored: an observation with an unknown key, or with a value outside its
spec, is refused by `validate` with a message that names the key and what it allows. A
closed catalogue keeps the profile free of ad-hoc notes that nobody could act on or erase
by category, and lets every consumer (thermostat, kitchen, housekeeping) rely on types.

Each spec also says how the engine combines the values of several stays
(`Aggregation`), because the right answer depends on the kind of value:

* `NumberSpec` (temperature, minutes): **weighted mean** of the stays' values, rounded
  to the spec's step. A mean blends a recent change with older stays instead of jumping,
  which suits quantities where "a little warmer than before" is a sensible answer.
* `CountSpec` (extra hangers): weighted mean, rounded to a whole number.
* `TimeSpec` (wake-up time): weighted mean on the 24-hour circle (23:30 and 00:30 average
  to 00:00, not to noon), rounded to the minute.
* `ChoiceSpec` (pillow, mattress, light scene, drinks): **weighted vote**. Blending two
  pillows makes no sense; the value with the most recency weight wins.
* `TagsSpec` (dietary tags, bath products, allergies): **union of what is still
  asserted**. Each observation asserts tags (``"no_cilantro"``) or withdraws them
  (``"-no_cilantro"``); every tag is decided on its own as a yes/no vote, and the
  preference is the set of tags that are still asserted. With ``sticky=True``
  (allergies) a tag is never outvoted: it stays until the guest withdraws it themself
  (see `shared.preferences.engine`).

The exact weights and the precedence of sources are in `shared.preferences.engine`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import time
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from pydantic import BaseModel, ConfigDict, model_validator

from shared.messages import LightScene

__all__ = [
    "CATALOGUE",
    "MINUTES_PER_DAY",
    "WITHDRAW",
    "Aggregation",
    "ChoiceSpec",
    "CountSpec",
    "InvalidValue",
    "KeySpec",
    "NumberSpec",
    "PreferenceError",
    "PreferenceValue",
    "TagsSpec",
    "TimeSpec",
    "UnknownKey",
    "ValueSpec",
    "key_spec",
    "minute_of_day",
    "minutes_apart",
    "validate",
    "validate_time_of_day",
]

# The value of an observation once validated: a float for `NumberSpec`, an int for
# `CountSpec`, a str for `ChoiceSpec`, a `time` for `TimeSpec`, and a sorted tuple of
# tags for `TagsSpec`. Canonical forms make equal preferences compare and hash equal.
PreferenceValue = float | int | str | time | tuple[str, ...]

WITHDRAW: Final = "-"  # prefix of a tag that an observation withdraws


class PreferenceError(ValueError):
    """A preference key or value that the catalogue refuses."""


class UnknownKey(PreferenceError):
    pass


class InvalidValue(PreferenceError):
    pass


class Aggregation(StrEnum):
    WEIGHTED_MEAN = "weighted_mean"
    CIRCULAR_MEAN = "circular_mean"
    WEIGHTED_VOTE = "weighted_vote"
    TAG_UNION = "tag_union"


class ValueSpec(BaseModel):
    """What values a key takes; subclasses check and canonicalise one value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def check(self, key: str, raw: object) -> PreferenceValue:
        raise NotImplementedError

    def allowed(self) -> str:
        """The allowed values in words, for refusal messages and the handset."""
        raise NotImplementedError

    @property
    def aggregation(self) -> Aggregation:
        raise NotImplementedError

    def same(self, a: PreferenceValue, b: PreferenceValue) -> bool:
        """Whether two values agree: no mismatch, no change between them."""
        return a == b

    def show(self, value: PreferenceValue) -> str:
        """The value as staff read it ("24 °C", "warm milk", "07:00")."""
        return str(value).replace("_", " ")

    def _refuse(self, key: str, raw: object, reason: str = "") -> InvalidValue:
        detail = f" ({reason})" if reason else ""
        return InvalidValue(f"{key}: {raw!r} is not allowed{detail}; allowed: {self.allowed()}")


class NumberSpec(ValueSpec):
    unit: str
    minimum: float
    maximum: float
    step: float  # the aggregate is rounded to this; single observations need not be
    tolerance: float = 0.0  # values closer than this do not count as a disagreement

    @property
    def aggregation(self) -> Aggregation:
        return Aggregation.WEIGHTED_MEAN

    def allowed(self) -> str:
        return f"{self.minimum:g}–{self.maximum:g} {self.unit}"

    def same(self, a: PreferenceValue, b: PreferenceValue) -> bool:
        if isinstance(a, int | float) and isinstance(b, int | float):
            return abs(a - b) <= self.tolerance
        return a == b

    def show(self, value: PreferenceValue) -> str:
        return f"{value:g} {self.unit}" if isinstance(value, int | float) else str(value)

    def check(self, key: str, raw: object) -> float:
        # bool is an int to Python, but "True °C" is a bug, never a preference.
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise self._refuse(key, raw, "not a number")
        value = float(raw)
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise self._refuse(key, raw, "out of range")
        return value


class CountSpec(ValueSpec):
    unit: str
    minimum: int
    maximum: int

    @property
    def aggregation(self) -> Aggregation:
        return Aggregation.WEIGHTED_MEAN

    def allowed(self) -> str:
        return f"a whole number {self.minimum}–{self.maximum} ({self.unit})"

    def show(self, value: PreferenceValue) -> str:
        return f"{value} {self.unit}"

    def check(self, key: str, raw: object) -> int:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise self._refuse(key, raw, "not a whole number")
        if not self.minimum <= raw <= self.maximum:
            raise self._refuse(key, raw, "out of range")
        return raw


class TimeSpec(ValueSpec):
    tolerance_min: int = 15  # a wake-up call at 07:00 or 07:10 is the same habit

    @property
    def aggregation(self) -> Aggregation:
        return Aggregation.CIRCULAR_MEAN

    def allowed(self) -> str:
        return "a time of day HH:MM"

    def same(self, a: PreferenceValue, b: PreferenceValue) -> bool:
        if isinstance(a, time) and isinstance(b, time):
            return minutes_apart(a, b) <= self.tolerance_min
        return a == b

    def show(self, value: PreferenceValue) -> str:
        return f"{value:%H:%M}" if isinstance(value, time) else str(value)

    def check(self, key: str, raw: object) -> time:
        try:
            return validate_time_of_day(raw)
        except ValueError as exc:
            raise self._refuse(key, raw, str(exc)) from None


class ChoiceSpec(ValueSpec):
    options: tuple[str, ...]

    @property
    def aggregation(self) -> Aggregation:
        return Aggregation.WEIGHTED_VOTE

    def allowed(self) -> str:
        return "one of " + ", ".join(self.options)

    def check(self, key: str, raw: object) -> str:
        if not isinstance(raw, str) or raw not in self.options:
            raise self._refuse(key, raw)
        return raw


class TagsSpec(ValueSpec):
    vocabulary: tuple[str, ...]
    # Sticky tags (allergies) are safety information: no vote, no recency, no staff note
    # and no device can remove one; only the guest's own withdrawal does.
    sticky: bool = False

    @property
    def aggregation(self) -> Aggregation:
        return Aggregation.TAG_UNION

    def allowed(self) -> str:
        return (
            "a non-empty list of tags from "
            + ", ".join(self.vocabulary)
            + f" (a leading '{WITHDRAW}' withdraws a tag)"
        )

    def check(self, key: str, raw: object) -> tuple[str, ...]:
        # A lone string is refused rather than split into characters or wrapped: the
        # sender has confused a tag with a list of tags, and guessing hides the bug.
        if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
            raise self._refuse(key, raw, "not a list of tags")
        tags = list(raw)
        if not tags:
            raise self._refuse(key, raw, "empty")
        for tag in tags:
            if not isinstance(tag, str) or tag.removeprefix(WITHDRAW) not in self.vocabulary:
                raise self._refuse(key, raw, f"unknown tag {tag!r}")
        unique = set(tags)
        both = sorted(t for t in unique if not t.startswith(WITHDRAW) and WITHDRAW + t in unique)
        if both:
            raise self._refuse(key, raw, f"asserts and withdraws {both[0]!r} at once")
        return tuple(sorted(unique))

    def show(self, value: PreferenceValue) -> str:
        if isinstance(value, tuple):
            return ", ".join(tag.replace("_", " ") for tag in value) or "none"
        return str(value)


class KeySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    label: str  # how staff read it on the handset
    value: NumberSpec | CountSpec | TimeSpec | ChoiceSpec | TagsSpec
    # The observation may carry the time of day it happens at (warm milk at 23:00).
    timed: bool = False
    # Health data (GDPR art. 9): shown only to staff who need it to serve the guest.
    sensitive: bool = False

    @model_validator(mode="after")
    def _time_needs_one_value(self) -> KeySpec:
        # The engine gives a timed key the usual time of its winning value; a set of tags
        # has no single winner to attach a time to.
        if self.timed and isinstance(self.value, TagsSpec):
            raise ValueError(f"{self.key}: a set of tags cannot be timed")
        return self


MINUTES_PER_DAY: Final = 24 * 60


def minute_of_day(value: time) -> int:
    return value.hour * 60 + value.minute


def minutes_apart(a: time, b: time) -> int:
    """Distance on the 24-hour circle: 23:50 and 00:10 are 20 minutes apart."""
    d = abs(minute_of_day(a) - minute_of_day(b))
    return min(d, MINUTES_PER_DAY - d)


def validate_time_of_day(raw: object) -> time:
    """A naive time with whole minutes, from a `time` or ``"HH:MM"`` (``":00"`` seconds ok).

    Minutes are the resolution of every timed preference; seconds would only make
    otherwise equal observations differ.
    """
    if isinstance(raw, str):
        try:
            raw = time.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a time of day HH:MM") from None
    if not isinstance(raw, time):
        raise ValueError(f"{raw!r} is not a time of day HH:MM")
    if raw.tzinfo is not None or raw.second or raw.microsecond:
        raise ValueError(f"{raw.isoformat()} must be a local time in whole minutes (HH:MM)")
    return raw


def _keys(*specs: KeySpec) -> Mapping[str, KeySpec]:
    return MappingProxyType({spec.key: spec for spec in specs})


_DIETARY = (
    "no_cilantro",
    "mild_spice",
    "no_spice",
    "vegetarian",
    "vegan",
    "pescatarian",
    "halal",
    "kosher",
    "no_pork",
    "no_beef",
    "no_alcohol",
    "low_salt",
    "low_sugar",
)
_ALLERGIES = (
    "synthetic_bedding",  # make the bed with cotton only
    "feathers",  # no down or feather pillows and duvets
    "latex",
    "dust_mites",
    "fragrance",
    "pollen",  # no cut flowers or flowering plants
    "peanuts",
    "tree_nuts",
    "shellfish",
    "fish",
    "gluten",
    "lactose",
    "egg",
    "soy",
    "sesame",
)

CATALOGUE: Final[Mapping[str, KeySpec]] = _keys(
    KeySpec(
        key="room.temperature_c",
        label="room temperature",
        # 0.5 °C is the thermostat's step and below what a guest notices.
        value=NumberSpec(unit="°C", minimum=16.0, maximum=30.0, step=0.5, tolerance=0.5),
    ),
    KeySpec(
        key="room.light_scene",
        label="light scene on arrival",
        value=ChoiceSpec(options=tuple(s.value for s in LightScene if s is not LightScene.OFF)),
    ),
    KeySpec(
        key="room.curtains",
        label="curtains on arrival",
        value=ChoiceSpec(options=("open", "half", "closed")),
    ),
    # Room choice (`edge.arrival.room_choice`): what a free room is chosen by when the
    # reservation names only a type. "any" is no wish, so a guest can take one back.
    KeySpec(
        key="room.floor",
        label="floor",
        value=ChoiceSpec(options=("high", "low", "any")),
    ),
    KeySpec(
        key="room.quiet",
        label="quiet room (courtyard side)",
        value=ChoiceSpec(options=("quiet", "any")),
    ),
    KeySpec(
        key="room.lift",
        label="distance from the lift",
        value=ChoiceSpec(options=("away", "near", "any")),
    ),
    KeySpec(
        key="room.view",
        label="view",
        value=ChoiceSpec(options=("city", "garden", "sea", "mountain", "any")),
    ),
    KeySpec(
        key="room.bed_type",
        label="bed",
        value=ChoiceSpec(options=("king", "queen", "double", "twin", "any")),
    ),
    KeySpec(
        key="bed.mattress_firmness",
        label="mattress firmness",
        # Words, not the mattress's 1–10 scale: a booking form and a housekeeper speak
        # in words, and the gateway maps the device's scale (1–3 soft, 4–7 medium, 8–10
        # firm) when it turns behaviour into observations.
        value=ChoiceSpec(options=("soft", "medium", "firm")),
    ),
    KeySpec(
        key="bed.pillow",
        label="pillow",
        value=ChoiceSpec(options=("down", "feather", "latex", "buckwheat", "memory_foam")),
    ),
    KeySpec(
        key="room.extra_hangers",
        label="extra hangers",
        value=CountSpec(unit="hangers", minimum=0, maximum=20),
    ),
    KeySpec(
        key="dining.dietary",
        label="dietary",
        value=TagsSpec(vocabulary=_DIETARY),
    ),
    KeySpec(
        key="dining.evening_drink",
        label="evening drink",
        value=ChoiceSpec(
            options=("warm_milk", "herbal_tea", "hot_chocolate", "decaf_coffee", "none")
        ),
        timed=True,
    ),
    KeySpec(
        key="dining.afternoon_tea",
        label="afternoon refreshment",
        value=ChoiceSpec(options=("afternoon_tea", "coffee", "fresh_juice", "none")),
        timed=True,
    ),
    KeySpec(
        key="dining.arrival_drink",
        label="drink after arrival",
        value=ChoiceSpec(
            options=(
                "lemon_water_unsweetened",
                "lemon_water",
                "still_water",
                "sparkling_water",
                "green_tea",
                "none",
            )
        ),
    ),
    KeySpec(
        key="dining.arrival_drink_after_min",
        label="drink after arrival, minutes after the door opens",
        value=NumberSpec(unit="min", minimum=0.0, maximum=240.0, step=5.0, tolerance=5.0),
    ),
    KeySpec(
        key="service.wake_up",
        label="wake-up time",
        value=TimeSpec(),
    ),
    KeySpec(
        key="service.newspaper",
        label="newspaper",
        value=ChoiceSpec(
            options=(
                "none",
                "local_daily",
                "financial_times",
                "wall_street_journal",
                "new_york_times",
                "le_monde",
                "frankfurter_allgemeine",
                "nikkei",
            )
        ),
    ),
    KeySpec(
        key="room.magazine",
        label="magazine on the nightstand",
        value=ChoiceSpec(
            options=("none", "national_geographic", "the_economist", "monocle", "vogue", "wired")
        ),
    ),
    KeySpec(
        key="room.plant",
        label="plant on the windowsill",
        value=ChoiceSpec(options=("none", "orchid", "succulent", "peace_lily", "bonsai", "herbs")),
    ),
    KeySpec(
        key="bath.products",
        label="bath products",
        value=TagsSpec(
            vocabulary=(
                "bath_salts",
                "bath_oil",
                "bubble_bath",
                "unscented",
                "sensitive_skin",
                "house_line",
                "argan_line",
                "extra_towels",
            )
        ),
    ),
    KeySpec(
        key="health.allergies",
        label="allergies",
        value=TagsSpec(vocabulary=_ALLERGIES, sticky=True),
        sensitive=True,
    ),
)


def key_spec(key: str) -> KeySpec:
    """The spec of `key`; `UnknownKey` naming it (and the known keys) if there is none."""
    try:
        return CATALOGUE[key]
    except (KeyError, TypeError):
        raise UnknownKey(
            f"unknown preference key {key!r}; known keys: {', '.join(sorted(CATALOGUE))}"
        ) from None


def validate(key: str, value: object) -> PreferenceValue:
    """Check `value` for `key` and return its canonical form; refuse with a reason.

    Raises `UnknownKey` or `InvalidValue` (both `PreferenceError`, a `ValueError`), whose
    message names the key and what it allows.
    """
    return key_spec(key).value.check(key, value)
