"""PMS events as they reach the edge, and the pure life cycle of one stay.

The property management system (OPERA Cloud, Mews, an HTNG interface…) is translated
at the integration boundary into these models; `docs/PMS.md` maps each source onto them.
Every event carries an `event_id` (the idempotency key: a re-delivered event is a no-op)
and `ts`, when the PMS says it happened (POSIX seconds, like every time in the project).
`PmsEvent` is a union discriminated by `kind`; `parse_pms_event` reads JSON into it
and raises `pydantic.ValidationError` for anything else.

`apply` is the stay's transition function: pure, it returns an `Outcome` saying whether
the event was applied, was a duplicate (no-op), or was refused, with the reason. It
refuses what cannot have happened in that order (check-out or a room move before
check-in, anything after a cancellation, no-show or check-out, a change older than the
last one applied) instead of guessing; PMS webhooks are not guaranteed to arrive in
order, so the caller may hold a refused event and offer it again later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

__all__ = [
    "Cancelled",
    "CheckedIn",
    "CheckedOut",
    "NoShow",
    "Outcome",
    "OutcomeKind",
    "PmsEvent",
    "ReservationChanged",
    "ReservationCreated",
    "RoomMoved",
    "StayState",
    "StayStatus",
    "apply",
    "parse_pms_event",
]

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ReservationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
LoyaltyId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# The same alphabet as a room id in an MQTT topic (`shared.topics`).
RoomId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
RoomType = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Timestamp = Annotated[float, Field(ge=0.0)]
Nights = Annotated[int, Field(ge=1, le=366)]
LoyaltyTier = Literal["none", "silver", "gold", "platinum"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    event_id: EventId
    ts: Timestamp  # when it happened in the PMS
    reservation_id: ReservationId


class _Booking(_Event):
    """What a reservation says about the guest and the room: a room or at least its type."""

    loyalty_id: LoyaltyId | None = None  # absent for a guest without a loyalty profile
    loyalty_tier: LoyaltyTier | None = None  # weighs the guest's wishes in room choice
    room_id: RoomId | None = None  # assigned room, if the PMS has assigned one yet
    room_type: RoomType | None = None
    eta: Timestamp  # expected arrival
    nights: Nights

    @model_validator(mode="after")
    def _room_or_type(self) -> _Booking:
        if self.room_id is None and self.room_type is None:
            raise ValueError("a reservation names a room or a room type")
        return self


class ReservationCreated(_Booking):
    kind: Literal["reservation_created"] = "reservation_created"


class ReservationChanged(_Booking):
    """The reservation's whole current booking (not a patch)."""

    kind: Literal["reservation_changed"] = "reservation_changed"


class CheckedIn(_Event):
    kind: Literal["checked_in"] = "checked_in"
    room_id: RoomId


class RoomMoved(_Event):
    kind: Literal["room_moved"] = "room_moved"
    from_room_id: RoomId
    to_room_id: RoomId

    @model_validator(mode="after")
    def _moves(self) -> RoomMoved:
        if self.from_room_id == self.to_room_id:
            raise ValueError("a room move goes to another room")
        return self


class CheckedOut(_Event):
    kind: Literal["checked_out"] = "checked_out"


class Cancelled(_Event):
    kind: Literal["cancelled"] = "cancelled"


class NoShow(_Event):
    kind: Literal["no_show"] = "no_show"


PmsEvent = Annotated[
    ReservationCreated
    | ReservationChanged
    | CheckedIn
    | RoomMoved
    | CheckedOut
    | Cancelled
    | NoShow,
    Field(discriminator="kind"),
]
_ADAPTER: Final[TypeAdapter[PmsEvent]] = TypeAdapter(PmsEvent)


def parse_pms_event(raw: str | bytes) -> PmsEvent:
    """One event from JSON; `pydantic.ValidationError` if it is not a valid event."""
    return _ADAPTER.validate_json(raw)


class StayStatus(StrEnum):
    RESERVED = "reserved"
    IN_HOUSE = "in_house"
    CHECKED_OUT = "checked_out"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


_TERMINAL: Final = {
    StayStatus.CHECKED_OUT: "after check-out",
    StayStatus.CANCELLED: "after cancellation",
    StayStatus.NO_SHOW: "after no-show",
}


@dataclass(frozen=True, slots=True)
class StayState:
    """One reservation's stay as the edge knows it."""

    reservation_id: str
    status: StayStatus
    eta: float
    nights: int
    loyalty_id: str | None = None
    loyalty_tier: str | None = None
    room_id: str | None = None
    room_type: str | None = None
    booking_ts: float = 0.0  # `ts` of the booking event last applied
    last_ts: float = 0.0  # `ts` of the last event applied
    event_ids: frozenset[str] = frozenset()


