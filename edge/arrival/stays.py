"""Stays as the arrival service keeps them: the PMS life cycle plus what was planned and
done for the room, in the gateway's store (table `stays`, one document per reservation).

A stay is written before the PMS hears that its event was taken, so an acknowledged
event survives a crash; everything the service does afterwards is reconciled from this
record on the next planner tick, so a crash between the write and a device command only
delays the command.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.persistence import GatewayStore, upsert_keyed
from edge.store import EdgeStore
from shared.messages import HvacMode
from shared.pms import StayState, StayStatus

__all__ = ["Behaviour", "Precondition", "StayRecord", "StayStore", "ThermostatIntent"]

STAYS = "stays"


class ThermostatIntent(BaseModel):
    """What the gateway last asked of a room's thermostat, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    room_id: str
    mode: HvacMode
    setpoint_c: float
    reason: str  # "precondition", "comfort", "vacant", "check-out", "released"
    at: float
    command_id: str | None = None


class Precondition(BaseModel):
    """The latest plan for reaching the comfort target by the ETA."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_c: float
    start_at: float
    lead_s: float | None  # learned time to reach the band; None if unreachable
    margin_s: float
    reason: str
    planned_at: float
    planned_eta: float
    room_id: str
    room_c: float | None = None
    outdoor_c: float | None = None
    started_at: float | None = None


class Behaviour(BaseModel):
    """What the guest did in the room, accumulated while in house, for the observations
    written at check-out. Seconds per value, so a setting held all night outweighs one
    tried for ten minutes."""

    model_config = ConfigDict(extra="forbid")

    setpoint_s: dict[str, float] = Field(default_factory=dict)  # "22.0" -> seconds held
    guest_changed_setpoint: bool = False
    firmness: int | None = None  # last level the guest chose
    evening_scenes: dict[str, int] = Field(default_factory=dict)  # scene -> evenings chosen
    scene_days: list[str] = Field(default_factory=list)  # "<day>:<scene>" counted
    seen: dict[str, int | str] = Field(default_factory=dict)  # last value per device
    curtains: int | None = None
    since: float | None = None  # when the current setpoint started being held
    setpoint_c: float | None = None


class StayRecord(BaseModel):
    """One reservation: the PMS's facts (`state`) and the gateway's plan for it."""

    model_config = ConfigDict(extra="forbid")

    reservation_id: str
    status: StayStatus
    eta: float
    nights: int
    loyalty_id: str | None = None  # the edge's own copy; never leaves the property in clear
    loyalty_tier: str | None = None
    room_id: str | None = None
    room_type: str | None = None
    booking_ts: float = 0.0
    last_ts: float = 0.0
    event_ids: list[str] = Field(default_factory=list)
    updated_at: float = 0.0
    checked_in_at: float | None = None
    checked_out_at: float | None = None
    pinned_room_id: str | None = None  # the front desk's choice for a room-type booking
    # ...else the room the gateway recommended and holds for it, readying it (preparation,
    # pre-conditioning) until the PMS assigns a room or the desk pins one.
    held_room_id: str | None = None
    # The plan.
    target_c: float | None = None
    precondition: Precondition | None = None
    prep_task_ids: list[int] = Field(default_factory=list)
    prep_room_id: str | None = None
    prep_eta: float | None = None
    intent: ThermostatIntent | None = None
    manual: ThermostatIntent | None = None  # the guest's own setting, which wins
    door_opened_at: float | None = None
    scene_applied_at: float | None = None
    scene_values: dict[str, int | str] = Field(default_factory=dict)  # what the scene set
    confirm_keys: list[str] = Field(default_factory=list)
    confirmation_task_id: int | None = None
    offered: list[str] = Field(default_factory=list)  # "<key>@<local date>" already offered
    vacant_since: float | None = None
    last_activity: float | None = None
    door_closed_at: float | None = None
    behaviour: Behaviour = Field(default_factory=Behaviour)
    observations_recorded: int | None = None
    # Queued one-off work, done by the planner (and retried there if it fails).
    released: list[str] = Field(default_factory=list)  # rooms to put in standby
    make_up: list[str] = Field(default_factory=list)  # "<room>#<n>": rooms to make up
    make_up_seq: int = 0
    cancel_tasks: list[int] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # what happened, for the front desk

    @property
    def planned_room_id(self) -> str | None:
        """The room the gateway plans for: the PMS's, else the front desk's pin, else the
        room the gateway holds (a booking of a room type whose room the PMS assigns late,
        often at check-in)."""
        return self.room_id or self.pinned_room_id or self.held_room_id

    @property
    def state(self) -> StayState:
        return StayState(
            reservation_id=self.reservation_id,
            status=self.status,
            eta=self.eta,
            nights=self.nights,
            loyalty_id=self.loyalty_id,
            loyalty_tier=self.loyalty_tier,
            room_id=self.room_id,
            room_type=self.room_type,
            booking_ts=self.booking_ts,
            last_ts=self.last_ts,
            event_ids=frozenset(self.event_ids),
        )

    def with_state(self, state: StayState, now: float) -> StayRecord:
        return self.model_copy(
            update={
                "status": state.status,
                "eta": state.eta,
                "nights": state.nights,
                "loyalty_id": state.loyalty_id,
                "loyalty_tier": state.loyalty_tier,
                "room_id": state.room_id,
                "room_type": state.room_type,
                "booking_ts": state.booking_ts,
                "last_ts": state.last_ts,
                "event_ids": sorted(state.event_ids),
                "updated_at": now,
            }
        )

    @classmethod
    def new(cls, state: StayState, now: float) -> StayRecord:
        return cls(
            reservation_id=state.reservation_id, status=state.status, eta=state.eta,
            nights=state.nights,
        ).with_state(state, now)  # fmt: skip

    def make_up_room(self, room_id: str) -> None:
        """Queue a make-up of `room_id`; each gets its own request id, kept across retries."""
        self.make_up_seq += 1
        self.make_up.append(f"{room_id}#{self.make_up_seq}")

    def note(self, text: str) -> None:
        self.notes = [*self.notes[-19:], text]


class StayStore:
    """Stays by reservation id, addressed by doc id (an index built at load)."""

    def __init__(self, store: GatewayStore) -> None:
        self._store = store
        self._ids: dict[str, int] = {}

    async def load(self) -> list[StayRecord]:
        return await self._store.run(self._load)

    def _load(self, db: EdgeStore) -> list[StayRecord]:
        docs = db.table(STAYS).all()
        self._ids = {doc["reservation_id"]: doc.doc_id for doc in docs}
        return [StayRecord.model_validate(doc) for doc in docs]

    async def save(self, records: Iterable[StayRecord]) -> None:
        """Write the records in one transaction: durable, all or nothing, when it returns."""
        docs = [(r.reservation_id, r.model_dump(mode="json")) for r in records]
        if docs:
            await self._store.run(lambda db: self._save(db, docs))

    async def remove(self, reservation_ids: list[str]) -> None:
        """Drop stays (ended long ago) in one transaction."""
        doc_ids = [self._ids[r] for r in reservation_ids if r in self._ids]
        if doc_ids:
            await self._store.run(lambda db: self._remove(db, doc_ids))
        for reservation_id in reservation_ids:
            self._ids.pop(reservation_id, None)

    def _remove(self, db: EdgeStore, doc_ids: list[int]) -> None:
        db.table(STAYS).remove(doc_ids=doc_ids)

    def _save(self, db: EdgeStore, docs: list[tuple[str, dict[str, Any]]]) -> None:
        upsert_keyed(db, STAYS, self._ids, docs)
