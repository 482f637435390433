"""The preference log and engine: the seed's stories, the catalogue, the HLC, and properties.

The stories are the ones the chain told us (firm mattress declared but set soft, a
down → latex pillow change, 24 °C, warm milk at 23:00, six months away, the guest's
confirmation). Hypothesis shows that the result depends only on the set of observations.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import time
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.clock import ManualClock
from shared.preferences import (
    CATALOGUE,
    DORMANT_AFTER_S,
    RECENT_WEIGHTS,
    WINDOW,
    ClockOffsetError,
    HlcStamp,
    HybridClock,
    InvalidValue,
    KeySpec,
    Observation,
    ObservationKind,
    Preference,
    TagsSpec,
    UnknownKey,
    effective_preferences,
    merge,
    stay_weight,
    validate,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00Z
DAY = 86_400.0
K = ObservationKind
PROPERTY = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])


class Guest:
    """Builds one guest's log; stamps follow the day given, and the call order within it."""

    def __init__(self, pseudonym: str = "guest-7f3a") -> None:
        self.pseudonym = pseudonym
        self.log: list[Observation] = []
        self._counter = itertools.count()

    def add(
        self,
        key: str,
        value: object,
        kind: ObservationKind,
        stay: str,
        day: float,
        *,
        at: str | None = None,
        property_id: str = "hotel-a",
    ) -> Observation:
        obs = Observation.model_validate(
            {
                "pseudonym": self.pseudonym,
                "key": key,
                "value": value,
                "kind": kind,
                "stay_id": stay,
                "property_id": property_id,
                "stamp": HlcStamp(
                    wall_ms=int((T0 + day * DAY) * 1000), counter=next(self._counter), node="gw"
                ),
                "time_of_day": at,
            }
        )
        self.log.append(obs)
        return obs

    def preferences(self, day: float) -> dict[str, Preference]:
        return effective_preferences(self.log, T0 + day * DAY)


# ---- the seed's stories --------------------------------------------------------------


def test_room_at_24_degrees_from_behaviour_over_three_stays() -> None:
    guest = Guest()
    for stay, day in (("s1", 10), ("s2", 50), ("s3", 90)):
        guest.add("room.temperature_c", 24, K.OBSERVED, stay, day)
    guest.add("room.temperature_c", 23.5, K.OBSERVED, "s3", 91)
    guest.add("room.temperature_c", 24.5, K.OBSERVED, "s3", 92)

    pref = guest.preferences(100)["room.temperature_c"]

    assert pref.value == 24.0
    assert pref.source is K.OBSERVED
    assert pref.stays == ("s3", "s2", "s1")
    assert pref.confidence == 1.0
    assert pref.weight == 1.75
    assert not pref.mismatch
    assert not pref.recently_changed
    assert not pref.dormant
    assert pref.why.startswith("24 °C — the guest's own choice in the room (3 stays)")


def test_firm_mattress_declared_but_set_soft_behaviour_wins_and_is_flagged() -> None:
    guest = Guest()
    guest.add("bed.mattress_firmness", "firm", K.DECLARED, "s1", 0)
    guest.add("bed.mattress_firmness", "soft", K.OBSERVED, "s1", 2)
    guest.add("bed.mattress_firmness", "soft", K.OBSERVED, "s1", 3)
    guest.add("bed.mattress_firmness", "firm", K.DECLARED, "s2", 60)  # the next booking

    pref = guest.preferences(61)["bed.mattress_firmness"]

    assert pref.value == "soft"
    assert pref.source is K.OBSERVED
    assert pref.mismatch
    assert "booking differs from behaviour (said firm, did soft)" in pref.why


def test_staff_note_that_differs_from_behaviour_is_named_as_such() -> None:
    guest = Guest()
    guest.add("bed.mattress_firmness", "firm", K.NOTED, "s1", 1)
    guest.add("bed.mattress_firmness", "soft", K.OBSERVED, "s1", 2)

    pref = guest.preferences(3)["bed.mattress_firmness"]

    assert (pref.value, pref.mismatch) == ("soft", True)
    assert "staff note differs from behaviour" in pref.why


