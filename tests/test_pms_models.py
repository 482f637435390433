"""PMS events at the edge: the models, and the stay's life cycle as a pure function."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.pms import (
    Cancelled,
    CheckedIn,
    CheckedOut,
    NoShow,
    OutcomeKind,
    PmsEvent,
    ReservationChanged,
    ReservationCreated,
    RoomMoved,
    StayState,
    StayStatus,
    apply,
    parse_pms_event,
)

RES = "R-1001"
ETA = 1_800_000_000.0


def created(event_id: str = "e1", ts: float = 100.0, **fields: object) -> ReservationCreated:
    base: dict[str, object] = {
        "event_id": event_id, "ts": ts, "reservation_id": RES, "loyalty_id": "L-7",
        "room_type": "KING", "eta": ETA, "nights": 2,
    }  # fmt: skip
    return ReservationCreated.model_validate({**base, **fields})


def run(*events: PmsEvent) -> StayState | None:
    state: StayState | None = None
    for event in events:
        outcome = apply(state, event)
        assert outcome.applied, outcome.reason
        state = outcome.state
    return state


def test_json_is_read_into_the_discriminated_union() -> None:
    raw = json.dumps(
        {"kind": "room_moved", "event_id": "e9", "ts": 5, "reservation_id": RES,
         "from_room_id": "101", "to_room_id": "102"}
    )  # fmt: skip
    event = parse_pms_event(raw)
    assert isinstance(event, RoomMoved)
    assert event.to_room_id == "102"
    assert isinstance(parse_pms_event(created().model_dump_json()), ReservationCreated)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"kind": "checked_in", "event_id": "e", "ts": 1, "reservation_id": RES}, "room_id"),
        ({"kind": "teleported", "event_id": "e", "ts": 1, "reservation_id": RES}, "tag"),
        ({"kind": "checked_out", "event_id": "e", "ts": 1, "reservation_id": RES, "x": 1},
         "extra"),
        ({"kind": "checked_out", "event_id": "", "ts": 1, "reservation_id": RES}, "at least 1"),
        ({"kind": "checked_out", "event_id": "e", "ts": "1", "reservation_id": RES}, "float"),
        ({"kind": "checked_in", "event_id": "e", "ts": 1, "reservation_id": RES,
          "room_id": "1/2"}, "pattern"),
        ({"kind": "room_moved", "event_id": "e", "ts": 1, "reservation_id": RES,
          "from_room_id": "101", "to_room_id": "101"}, "another room"),
        ({"kind": "reservation_created", "event_id": "e", "ts": 1, "reservation_id": RES,
          "eta": ETA, "nights": 1}, "room or a room type"),
        ({"kind": "reservation_created", "event_id": "e", "ts": 1, "reservation_id": RES,
          "eta": ETA, "nights": 0, "room_type": "K"}, "greater than or equal to 1"),
    ],
)  # fmt: skip
def test_invalid_events_are_refused_at_the_boundary(payload: dict[str, object], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        parse_pms_event(json.dumps(payload))


def test_a_stay_from_reservation_to_check_out() -> None:
    state = run(
        created(),
        ReservationChanged(
            event_id="e2", ts=200.0, reservation_id=RES, loyalty_id="L-7", room_id="101",
            room_type="KING", eta=ETA + 3600, nights=3,
        ),
        CheckedIn(event_id="e3", ts=300.0, reservation_id=RES, room_id="101"),
        RoomMoved(event_id="e4", ts=400.0, reservation_id=RES, from_room_id="101",
                  to_room_id="205"),
        CheckedOut(event_id="e5", ts=500.0, reservation_id=RES),
    )  # fmt: skip
    assert state is not None
    assert state.status is StayStatus.CHECKED_OUT
    assert (state.room_id, state.nights, state.eta) == ("205", 3, ETA + 3600)
    assert state.event_ids == {"e1", "e2", "e3", "e4", "e5"}
    assert state.last_ts == 500.0


def test_a_duplicate_event_id_is_a_no_op() -> None:
    state = run(created(), CheckedIn(event_id="e2", ts=2.0, reservation_id=RES, room_id="101"))
    again = apply(state, CheckedIn(event_id="e2", ts=2.0, reservation_id=RES, room_id="101"))
    assert again.kind is OutcomeKind.DUPLICATE
    assert again.state == state
    # Even a different payload under a seen id changes nothing: the id is the key.
    assert apply(state, CheckedOut(event_id="e1", ts=3.0, reservation_id=RES)).state == state


@pytest.mark.parametrize(
    ("history", "event", "why"),
    [
        ((), CheckedIn(event_id="x", ts=1, reservation_id=RES, room_id="101"),
         "unknown reservation"),
        ((), CheckedOut(event_id="x", ts=1, reservation_id=RES), "unknown reservation"),
        ((created(),), CheckedOut(event_id="x", ts=200, reservation_id=RES),
         "check-out before check-in"),
        ((created(),), RoomMoved(event_id="x", ts=200, reservation_id=RES, from_room_id="1",
                                 to_room_id="2"), "room move before check-in"),
        ((created(),), created(event_id="x"), "exists already"),
        ((created(ts=100.0),), ReservationChanged(
            event_id="x", ts=50.0, reservation_id=RES, room_type="TWIN", eta=ETA, nights=1),
         "older than the booking"),
        ((created(), Cancelled(event_id="c", ts=200, reservation_id=RES)),
         CheckedIn(event_id="x", ts=300, reservation_id=RES, room_id="101"),
         "after cancellation"),
        ((created(), Cancelled(event_id="c", ts=200, reservation_id=RES)),
         ReservationChanged(event_id="x", ts=300, reservation_id=RES, room_type="K", eta=ETA,
                            nights=1), "after cancellation"),
        ((created(), NoShow(event_id="n", ts=200, reservation_id=RES)),
         CheckedIn(event_id="x", ts=300, reservation_id=RES, room_id="101"), "after no-show"),
        ((created(), CheckedIn(event_id="i", ts=200, reservation_id=RES, room_id="101"),
          CheckedOut(event_id="o", ts=300, reservation_id=RES)),
         RoomMoved(event_id="x", ts=400, reservation_id=RES, from_room_id="101",
                   to_room_id="102"), "after check-out"),
        ((created(), CheckedIn(event_id="i", ts=200, reservation_id=RES, room_id="101")),
         CheckedIn(event_id="x", ts=300, reservation_id=RES, room_id="101"),
         "already checked in"),
        ((created(), CheckedIn(event_id="i", ts=200, reservation_id=RES, room_id="101")),
         Cancelled(event_id="x", ts=300, reservation_id=RES), "in-house"),
        ((created(), CheckedIn(event_id="i", ts=200, reservation_id=RES, room_id="101")),
         NoShow(event_id="x", ts=300, reservation_id=RES), "checked in"),
        ((created(), CheckedIn(event_id="i", ts=200, reservation_id=RES, room_id="101")),
         RoomMoved(event_id="x", ts=300, reservation_id=RES, from_room_id="999",
                   to_room_id="102"), "guest is in 101"),
        ((created(), CheckedIn(event_id="i", ts=200, reservation_id=RES, room_id="101")),
         ReservationChanged(event_id="x", ts=300, reservation_id=RES, room_id="102", eta=ETA,
                            nights=1), "by a room move"),
        ((created(),), CheckedOut(event_id="x", ts=1, reservation_id="OTHER"),
         "another reservation"),
    ],
)  # fmt: skip
def test_out_of_order_events_are_refused_with_the_reason(
    history: tuple[PmsEvent, ...], event: PmsEvent, why: str
) -> None:
    state = run(*history)
    outcome = apply(state, event)
    assert outcome.kind is OutcomeKind.REFUSED
    assert outcome.state == state
    assert outcome.reason is not None
    assert why in outcome.reason
    assert event.event_id in outcome.reason


def test_an_in_house_change_extends_the_stay_and_keeps_the_room() -> None:
    state = run(
        created(),
        CheckedIn(event_id="i", ts=200, reservation_id=RES, room_id="101"),
        ReservationChanged(event_id="c", ts=300, reservation_id=RES, room_type="KING",
                           eta=ETA, nights=5),
    )  # fmt: skip
    assert state is not None
    assert (state.status, state.room_id, state.nights) == (StayStatus.IN_HOUSE, "101", 5)


_EVENTS = st.sampled_from(
    [
        created(),
        created(event_id="e1b", ts=150.0, nights=4),
        ReservationChanged(event_id="ch", ts=120.0, reservation_id=RES, room_id="101",
                           eta=ETA, nights=3),
        CheckedIn(event_id="in", ts=200.0, reservation_id=RES, room_id="101"),
        RoomMoved(event_id="mv", ts=250.0, reservation_id=RES, from_room_id="101",
                  to_room_id="102"),
        CheckedOut(event_id="out", ts=300.0, reservation_id=RES),
        Cancelled(event_id="cx", ts=180.0, reservation_id=RES),
        NoShow(event_id="ns", ts=400.0, reservation_id=RES),
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_EVENTS, max_size=12))
def test_any_delivery_never_raises_and_redelivery_changes_nothing(
    events: list[PmsEvent],
) -> None:
    """Any order of arrival is answered, and delivering every event twice in a row
    (at-least-once webhooks) gives the same stay as delivering it once."""
    once: StayState | None = None
    twice: StayState | None = None
    terminal: StayState | None = None
    for event in events:
        once = apply(once, event).state
        for _ in range(2):
            twice = apply(twice, event).state
        if terminal is not None:
            assert once == terminal  # nothing moves a stay that has ended
        elif once is not None and once.status is not StayStatus.RESERVED:
            terminal = once if once.status is not StayStatus.IN_HOUSE else None
    assert once == twice
    if once is not None:
        assert once.event_ids <= {event.event_id for event in events}


def test_a_change_of_an_unknown_reservation_creates_it() -> None:
    """A gateway going live hears of existing bookings by their next change."""
    change = ReservationChanged(
        event_id="c1", ts=10.0, reservation_id=RES, room_type="KING", eta=ETA, nights=2
    )
    outcome = apply(None, change)
    assert outcome.kind is OutcomeKind.APPLIED
    assert outcome.state is not None
    assert outcome.state.status is StayStatus.RESERVED
    assert outcome.state.room_type == "KING"
