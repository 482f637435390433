"""Guest preferences: an append-only log of observations and what it adds up to.

Pure code, no I/O: the catalogue of keys (`catalogue`), hybrid logical clock stamps
(`hlc`), the observation (`observation`), and the engine that turns a guest's set of
observations into effective preferences (`engine`, with its rules in `aggregate` and
`precedence`). Encryption, storage and sync are built on top, elsewhere.
"""

from shared.preferences.aggregate import OLDER_DECAY, RECENT_WEIGHTS, WINDOW, stay_weight
from shared.preferences.catalogue import (
    CATALOGUE,
    WITHDRAW,
    Aggregation,
    ChoiceSpec,
    CountSpec,
    InvalidValue,
    KeySpec,
    NumberSpec,
    PreferenceError,
    PreferenceValue,
    TagsSpec,
    TimeSpec,
    UnknownKey,
    ValueSpec,
    key_spec,
    validate,
)
from shared.preferences.engine import DORMANT_AFTER_S, Preference, effective_preferences, merge
from shared.preferences.hlc import DEFAULT_MAX_OFFSET_MS, ClockOffsetError, HlcStamp, HybridClock
from shared.preferences.observation import Observation, ObservationKind

__all__ = [
    "CATALOGUE",
    "DEFAULT_MAX_OFFSET_MS",
    "DORMANT_AFTER_S",
    "OLDER_DECAY",
    "RECENT_WEIGHTS",
    "WINDOW",
    "WITHDRAW",
    "Aggregation",
    "ChoiceSpec",
    "ClockOffsetError",
    "CountSpec",
    "HlcStamp",
    "HybridClock",
    "InvalidValue",
    "KeySpec",
    "NumberSpec",
    "Observation",
    "ObservationKind",
    "Preference",
    "PreferenceError",
    "PreferenceValue",
    "TagsSpec",
    "TimeSpec",
    "UnknownKey",
    "ValueSpec",
    "effective_preferences",
    "key_spec",
    "merge",
    "stay_weight",
    "validate",
]