def test_behaviour_that_agrees_with_the_booking_is_no_mismatch() -> None:
    guest = Guest()
    guest.add("bed.mattress_firmness", "firm", K.DECLARED, "s1", 0)
    guest.add("bed.mattress_firmness", "firm", K.OBSERVED, "s1", 2)

    pref = guest.preferences(3)["bed.mattress_firmness"]

    assert (pref.value, pref.mismatch) == ("firm", False)


def test_pillow_changed_from_down_to_latex_is_current_and_tagged() -> None:
    guest = Guest()
    for stay, day in (("s1", 0), ("s2", 40), ("s3", 80)):
        guest.add("bed.pillow", "down", K.NOTED, stay, day)
    guest.add("bed.pillow", "latex", K.NOTED, "s4", 120)

    pref = guest.preferences(121)["bed.pillow"]

    assert pref.value == "latex"
    assert pref.recently_changed
    assert pref.previous_value == "down"
    assert "recently changed (was down)" in pref.why
    # Down still has weight, which the confidence shows: 1 / (1 + 1/2 + 1/4 + 1/40).
    assert pref.confidence == pytest.approx(1 / 1.775)

    # One more stay on latex and it is simply the preference.
    guest.add("bed.pillow", "latex", K.NOTED, "s5", 160)
    settled = guest.preferences(161)["bed.pillow"]
    assert (settled.value, settled.recently_changed, settled.previous_value) == (
        "latex",
        False,
        None,
    )


def test_a_change_long_ago_is_not_recent() -> None:
    guest = Guest()
    guest.add("bed.pillow", "down", K.NOTED, "s1", 0)
    guest.add("bed.pillow", "latex", K.NOTED, "s2", 30)
    for index in range(3):  # three stays that say nothing about pillows
        guest.add("room.temperature_c", 22, K.OBSERVED, f"t{index}", 60 + 30 * index)

    pref = guest.preferences(200)["bed.pillow"]

    assert (pref.value, pref.recently_changed) == ("latex", False)


def test_the_last_three_stays_outweigh_older_ones() -> None:
    guest = Guest()
    for index in range(6):
        guest.add("room.temperature_c", 21, K.OBSERVED, f"old{index}", index * 20)
    for index in range(3):
        guest.add("room.temperature_c", 24, K.OBSERVED, f"new{index}", 200 + index * 20)

    assert guest.preferences(300)["room.temperature_c"].value == 24.0


def test_numbers_blend_recent_stays_by_weighted_mean() -> None:
    guest = Guest()
    guest.add("room.temperature_c", 24, K.OBSERVED, "s1", 0)
    guest.add("room.temperature_c", 24, K.OBSERVED, "s2", 30)
    guest.add("room.temperature_c", 25, K.OBSERVED, "s3", 60)

    # (25·1 + 24·½ + 24·¼) / 1.75 = 24.57 → rounded to the 0.5 °C step.
    assert guest.preferences(61)["room.temperature_c"].value == 24.5


def test_guest_confirmation_beats_everything_else() -> None:
    guest = Guest()
    guest.add("room.temperature_c", 22, K.DECLARED, "s1", 0)
    guest.add("room.temperature_c", 21, K.NOTED, "s1", 1)
    guest.add("room.temperature_c", 23, K.OBSERVED, "s1", 2)
    guest.add("room.temperature_c", 24, K.CONFIRMED, "s1", 3)

    pref = guest.preferences(4)["room.temperature_c"]

    assert pref.value == 24.0
    assert pref.source is K.CONFIRMED
    assert pref.confidence == 1.0
    # The guest's own settings in the same stay disagree: staff should know.
    assert pref.mismatch
    assert "confirmed by the guest; behaviour since differs (23 °C)" in pref.why