class OutcomeKind(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the event id was seen: nothing changed
    REFUSED = "refused"  # out of order or inconsistent: nothing changed, `reason` says why


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    state: StayState | None  # the state after the event (unchanged unless applied)
    reason: str | None = None

    @property
    def applied(self) -> bool:
        return self.kind is OutcomeKind.APPLIED


def _refused(state: StayState | None, event: _Event, why: str) -> Outcome:
    return Outcome(
        OutcomeKind.REFUSED,
        state,
        f"{_kind(event)} {event.event_id} for reservation {event.reservation_id}: {why}",
    )


def _kind(event: _Event) -> str:
    return str(getattr(event, "kind", type(event).__name__))


def apply(state: StayState | None, event: PmsEvent) -> Outcome:
    """The stay after `event`; `state` is None for a reservation not seen yet."""
    if state is not None and event.reservation_id != state.reservation_id:
        return _refused(state, event, f"belongs to another reservation than {state.reservation_id}")
    if state is not None and event.event_id in state.event_ids:
        return Outcome(OutcomeKind.DUPLICATE, state)
    if state is None:
        # A change carries the whole booking, so an unknown reservation's change is its
        # creation: a gateway that goes live (or was down) learns existing bookings.
        if isinstance(event, ReservationCreated | ReservationChanged):
            return _applied(
                StayState(
                    reservation_id=event.reservation_id,
                    status=StayStatus.RESERVED,
                    eta=event.eta,
                    nights=event.nights,
                    loyalty_id=event.loyalty_id,
                    loyalty_tier=event.loyalty_tier,
                    room_id=event.room_id,
                    room_type=event.room_type,
                    booking_ts=event.ts,
                ),
                event,
            )
        return _refused(
            None, event, "unknown reservation (no reservation_created or _changed seen)"
        )
    if state.status in _TERMINAL:
        return _refused(state, event, f"event {_TERMINAL[state.status]}")
    return _transition(state, event)


def _applied(state: StayState, event: _Event) -> Outcome:
    return Outcome(
        OutcomeKind.APPLIED,
        replace(
            state,
            last_ts=max(state.last_ts, event.ts),
            event_ids=state.event_ids | {event.event_id},
        ),
    )


def _transition(state: StayState, event: PmsEvent) -> Outcome:  # noqa: PLR0911, PLR0912 - one arm a kind
    in_house = state.status is StayStatus.IN_HOUSE
    match event:
        case ReservationCreated():
            return _refused(state, event, "the reservation exists already")
        case ReservationChanged():
            if event.ts < state.booking_ts:
                return _refused(state, event, "older than the booking already applied")
            if in_house and event.room_id is not None and event.room_id != state.room_id:
                return _refused(state, event, "an in-house guest changes room by a room move")
            room_id = state.room_id if in_house else event.room_id
            return _applied(
                replace(
                    state,
                    eta=event.eta,
                    nights=event.nights,
                    loyalty_id=event.loyalty_id,
                    loyalty_tier=event.loyalty_tier,
                    room_id=room_id,
                    room_type=event.room_type,
                    booking_ts=event.ts,
                ),
                event,
            )
        case CheckedIn():
            if in_house:
                return _refused(state, event, f"already checked in to room {state.room_id}")
            return _applied(
                replace(state, status=StayStatus.IN_HOUSE, room_id=event.room_id), event
            )
        case RoomMoved():
            if not in_house:
                return _refused(state, event, "room move before check-in")
            if event.from_room_id != state.room_id:
                return _refused(
                    state, event, f"moves from {event.from_room_id}, guest is in {state.room_id}"
                )
            return _applied(replace(state, room_id=event.to_room_id), event)
        case CheckedOut():
            if not in_house:
                return _refused(state, event, "check-out before check-in")
            return _applied(replace(state, status=StayStatus.CHECKED_OUT), event)
        case Cancelled():
            if in_house:
                return _refused(state, event, "cancellation of an in-house stay (check out)")
            return _applied(replace(state, status=StayStatus.CANCELLED), event)
        case NoShow():
            if in_house:
                return _refused(state, event, "no-show for a guest who checked in")
            return _applied(replace(state, status=StayStatus.NO_SHOW), event)
    raise AssertionError(f"unhandled event {event!r}")  # pragma: no cover - union is exhaustive