def test_a_confirmation_holds_against_later_words() -> None:
    guest = Guest()
    guest.add("room.temperature_c", 24, K.CONFIRMED, "s1", 0)
    guest.add("room.temperature_c", 20, K.DECLARED, "s2", 50)

    pref = guest.preferences(51)["room.temperature_c"]

    assert (pref.value, pref.source, pref.mismatch) == (24.0, K.CONFIRMED, False)


def test_behaviour_in_a_later_stay_overturns_a_confirmation() -> None:
    guest = Guest()
    guest.add("room.temperature_c", 24, K.CONFIRMED, "s1", 0)
    guest.add("room.temperature_c", 21, K.OBSERVED, "s2", 50)

    pref = guest.preferences(51)["room.temperature_c"]

    assert (pref.value, pref.source, pref.mismatch) == (21.0, K.OBSERVED, True)
    assert "the guest confirmed 24 °C before" in pref.why


def test_later_behaviour_that_agrees_keeps_the_confirmation() -> None:
    guest = Guest()
    guest.add("room.temperature_c", 24, K.CONFIRMED, "s1", 0)
    guest.add("room.temperature_c", 24.5, K.OBSERVED, "s2", 50)  # within 0.5 °C

    pref = guest.preferences(51)["room.temperature_c"]

    assert (pref.value, pref.source, pref.mismatch) == (24.0, K.CONFIRMED, False)


def test_a_staff_note_outranks_the_booking_form_of_the_same_stay() -> None:
    guest = Guest()
    guest.add("bed.pillow", "down", K.DECLARED, "s1", 0)
    guest.add("bed.pillow", "buckwheat", K.NOTED, "s1", 1)

    pref = guest.preferences(2)["bed.pillow"]

    assert (pref.value, pref.source) == ("buckwheat", K.NOTED)


def test_a_newer_booking_request_replaces_an_older_staff_note() -> None:
    guest = Guest()
    guest.add("bed.pillow", "down", K.NOTED, "s1", 0)
    guest.add("bed.pillow", "latex", K.DECLARED, "s2", 40)

    pref = guest.preferences(41)["bed.pillow"]

    assert (pref.value, pref.source, pref.recently_changed) == ("latex", K.DECLARED, True)


def test_recent_words_beat_behaviour_older_than_the_last_three_stays() -> None:
    guest = Guest()
    guest.add("bed.mattress_firmness", "soft", K.OBSERVED, "s1", 0)
    for index in range(3):
        guest.add("room.temperature_c", 22, K.OBSERVED, f"t{index}", 30 + 30 * index)
    guest.add("bed.mattress_firmness", "firm", K.DECLARED, "s5", 150)

    pref = guest.preferences(151)["bed.mattress_firmness"]

    assert (pref.value, pref.source, pref.mismatch) == ("firm", K.DECLARED, False)


def test_dormant_after_six_months_without_a_stay() -> None:
    guest = Guest()
    guest.add("room.temperature_c", 24, K.OBSERVED, "s1", 0)
    guest.add("bed.pillow", "latex", K.NOTED, "s1", 1)

    assert not guest.preferences(1 + 179)["room.temperature_c"].dormant
    later = guest.preferences(1 + 181)
    assert later["room.temperature_c"].dormant
    assert later["bed.pillow"].dormant
    assert "dormant: no stay for 181 days, ask the guest to confirm" in later["bed.pillow"].why


def test_a_booking_does_not_end_dormancy_but_a_confirmation_does_for_its_key() -> None:
    guest = Guest()
    guest.add("room.temperature_c", 24, K.OBSERVED, "s1", 0)
    guest.add("bed.pillow", "latex", K.NOTED, "s1", 1)
    guest.add("bed.pillow", "latex", K.DECLARED, "s2", 250)  # booked, not yet arrived

    assert guest.preferences(251)["bed.pillow"].dormant

    guest.add("room.temperature_c", 24, K.CONFIRMED, "s2", 252)  # asked at arrival
    at_arrival = guest.preferences(252)
    assert not at_arrival["room.temperature_c"].dormant
    assert at_arrival["bed.pillow"].dormant

    guest.add("room.temperature_c", 24, K.OBSERVED, "s2", 253)  # in the house again
    assert not guest.preferences(254)["bed.pillow"].dormant


def test_a_guest_who_never_stayed_is_dated_by_their_booking() -> None:
    guest = Guest()
    guest.add("room.extra_hangers", 5, K.DECLARED, "s1", 0)

    assert not guest.preferences(30)["room.extra_hangers"].dormant
    assert guest.preferences(DORMANT_AFTER_S / DAY + 1)["room.extra_hangers"].dormant


def test_warm_milk_at_23_and_its_usual_time() -> None:
    guest = Guest()
    guest.add("dining.evening_drink", "warm_milk", K.DECLARED, "s1", 0, at="23:00")
    guest.add("dining.evening_drink", "warm_milk", K.OBSERVED, "s1", 1)  # no time recorded

    pref = guest.preferences(2)["dining.evening_drink"]

    assert (pref.value, pref.time_of_day) == ("warm_milk", time(23, 0))
    assert pref.why.startswith("warm milk at 23:00 — ")


def test_the_usual_time_is_averaged_on_the_clock_face() -> None:
    guest = Guest()
    guest.add("dining.evening_drink", "warm_milk", K.OBSERVED, "s1", 0, at="23:30")
    guest.add("dining.evening_drink", "warm_milk", K.OBSERVED, "s2", 30, at="00:30")

    # Weights 1 (00:30) and 1/2 (23:30): 20 minutes before 00:30, not noon.
    assert guest.preferences(31)["dining.evening_drink"].time_of_day == time(0, 10)


def test_afternoon_tea_lemon_water_hangers_and_wake_up() -> None:
    guest = Guest()
    guest.add("dining.afternoon_tea", "afternoon_tea", K.NOTED, "s1", 0, at="14:00")
    guest.add("dining.arrival_drink", "lemon_water_unsweetened", K.DECLARED, "s1", 0)
    guest.add("dining.arrival_drink_after_min", 30, K.DECLARED, "s1", 0)
    guest.add("room.extra_hangers", 5, K.NOTED, "s1", 1)
    guest.add("service.wake_up", "06:45", K.DECLARED, "s1", 0)

    prefs = guest.preferences(2)

    assert prefs["dining.afternoon_tea"].time_of_day == time(14, 0)
    assert prefs["dining.arrival_drink"].value == "lemon_water_unsweetened"
    assert prefs["dining.arrival_drink_after_min"].value == 30.0
    assert prefs["room.extra_hangers"].value == 5
    assert prefs["service.wake_up"].value == time(6, 45)


def test_dietary_tags_are_the_union_of_what_is_still_asserted() -> None:
    guest = Guest()
    guest.add("dining.dietary", ["no_cilantro", "mild_spice"], K.DECLARED, "s1", 0)
    guest.add("dining.dietary", ["vegetarian"], K.NOTED, "s2", 40)
    guest.add("dining.dietary", ["-mild_spice"], K.NOTED, "s3", 80)

    pref = guest.preferences(81)["dining.dietary"]

    assert pref.value == ("no_cilantro", "vegetarian")
    assert pref.recently_changed
    assert pref.previous_value == ("mild_spice", "no_cilantro", "vegetarian")
    assert "mild spice withdrawn: noted by staff" in pref.why


def test_an_allergy_stays_until_the_guest_withdraws_it() -> None:
    guest = Guest()
    guest.add("health.allergies", ["synthetic_bedding"], K.DECLARED, "s1", 0)
    guest.add("health.allergies", ["-synthetic_bedding"], K.NOTED, "s2", 40)

    kept = guest.preferences(41)["health.allergies"]
    assert kept.value == ("synthetic_bedding",)
    assert kept.mismatch  # someone thinks it is gone: worth a question
    assert "cannot withdraw it" in kept.why

    guest.add("health.allergies", ["-synthetic_bedding"], K.CONFIRMED, "s3", 80)
    assert guest.preferences(81)["health.allergies"].value == ()


def test_copies_from_two_properties_merge_without_double_counting() -> None:
    city_a, city_b = Guest(), Guest()
    shared_obs = city_a.add("room.temperature_c", 24, K.OBSERVED, "s1", 0)
    city_b.log.append(shared_obs)  # forwarded to city B, and later sent back
    city_b.add("bed.pillow", "latex", K.NOTED, "s2", 30, property_id="hotel-b")

    merged = merge(city_a.log, city_b.log, city_a.log)

    assert len(merged) == 2
    assert set(effective_preferences(merged, T0 + 31 * DAY)) == {
        "room.temperature_c",
        "bed.pillow",
    }


def test_two_copies_under_one_id_resolve_to_the_later_stamp() -> None:
    guest = Guest()
    first = guest.add("bed.pillow", "down", K.NOTED, "s1", 0)
    later = first.model_copy(update={"stamp": first.stamp.model_copy(update={"counter": 99})})

    assert merge([first], [later]) == merge([later], [first]) == (later,)


def test_observations_of_two_guests_are_refused() -> None:
    one, other = Guest("guest-a"), Guest("guest-b")
    one.add("room.extra_hangers", 5, K.NOTED, "s1", 0)
    other.add("room.extra_hangers", 2, K.NOTED, "s1", 0)

    with pytest.raises(ValueError, match="2 guests"):
        effective_preferences([*one.log, *other.log], T0)


def test_no_observations_no_preferences() -> None:
    assert effective_preferences([], T0) == {}


def test_preferences_and_observations_are_frozen() -> None:
    guest = Guest()
    obs = guest.add("room.extra_hangers", 5, K.NOTED, "s1", 0)
    pref = guest.preferences(1)["room.extra_hangers"]

    with pytest.raises(ValidationError, match="frozen"):
        obs.value = 6  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        pref.value = 6  # type: ignore[misc]


def test_stay_weights_are_exact_and_each_outweighs_all_older_ones() -> None:
    assert [stay_weight(r) for r in range(5)] == [
        Fraction(1),
        Fraction(1, 2),
        Fraction(1, 4),
        Fraction(1, 40),
        Fraction(1, 400),
    ]
    assert tuple(stay_weight(r) for r in range(WINDOW)) == RECENT_WEIGHTS
    for rank in range(10):
        older = sum((stay_weight(r) for r in range(rank + 1, 60)), Fraction(0))
        assert stay_weight(rank) > older


# ---- the catalogue -------------------------------------------------------------------


def test_catalogue_holds_the_keys_of_the_issue() -> None:
    assert {
        "room.temperature_c",
        "room.light_scene",
        "room.curtains",
        "bed.mattress_firmness",
        "bed.pillow",
        "room.extra_hangers",
        "dining.dietary",
        "dining.evening_drink",
        "service.wake_up",
        "service.newspaper",
        "room.magazine",
        "room.plant",
        "bath.products",
        "health.allergies",
    } <= set(CATALOGUE)
    assert CATALOGUE["health.allergies"].sensitive
    assert CATALOGUE["dining.evening_drink"].timed


@pytest.mark.parametrize(
    ("key", "raw", "canonical"),
    [
        ("room.temperature_c", 24, 24.0),
        ("room.temperature_c", 16, 16.0),
        ("room.temperature_c", 30.0, 30.0),
        ("room.extra_hangers", 5, 5),
        (
            "dining.dietary",
            ["mild_spice", "no_cilantro", "mild_spice"],
            ("mild_spice", "no_cilantro"),
        ),
        ("service.wake_up", "06:30", time(6, 30)),
        ("service.wake_up", "06:30:00", time(6, 30)),
        ("room.light_scene", "evening", "evening"),
    ],
)
def test_validate_returns_the_canonical_value(key: str, raw: object, canonical: object) -> None:
    assert validate(key, raw) == canonical
    assert type(validate(key, raw)) is type(canonical)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        (
            "room.temperature_c",
            31,
            "room.temperature_c: 31 is not allowed (out of range); allowed: 16–30 °C",
        ),
        ("room.temperature_c", 15.5, "allowed: 16–30 °C"),
        ("room.temperature_c", float("nan"), "room.temperature_c: nan is not allowed"),
        ("room.temperature_c", True, "room.temperature_c: True is not allowed (not a number)"),
        ("room.temperature_c", "24", "(not a number)"),
        (
            "bed.pillow",
            "goose",
            "bed.pillow: 'goose' is not allowed; allowed: one of down, feather",
        ),
        ("room.extra_hangers", 21, "a whole number 0–20 (hangers)"),
        ("room.extra_hangers", 2.5, "room.extra_hangers: 2.5 is not allowed (not a whole number)"),
        (
            "dining.dietary",
            ["no_garlic"],
            "dining.dietary: ['no_garlic'] is not allowed (unknown tag 'no_garlic')",
        ),
        ("dining.dietary", "no_cilantro", "(not a list of tags)"),
        ("dining.dietary", [], "(empty)"),
        ("dining.dietary", ["vegan", "-vegan"], "asserts and withdraws 'vegan' at once"),
        ("health.allergies", ["cats"], "allowed: a non-empty list of tags from synthetic_bedding"),
        ("service.wake_up", "25:00", "service.wake_up: '25:00' is not allowed"),
        ("service.wake_up", "06:30:15", "whole minutes"),
    ],
)
def test_validate_refuses_with_a_message_naming_key_and_range(
    key: str, raw: object, message: str
) -> None:
    with pytest.raises(InvalidValue, match=re.escape(message)):
        validate(key, raw)


def test_an_unknown_key_is_refused_by_name() -> None:
    with pytest.raises(UnknownKey, match=r"unknown preference key 'room\.temp'; known keys: "):
        validate("room.temp", 24)


def _observation(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "pseudonym": "guest-7f3a",
        "key": "room.temperature_c",
        "value": 24,
        "kind": "observed",
        "stay_id": "s1",
        "property_id": "hotel-a",
        "stamp": {"wall_ms": 1, "counter": 0, "node": "gw"},
    }
    return fields | changes


def test_an_observation_is_checked_against_the_catalogue() -> None:
    with pytest.raises(ValidationError, match=r"unknown preference key 'room\.tmp'"):
        Observation.model_validate(_observation(key="room.tmp"))
    with pytest.raises(ValidationError, match=re.escape("room.temperature_c: 35 is not allowed")):
        Observation.model_validate(_observation(value=35))
    with pytest.raises(ValidationError, match=r"room\.temperature_c takes no time of day"):
        Observation.model_validate(_observation(time_of_day="23:00"))
    with pytest.raises(ValidationError, match="extra"):
        Observation.model_validate(_observation(room="101"))


def test_an_observation_survives_a_json_round_trip_unchanged() -> None:
    obs = Observation.model_validate(
        _observation(key="dining.evening_drink", value="warm_milk", time_of_day="23:00")
    )
    again = Observation.model_validate_json(obs.canonical_json())

    assert again == obs
    assert again.digest() == obs.digest()
    assert isinstance(again.id, UUID)


def test_a_set_of_tags_cannot_be_timed() -> None:
    with pytest.raises(ValidationError, match="cannot be timed"):
        KeySpec(key="x.tags", label="x", value=TagsSpec(vocabulary=("a",)), timed=True)


# ---- the hybrid logical clock --------------------------------------------------------


class SteppedClock:
    """A wall clock that a test sets anywhere, backwards included (an NTP step)."""

    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def sleep_until(self, when: float) -> None:
        raise NotImplementedError


def test_stamps_order_by_wall_then_counter_then_node() -> None:
    stamps = [
        HlcStamp(wall_ms=2, counter=0, node="a"),
        HlcStamp(wall_ms=1, counter=5, node="b"),
        HlcStamp(wall_ms=1, counter=5, node="a"),
        HlcStamp(wall_ms=1, counter=0, node="z"),
    ]
    assert sorted(stamps) == [stamps[3], stamps[2], stamps[1], stamps[0]]
    assert stamps[2] < stamps[1] <= stamps[1]
    assert max(stamps) == stamps[0]
    assert str(stamps[1]) == "1.5@b"


def test_now_is_strictly_increasing_even_when_the_wall_clock_stalls_or_steps_back() -> None:
    wall = SteppedClock(T0)
    clock = HybridClock("gw-a", wall)
    first = clock.now()
    second = clock.now()  # same millisecond
    wall.at = T0 - 10  # NTP stepped back ten seconds
    third = clock.now()
    wall.at = T0 + 1
    fourth = clock.now()

    assert first < second < third < fourth
    assert (second.wall_ms, second.counter) == (first.wall_ms, 1)
    assert (third.wall_ms, third.counter) == (first.wall_ms, 2)
    assert (fourth.wall_ms, fourth.counter) == (int((T0 + 1) * 1000), 0)


def test_observe_moves_past_a_remote_stamp_ahead_of_us() -> None:
    clock = HybridClock("gw-a", ManualClock(T0))
    local = clock.now()
    remote = HlcStamp(wall_ms=local.wall_ms + 2_000, counter=3, node="gw-b")

    received = clock.observe(remote)

    assert received > remote > local
    assert (received.wall_ms, received.counter, received.node) == (remote.wall_ms, 4, "gw-a")
    assert clock.now() > received


def test_observe_of_an_older_stamp_keeps_local_time() -> None:
    clock = HybridClock("gw-a", ManualClock(T0))
    local = clock.now()

    received = clock.observe(HlcStamp(wall_ms=local.wall_ms - 5_000, counter=9, node="gw-b"))

    assert (received.wall_ms, received.counter) == (local.wall_ms, 1)


def test_observe_of_an_equal_wall_time_counts_past_both() -> None:
    clock = HybridClock("gw-a", ManualClock(T0))
    local = clock.now()

    received = clock.observe(HlcStamp(wall_ms=local.wall_ms, counter=7, node="gw-b"))

    assert (received.wall_ms, received.counter) == (local.wall_ms, 8)


def test_observe_refuses_a_stamp_from_a_clock_far_ahead() -> None:
    clock = HybridClock("gw-a", ManualClock(T0), max_offset_ms=60_000)
    before = clock.now()
    far = HlcStamp(wall_ms=before.wall_ms + 3_600_000, counter=0, node="gw-x")

    with pytest.raises(ClockOffsetError, match=r"node 'gw-x' is 3600000 ms ahead"):
        clock.observe(far)
    assert clock.last == before


def test_a_node_id_must_be_a_plain_identifier() -> None:
    with pytest.raises(ValidationError):
        HybridClock("gw/a", ManualClock(T0))


# ---- properties: the result depends only on the set ----------------------------------

_KINDS = st.sampled_from(list(ObservationKind))
_TIMES = st.sampled_from(["06:30", "07:00", "14:00", "23:00", "23:30", "00:30", None])


def _tags(vocabulary: Sequence[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(vocabulary), min_size=1, max_size=3, unique=True).flatmap(
        lambda names: st.tuples(*(st.sampled_from([n, f"-{n}"]) for n in names)).map(list)
    )


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "room.temperature_c": st.sampled_from([20.0, 22, 23.5, 24, 24.5, 26]),
    "bed.pillow": st.sampled_from(["down", "latex", "buckwheat"]),
    "bed.mattress_firmness": st.sampled_from(["soft", "medium", "firm"]),
    "room.extra_hangers": st.integers(0, 8),
    "service.wake_up": st.sampled_from(["06:00", "06:30", "07:15", "23:50", "00:10"]),
    "dining.dietary": _tags(["no_cilantro", "mild_spice", "vegan"]),
    "health.allergies": _tags(["synthetic_bedding", "feathers"]),
    "dining.evening_drink": st.sampled_from(["warm_milk", "herbal_tea"]),
}


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    key = draw(st.sampled_from(sorted(_VALUES)))
    return Observation.model_validate(
        {
            "id": draw(st.uuids()),
            "pseudonym": "guest-7f3a",
            "key": key,
            "value": draw(_VALUES[key]),
            "kind": draw(_KINDS),
            "stay_id": draw(st.sampled_from(["s1", "s2", "s3", "s4", "s5"])),
            "property_id": draw(st.sampled_from(["hotel-a", "hotel-b"])),
            "stamp": {
                "wall_ms": int((T0 + draw(st.integers(0, 400)) * DAY) * 1000),
                "counter": draw(st.integers(0, 2)),
                "node": draw(st.sampled_from(["gw-a", "gw-b"])),
            },
            "time_of_day": draw(_TIMES) if key == "dining.evening_drink" else None,
        }
    )


@st.composite
def logs_with_conflicts(draw: st.DrawFn) -> list[Observation]:
    """A log in which some ids come again with other content (a bug elsewhere, or tampering).

    A copy has another value and kind, and the same stamp or a later one: the same stamp
    leaves the choice to the digest.
    """
    log = draw(st.lists(observations(), max_size=16))
    for original in draw(st.lists(st.sampled_from(log), min_size=1, max_size=4)) if log else []:
        stamp = original.stamp.model_dump()
        stamp["counter"] += draw(st.integers(0, 2))
        fields = original.model_dump() | {
            "value": draw(_VALUES[original.key]),
            "kind": draw(_KINDS),
            "stamp": stamp,
        }
        log.append(Observation.model_validate(fields))
    return log


@st.composite
def three_logs(draw: st.DrawFn) -> tuple[list[Observation], ...]:
    """Three copies of one guest's log as different properties hold them: overlapping."""
    pool = draw(logs_with_conflicts())
    if not pool:
        return ([], [], [])
    return tuple(draw(st.lists(st.sampled_from(pool), max_size=len(pool) + 4)) for _ in range(3))


_NOW = st.integers(0, 700).map(lambda day: T0 + day * DAY)


@PROPERTY
@given(log=logs_with_conflicts(), now=_NOW, data=st.data())
def test_any_order_and_any_duplication_give_the_same_preferences(
    log: list[Observation], now: float, data: st.DataObject
) -> None:
    expected = effective_preferences(log, now)
    duplicates = data.draw(st.lists(st.sampled_from(log), max_size=10)) if log else []
    shuffled = data.draw(st.permutations([*log, *duplicates]))

    assert effective_preferences(shuffled, now) == expected


@PROPERTY
@given(logs=three_logs())
def test_merge_is_commutative_associative_and_idempotent(
    logs: tuple[list[Observation], ...],
) -> None:
    a, b, c = logs
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c)) == merge(a, b, c)
    assert merge(a, a) == merge(a) == merge(merge(a))


@PROPERTY
@given(logs=three_logs(), now=_NOW)
def test_preferences_of_a_merge_are_those_of_the_union(
    logs: tuple[list[Observation], ...], now: float
) -> None:
    a, b, _ = logs
    union = effective_preferences([*b, *a], now)
    assert effective_preferences(merge(a, b), now) == union
    assert effective_preferences(merge(b, a), now) == union


@PROPERTY
@given(log=st.lists(observations(), min_size=1, max_size=20), now=_NOW)
def test_every_preference_is_valid_for_its_key(log: list[Observation], now: float) -> None:
    for key, pref in effective_preferences(log, now).items():
        if pref.value != ():
            assert validate(key, pref.value) == pref.value
        assert 0.0 <= pref.confidence <= 1.0
        assert pref.stays
        assert pref.recently_changed == (pref.previous_value is not None)
