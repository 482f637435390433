"""The arrival service: PMS events in, a ready room at the door, a setback when empty.

How it works
------------
* **PMS events** (`handle`) go through the pure stay machine (`shared.pms.apply`); an
  applied event is written to the store (`edge.arrival.stays`) before the caller hears
  it was taken. A duplicate is a no-op, an impossible order is refused with the reason.
* **Reconciliation, not one-shot commands.** The planner tick (every `tick_s` of hotel
  time, and at once after an event or a door/occupancy change) works out what each
  stay wants of its room's thermostat and sends a command only when that differs from
  what the gateway last asked (`intent`). A command that could not be sent (broker
  down, gateway restarted) is simply wanted again at the next tick.
* **Pre-conditioning** starts at `plan_preconditioning(...).start_at`: the ETA minus the
  room's *learned* lead time (`edge.arrival.learning`) plus a stated margin, re-planned
  every tick from the room's current temperature until it starts. A changed ETA re-plans;
  if the room was already warming up for an ETA that moved hours later, it goes back to
  standby until the new start. A guest later than the ETA keeps the room at comfort for
  `late_hold_s`, then eco (not standby: they may walk in any minute) until check-in.
* **Two setbacks.** A room with a guest in house who is out goes to *eco* (the
  thermostats' band, 17–28 °C by default: quick to recover). A room nobody has rented
  for now (checked out, released by a move or a cancellation, waiting for its next
  guest) goes to *standby*, the deeper unsold-room band (12–32 °C, as hotel systems'
  "unsold" mode; energy codes ask for at least 16/27 °C there), and the learned lead
  time is what makes it safe, since the planner starts the room early enough from
  wherever it drifted. A thermostat that refuses standby gets eco.
* **Door-open.** The first door opening after check-in applies the scene (lights,
  curtains, mattress) from the guest's preferences; dormant preferences (last stay over
  six months ago) raise a confirmation request: a front-desk task and a note on the stay.
* **Vacancy.** In house, door closed and no motion for `vacancy_s`: eco setback; the
  door or motion restores comfort at the guest's own setting.
* **The guest wins.** A thermostat change that is not the gateway's (its mode or
  setpoint differs from the intent) is the guest's: the planner leaves the room alone
  until the next planned event (vacancy, check-out), and the guest's setpoint becomes
  the comfort target on their return.
* **Check-out**: standby, a make-up-room task, and what the guest did (the setpoint held
  longest if they changed it, the mattress level they chose, the evening light scene
  chosen on two evenings or more, the curtains) becomes `observed` observations in the
  profile outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from edge.commands import REFUSED, CommandManager, CommandStatus
from edge.dispatch.model import Skill, Source, TaskStatus
from edge.dispatch.service import TaskRequest, TaskService
from edge.errors import EdgeError
from edge.persistence import GatewayStore
from edge.profile_sync import ProfileSync
from edge.profiles import GuestProfiles
from edge.settings import EdgeSettings
from edge.twin import PropertyTwin, RoomTwin
from shared.clock import Clock, wait_event
from shared.layout import PropertyLayout
from shared.messages import (
    DoorState,
    HvacMode,
    OccupancyState,
    ThermostatState,
)
from shared.pms import (
    CheckedIn,
    OutcomeKind,
    PmsEvent,
    ReservationChanged,
    ReservationCreated,
    RoomMoved,
    StayStatus,
    apply,
)
from shared.preferences import ObservationKind, Preference
from shared.tasks import cancel_and_wait
from shared.topics import Device

from .behaviour import guest_setting, hold, learned
from .learning import RoomLearning
from .precondition import DEFAULT_HORIZON_S, format_duration, plan_preconditioning
from .room_choice import (
    Arrival,
    LoyaltyTier,
    Pin,
    PinBy,
    Recommendation,
    RecommendationStatus,
    recommend,
    wishes_from_preferences,
)
from .rooms import free_rooms
from .scene import (
    comfort_target,
    confirmation_keys,
    key_label,
    plain,
    prep_items,
    scene_commands,
    timed_offers,
)
from .stays import Precondition, StayRecord, StayStore, ThermostatIntent

__all__ = ["ArrivalConfig", "ArrivalService", "PmsRefused", "PmsResult", "UnknownStay"]

log = logging.getLogger(__name__)

_ACTIVE = frozenset({StayStatus.RESERVED, StayStatus.IN_HOUSE})
PREFS_TTL_S = 600.0  # preferences re-read at most this often per stay (hotel time)
REFRESHES_PER_TICK = 25  # stale caches re-read per tick at most (first reads always)
STANDBY_RETRY_S = 86_400.0  # a thermostat that refused standby is asked again after this
STALE_HOLD_S = 86_400.0  # a hold for a guest this long past the ETA is given up
# An ended stay's setback undelivered this long (a thermostat gone): asked hourly only.
GIVE_UP_AFTER_S = 6 * 3600.0
RECHECK_S = 3600.0
MAX_ETA_DISTANCE_S = 400 * 86_400.0
PRUNE_EVERY_S = 3600.0


class PmsRefused(EdgeError):
    """The event cannot have happened in this order; nothing changed."""


class UnknownStay(EdgeError):
    """No such reservation (or room) at this property."""


class PmsResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: OutcomeKind
    stay: StayRecord


@dataclass(frozen=True, slots=True)
class ArrivalConfig:
    default_target_c: float = 22.0  # the house's comfort when the guest has no preference
    margin: float = 0.2  # relative margin on the learned lead time
    tick_s: float = 60.0
    vacancy_s: float = 1800.0
    late_hold_s: float = 2 * 3600.0
    prep_lead_s: float = 4 * 3600.0  # preparation tasks go to the dispatcher this early
    # A booking of a room type gets the room the gateway recommends held this long before
    # its ETA: late enough that most of the day's bookings are known (all of the day's are
    # solved together), early enough for preparation and pre-conditioning from standby.
    hold_ahead_s: float = 6 * 3600.0
    prep_due_before_s: float = 1800.0  # ...due this long before the ETA
    setback_c: tuple[float, float] = (17.0, 28.0)  # the thermostats' eco band
    standby_c: tuple[float, float] = (12.0, 32.0)  # ...and their unsold-room band
    offer_lead_s: float = 900.0  # a usual drink is offered this long before its time
    check_out_time: time = time(12, 0)  # departing guests leave by then
    turnaround_s: float = 3600.0  # cleaning and inspection after a departure
    time_zone: str = "UTC"
    retention_s: float = 30 * 86_400.0  # ended stays are kept this long (GET /stays)

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> ArrivalConfig:
        return cls(
            default_target_c=settings.arrival_default_c,
            margin=settings.arrival_margin,
            tick_s=settings.arrival_tick_s,
            vacancy_s=settings.vacancy_eco_after_s,
            hold_ahead_s=settings.arrival_hold_ahead_s,
            setback_c=(settings.eco_low_c, settings.eco_high_c),
            standby_c=(settings.standby_low_c, settings.standby_high_c),
            time_zone=settings.time_zone,
        )


class ArrivalService:
    def __init__(
        self,
        *,
        clock: Clock,
        store: GatewayStore,
        twin: PropertyTwin,
        commands: CommandManager,
        tasks: TaskService,
        learning: RoomLearning,
        layout: PropertyLayout,
        profiles: Callable[[], GuestProfiles],
        sync: Callable[[], ProfileSync | None],
        config: ArrivalConfig | None = None,
    ) -> None:
        self._clock = clock
        self._stays_store = StayStore(store)
        self._twin = twin
        self._commands = commands
        self._tasks = tasks
        self.learning = learning
        self._layout = layout
        self._profiles = profiles
        self._sync = sync
        self.config = config or ArrivalConfig()
        self._zone = ZoneInfo(self.config.time_zone)
        self._stays: dict[str, StayRecord] = {}
        self._dirty: set[str] = set()
        self._seen: dict[str, tuple[HvacMode, float]] = {}  # room -> last (mode, setpoint)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped: list[str] = []
        self._stopped_holds: str | None = None  # the last hold pass failed: why
        self._failing: dict[str, str] = {}  # reservation -> why its planning fails
        self._prefs: dict[str, tuple[float, dict[str, Preference]]] = {}  # cache, by stay
        self._no_standby: dict[str, float] = {}  # room -> when its thermostat refused standby
        self._quiet: set[str] = set()  # ended stays with nothing left to do or to watch
        self._undelivered: dict[str, float] = {}  # ended stay -> its first failed setback
        self._resting: dict[str, float] = {}  # ended stay -> when to ask its room again
        self._pruned_at = 0.0
        self._refresh_budget = REFRESHES_PER_TICK

    # ---- lifecycle ----

    @property
    def faults(self) -> list[str]:
        """What is wrong for /health (which anyone on the network may read: no
        reservation ids): a stopped planner, how many stays cannot be planned."""
        failing = (
            [f"planning fails for {len(self._failing)} stays (their notes say why: GET /stays)"]
            if self._failing
            else []
        )
        holds = [self._stopped_holds] if self._stopped_holds else []
        return [*self._stopped, *holds, *failing]

    async def start(self) -> None:
        for record in await self._stays_store.load():
            self._stays[record.reservation_id] = record
        await self._prune(self._clock.now())
        for record in self._stays.values():
            if record.status is StayStatus.RESERVED:
                self._expect_profile(record)  # the pre-fetch list lives in memory only
        await self.learning.load()
        self._task = asyncio.create_task(self._run(), name="arrival-planner")
        self._task.add_done_callback(self._ended)

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        try:
            await self._flush()
            await self.learning.save_dirty()
        except Exception as exc:
            log.warning("arrival: final save failed: %s", exc)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._stopped.append(f"arrival planner stopped: {task.exception()!r}")
            log.error("arrival planner stopped", exc_info=task.exception())

    # ---- reading ----

    def stays(self, status: StayStatus | None = None) -> list[StayRecord]:
        records = sorted(self._stays.values(), key=lambda r: (r.eta, r.reservation_id))
        return [r for r in records if status is None or r.status is status]

    def stay(self, reservation_id: str) -> StayRecord | None:
        return self._stays.get(reservation_id)

    def _in_room(self, room_id: str) -> StayRecord | None:
        """The stay that has the room now: in house first, else the next reservation."""
        best: StayRecord | None = None
        for record in self._stays.values():
            if record.planned_room_id != room_id or record.status not in _ACTIVE:
                continue
            if record.status is StayStatus.IN_HOUSE:
                return record
            if best is None or record.eta < best.eta:
                best = record
        return best

    def _holder(self, room_id: str, other_than: StayRecord) -> StayRecord | None:
        """Another stay that owns the room's thermostat: one in house, or a reservation
        whose pre-conditioning has started."""
        for record in self._stays.values():
            if record is other_than or record.planned_room_id != room_id:
                continue
            if record.status is StayStatus.IN_HOUSE:
                return record
            pre = record.precondition
            if record.status is StayStatus.RESERVED and pre is not None and pre.started_at:
                return record
        return None

    def _check(self, event: PmsEvent, record: StayRecord | None, now: float) -> None:
        """What the stay machine cannot know: the property's rooms, the clock, others."""
        rooms = [getattr(event, "room_id", None), getattr(event, "to_room_id", None)]
        for room_id in rooms:
            if room_id is not None and not self._layout.has_room(room_id):
                raise PmsRefused(
                    f"{event.kind} {event.event_id}: room {room_id} is not in the layout of "
                    "this property"
                )
        eta = getattr(event, "eta", None)
        if eta is not None and abs(eta - now) > MAX_ETA_DISTANCE_S:
            raise PmsRefused(
                f"{event.kind} {event.event_id}: eta {eta:.0f} is more than 400 days from "
                "now (POSIX seconds are expected, not milliseconds)"
            )
        room_id = rooms[1] or (rooms[0] if isinstance(event, CheckedIn) else None)
        if room_id is None:
            return
        for other in self._stays.values():
            if (
                other is not record
                and other.planned_room_id == room_id
                and other.status is StayStatus.IN_HOUSE
            ):
                raise PmsRefused(
                    f"{event.kind} {event.event_id}: room {room_id} is still occupied "
                    f"by reservation {other.reservation_id}; post its check-out first"
                )

    # ---- PMS events ----

    async def handle(self, event: PmsEvent) -> PmsResult:
        """Apply one PMS event; durable when this returns. `PmsRefused` says why not."""
        async with self._lock:
            now = self._clock.now()
            record = self._stays.get(event.reservation_id)
            if record is None or event.event_id not in record.event_ids:
                self._check(event, record, now)
            outcome = apply(record.state if record is not None else None, event)
            if outcome.kind is OutcomeKind.REFUSED:
                raise PmsRefused(outcome.reason or "refused")
            if outcome.kind is OutcomeKind.DUPLICATE:
                assert record is not None  # a duplicate is of a known reservation
                return PmsResult(outcome=outcome.kind, stay=record)
            assert outcome.state is not None
            before = record.model_copy(deep=True) if record is not None else None
            if record is None:
                record = StayRecord.new(outcome.state, now)
            else:
                old_room = record.planned_room_id
                for key, value in record.with_state(outcome.state, now):
                    setattr(record, key, value)
                self._on_room_change(record, old_room, event, now)
            self._react(record, event, now)
            self._stays[record.reservation_id] = record
            try:
                await self._stays_store.save([record])
            except BaseException:
                # Not durable, so not taken: the PMS will offer it again.
                if before is None:
                    self._stays.pop(event.reservation_id, None)
                else:
                    self._stays[event.reservation_id] = before
                raise
            self._prefs.pop(record.reservation_id, None)
            self._quiet.discard(record.reservation_id)
            self._resting.pop(record.reservation_id, None)
        self._wake.set()
        return PmsResult(outcome=outcome.kind, stay=record)

    def _on_room_change(
        self, record: StayRecord, old_room: str | None, event: PmsEvent | None, now: float
    ) -> None:
        if old_room is None or old_room == record.planned_room_id:
            return
        if isinstance(event, RoomMoved):
            record.note(f"moved from {old_room} to {record.planned_room_id}")
            self._released(record, old_room, lived_in=True)
            record.scene_applied_at = None
            record.door_opened_at = None
            record.door_closed_at = None
            record.vacant_since = None
            record.last_activity = now
            record.behaviour.seen = {}
            if record.manual is not None:
                # The guest's own setting goes with them to the new room.
                record.target_c = record.manual.setpoint_c
                record.manual = None
        else:
            record.note(f"room changed from {old_room} to {record.planned_room_id}")
            self._released(record, old_room, lived_in=False)
            record.precondition = None

    def _released(self, record: StayRecord, room_id: str, *, lived_in: bool) -> None:
        """A room the stay no longer has: standby if we had touched it, make-up if lived in."""
        if record.intent is not None and record.intent.room_id == room_id:
            record.released.append(room_id)
        if lived_in:
            record.make_up_room(room_id)
        if record.prep_room_id == room_id:
            record.cancel_tasks.extend(record.prep_task_ids)
            record.prep_task_ids = []
            record.prep_room_id = None

    def _react(self, record: StayRecord, event: PmsEvent, now: float) -> None:
        match event:
            case ReservationCreated() | ReservationChanged():
                if record.precondition is not None and record.precondition.started_at is None:
                    record.precondition = None  # re-planned at the next tick
                elif (
                    record.precondition is not None
                    and abs(record.precondition.planned_eta - record.eta) > 60
                ):
                    record.note("ETA changed after pre-conditioning started: re-planned")
                    record.precondition = None
                self._expect_profile(record)
            case CheckedIn():
                record.checked_in_at = now
                record.last_activity = now
                record.note(f"checked in to {record.planned_room_id}")
            case _:
                if record.status is StayStatus.CHECKED_OUT:
                    record.checked_out_at = now
                    record.vacant_since = None
                    record.note("checked out")
                    if record.planned_room_id is not None:
                        record.make_up_room(record.planned_room_id)
                    self._forget_profile(record)
                elif record.status in (StayStatus.CANCELLED, StayStatus.NO_SHOW):
                    self._forget_profile(record)
                    record.note(f"{record.status.value.replace('_', '-')}: plan released")
                    for task_id in record.prep_task_ids:
                        record.cancel_tasks.append(task_id)
                    record.prep_task_ids = []

    def _expect_profile(self, record: StayRecord) -> None:
        sync = self._sync()
        if sync is not None and record.loyalty_id is not None:
            sync.expect(self._profiles().pseudonym(record.loyalty_id), record.eta)

    def _forget_profile(self, record: StayRecord) -> None:
        sync = self._sync()
        if sync is not None and record.loyalty_id is not None:
            sync.forget(self._profiles().pseudonym(record.loyalty_id))

    # ---- the twin ----

    def on_twin_change(self, room: RoomTwin, device: Device) -> None:
        """Bookkeeping only (no I/O): door, motion and the guest's own settings."""
        if device not in _WATCHED:
            return
        record = self._in_room(room.room_id)
        state = room.state(device)
        now = self._clock.now()
        if isinstance(state, ThermostatState):
            self._thermostat(room.room_id, record, state, now)
        if record is None or record.status is not StayStatus.IN_HOUSE:
            return
        if isinstance(state, DoorState | OccupancyState):
            if self._presence(record, state, now):
                self._wake.set()
        elif record.scene_applied_at is not None:
            guest_setting(record, state, self._local(now))
        self._dirty.add(record.reservation_id)

    def _presence(self, record: StayRecord, state: DoorState | OccupancyState, now: float) -> bool:
        """Door and motion: activity, the first door opening, a return. True if the
        planner must act now (the scene, or comfort back)."""
        urgent = False
        if isinstance(state, OccupancyState):
            if not state.occupied:
                return False
            record.last_activity = max(record.last_activity or 0.0, state.last_motion or now)
        else:
            record.last_activity = now
            if not state.open:
                record.door_closed_at = now
                return False
            if record.door_opened_at is None:
                record.door_opened_at = now
                record.note(f"door opened at {self._local(now):%H:%M}")
                urgent = True
        if record.vacant_since is not None:
            record.vacant_since = None
            record.note("guest back: comfort restored")
            urgent = True
        return urgent

    def _thermostat(
        self, room_id: str, record: StayRecord | None, state: ThermostatState, now: float
    ) -> None:
        self.learning.observe(room_id, state.ts, state.temperature_c, state.action)
        current = (state.mode, state.setpoint_c)
        previous = self._seen.get(room_id)
        self._seen[room_id] = current
        if record is None or record.status is not StayStatus.IN_HOUSE:
            return
        behaviour = record.behaviour
        if behaviour.setpoint_c != state.setpoint_c:
            hold(record, now)
            behaviour.setpoint_c = state.setpoint_c
            behaviour.since = now
        intent = record.intent
        if intent is not None and intent.room_id == room_id:
            if (intent.mode, intent.setpoint_c) == current:
                if record.manual is not None:
                    record.manual = None  # the guest went back to the plan
                    self._dirty.add(record.reservation_id)
                return
            acked = state.ack is not None and state.ack.command_id == intent.command_id
            if not acked:
                return  # our latest command has not reached the thermostat yet
        elif previous is None or previous == current:
            return
        if state.mode in _SETBACKS or (
            record.manual is not None and (record.manual.mode, record.manual.setpoint_c) == current
        ):
            return  # a setback is never the guest's comfort choice; or seen already
        record.manual = ThermostatIntent(
            room_id=room_id, mode=state.mode, setpoint_c=state.setpoint_c, reason="guest", at=now
        )
        behaviour.guest_changed_setpoint = True
        record.note(f"guest set the thermostat to {state.setpoint_c:g} °C")
        self._dirty.add(record.reservation_id)

    def on_outdoor(self, ts: float, temperature_c: float) -> None:
        """`ts`: when the gateway heard it (a station's own clock is not trusted)."""
        self.learning.outdoor.observe(ts, temperature_c)

    def on_telemetry(self, room_id: str, ts: float, temperature_c: float) -> None:
        thermostat = self._twin.room(room_id).thermostat
        action = thermostat.action if thermostat is not None else None
        self.learning.observe(room_id, ts, temperature_c, action)

    # ---- the planner ----

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except EdgeError as exc:
                log.warning("arrival planner: %s", exc)
            except Exception:
                # One bad stay must not stop the planner for the whole property.
                log.exception("arrival planner tick failed")
            await wait_event(self._wake, self._clock, self.config.tick_s)

    async def _prune(self, now: float) -> None:
        """Forget stays that ended more than `retention_s` ago (with nothing left to do):
        memory, the store and every per-room lookup would otherwise grow for good. Their
        event ids go with them; a PMS re-delivering an event that old is refused as an
        event of an unknown reservation."""
        old = [
            r.reservation_id
            for r in self._stays.values()
            if _settled(r) and r.updated_at < now - self.config.retention_s
        ]
        if old:
            await self._stays_store.remove(old)
            for reservation_id in old:
                self._stays.pop(reservation_id, None)
                self._prefs.pop(reservation_id, None)
                self._quiet.discard(reservation_id)
                self._undelivered.pop(reservation_id, None)
                self._resting.pop(reservation_id, None)
            log.info("arrival: forgot %d stays that ended long ago", len(old))
        self._pruned_at = now

    async def tick(self) -> None:
        """One planning pass over every stay; sends what the rooms lack."""
        async with self._lock:
            now = self._clock.now()
            self._refresh_budget = REFRESHES_PER_TICK
            if now - self._pruned_at > PRUNE_EVERY_S:
                await self._prune(now)
            try:
                await self._hold_rooms(now)
            except Exception as exc:  # the stays are still planned in the rooms they have
                log.exception("arrival: holding rooms failed")
                self._stopped_holds = f"holding rooms failed: {exc}"[:200]
            else:
                self._stopped_holds = None
            for record in list(self._stays.values()):
                try:
                    await self._plan(record, now)
                except Exception as exc:
                    self._failed(record, exc)
                else:
                    self._failing.pop(record.reservation_id, None)
            await self._flush()
        await self.learning.save_dirty()

    def _failed(self, record: StayRecord, exc: Exception) -> None:
        why = f"{type(exc).__name__}: {exc}"[:200]
        if self._failing.get(record.reservation_id) != why:
            log.error("arrival: planning stay %s failed", record.reservation_id, exc_info=exc)
            record.note(f"planning failed: {why}")
            self._dirty.add(record.reservation_id)
        self._failing[record.reservation_id] = why

    async def _flush(self) -> None:
        names = sorted(self._dirty)
        self._dirty.clear()
        try:
            await self._stays_store.save([self._stays[r] for r in names if r in self._stays])
        except BaseException:
            self._dirty.update(names)  # saved at the next tick
            raise

    async def _plan(self, record: StayRecord, now: float) -> None:
        rid = record.reservation_id
        if rid in self._quiet:
            return
        resting = self._resting.get(rid)
        if resting is not None:
            intent = record.intent
            if now < resting or intent is None:
                return
            # Time to ask the silent thermostat again: the same setback, sent anew.
            del self._resting[rid]
            await self._send(
                record, intent.room_id, intent.mode, intent.setpoint_c, intent.reason, now
            )
            return
        if _settled(record) and self._applied(record):
            self._undelivered.pop(rid, None)
            self._resting.pop(rid, None)
            refused = self._standby_refused(record)
            if refused is None:
                self._quiet.add(record.reservation_id)  # ended, and its room shows it
                return
            if now - refused < STANDBY_RETRY_S:
                return  # eco, since its thermostat refused standby; asked again later
        before = _fingerprint(record)
        await self._side_effects(record, now)
        if record.status is StayStatus.RESERVED and record.planned_room_id is not None:
            await self._plan_reserved(record, now)
        elif record.status is StayStatus.IN_HOUSE and record.planned_room_id is not None:
            await self._plan_in_house(record, now)
        elif record.status is StayStatus.CHECKED_OUT and record.observations_recorded is None:
            await self._record_observations(record, now)
        await self._reconcile(record, now)
        if _fingerprint(record) != before:
            self._dirty.add(record.reservation_id)

    async def _preferences(self, record: StayRecord) -> dict[str, Preference]:
        """The guest's effective preferences, re-read at most every `PREFS_TTL_S`: opening
        the sealed observations every tick for every stay would be most of the tick."""
        if record.loyalty_id is None:
            return {}
        now = self._clock.now()
        cached = self._prefs.get(record.reservation_id)
        if cached is not None and (now - cached[0] < PREFS_TTL_S or self._refresh_budget <= 0):
            # Fresh, or this tick has re-read enough: a 3,000-room property's stays all
            # expiring together would otherwise hold the event loop for seconds.
            return cached[1]
        self._refresh_budget -= 1
        prefs = await self._profiles().preferences(record.loyalty_id)
        self._prefs[record.reservation_id] = (now, prefs)
        return prefs

    async def _plan_reserved(self, record: StayRecord, now: float) -> None:
        assert record.planned_room_id is not None
        if record.eta - now > max(self.config.prep_lead_s, DEFAULT_HORIZON_S):
            return  # far ahead: the profile is being pre-fetched; nothing to do yet
        prefs = await self._preferences(record)
        record.target_c = comfort_target(prefs, self.config.default_target_c)
        if record.eta - now <= self.config.prep_lead_s:
            await self._prepare(record, prefs, now)
        pre = record.precondition
        if pre is not None and pre.started_at is not None:
            return
        room = self._twin.room(record.planned_room_id)
        thermostat = room.thermostat
        room_c = thermostat.temperature_c if thermostat is not None else None
        # Where the waiting room's drift stops: its standby band if it is in standby.
        in_standby = thermostat is not None and thermostat.mode is HvacMode.STANDBY
        setback = self.config.standby_c if in_standby else self.config.setback_c
        outdoor = self.learning.outdoor.mean(now)
        plan = plan_preconditioning(
            self.learning.estimate(record.planned_room_id),
            now=now,
            eta=record.eta,
            room_c=room_c if room_c is not None else record.target_c,
            target_c=record.target_c,
            outdoor_c=outdoor if outdoor is not None else (room_c or record.target_c),
            margin=self.config.margin,
            setback_c=setback,
        )
        reason = plan.reason if outdoor is not None else f"{plan.reason} (no outdoor reading)"
        started = now if now >= plan.start_at else None
        record.precondition = Precondition(
            target_c=record.target_c,
            start_at=plan.start_at,
            lead_s=plan.lead_s,
            margin_s=plan.margin_s,
            reason=reason,
            planned_at=now,
            planned_eta=record.eta,
            room_id=record.planned_room_id,
            room_c=room_c,
            outdoor_c=outdoor,
            started_at=started,
        )
        if started is not None:
            record.note(
                f"pre-conditioning {record.planned_room_id} to {record.target_c:g} °C: {reason}"
            )

    async def _prepare(self, record: StayRecord, prefs: dict[str, Preference], now: float) -> None:
        assert record.planned_room_id is not None
        same_eta = record.prep_eta is not None and abs(record.prep_eta - record.eta) <= 3600
        if record.prep_room_id == record.planned_room_id and same_eta:
            return
        # Another room or an ETA moved by more than an hour: the tasks are re-issued.
        record.cancel_tasks.extend(record.prep_task_ids)
        record.prep_task_ids = []
        due_in = max(300.0, record.eta - self.config.prep_due_before_s - now)
        eta_local = f"{self._local(record.eta):%H:%M}"
        for index, item in enumerate(prep_items(prefs)):
            # The ETA in the id: a re-issue is a new request, a replay the same one. Work
            # cancelled in this room before (a hold dropped and taken again) is asked for
            # anew under a numbered id: the same id would answer the cancelled task.
            base = f"prep:{record.reservation_id}:{record.planned_room_id}:{record.eta:.0f}:{index}"
            request_id, again = base, 0
            existing = self._tasks.by_request(request_id)
            while existing is not None and existing.status is TaskStatus.CANCELLED:
                again += 1
                request_id = f"{base}:{again}"
                existing = self._tasks.by_request(request_id)
            if existing is not None:
                record.prep_task_ids.append(existing.id)
                continue
            request = TaskRequest(
                request_id=request_id,
                room_id=record.planned_room_id,
                kind=item.kind,
                source=Source.PMS,
                preference_id=item.key,
                note=f"Before the guest arrives ({eta_local}): {item.note}",
                due_in_s=min(due_in, 7 * 86_400.0),
            )
            task, _ = await self._tasks.submit(request)
            record.prep_task_ids.append(task.id)
        record.prep_room_id = record.planned_room_id
        record.prep_eta = record.eta
        if record.prep_task_ids:
            record.note(
                f"{len(record.prep_task_ids)} preparation tasks for {record.planned_room_id}"
            )

    async def _plan_in_house(self, record: StayRecord, now: float) -> None:
        assert record.planned_room_id is not None
        if record.target_c is None:
            prefs = await self._preferences(record)
            record.target_c = comfort_target(prefs, self.config.default_target_c)
        if record.prep_eta is not None and record.prep_room_id != record.planned_room_id:
            # Moved rooms: what was prepared follows the guest.
            await self._prepare(record, await self._preferences(record), now)
        if record.door_opened_at is not None and record.scene_applied_at is None:
            await self._door_open(record, now)
        if record.vacant_since is None:
            await self._offer(record, now)
        if record.vacant_since is None:
            room = self._twin.room(record.planned_room_id)
            if self._empty(room, record, now):
                record.vacant_since = now
                if record.manual is not None:
                    # The next planned event: the guest's setting ends here, and is
                    # what the room comes back to.
                    record.target_c = record.manual.setpoint_c
                    record.manual = None
                record.note(f"empty for {self.config.vacancy_s / 60:.0f} min: eco")

    def _empty(self, room: RoomTwin, record: StayRecord, now: float) -> bool:
        """Door closed for `vacancy_s` with no motion since it closed.

        Motion after the door closed means someone is inside, however long they then
        lie still (a sleeping guest keeps comfort); and a guest who has not yet been
        in the room since check-in is not "gone" (the room stays ready).
        """
        door = room.state(Device.DOOR)
        occupancy = room.state(Device.OCCUPANCY)
        if not isinstance(door, DoorState) or not isinstance(occupancy, OccupancyState):
            return False  # without both sensors the room is never called empty
        closed = record.door_closed_at
        if door.open or occupancy.occupied or record.door_opened_at is None or closed is None:
            return False
        if (occupancy.last_motion or 0.0) > closed:
            return False
        return now - closed >= self.config.vacancy_s

    async def _door_open(self, record: StayRecord, now: float) -> None:
        assert record.planned_room_id is not None
        prefs = await self._preferences(record)
        values: dict[str, int | str] = {}
        for device, params in scene_commands(prefs):
            try:
                await self._commands.submit(record.planned_room_id, device.value, params)
            except EdgeError as exc:
                log.warning("arrival: scene %s in %s: %s", device, record.planned_room_id, exc)
                continue
            value = params.get("scene", params.get("position", params.get("firmness")))
            if isinstance(value, int | str):
                values[device.value] = value
        record.scene_values = values
        record.scene_applied_at = now
        record.note("welcome scene applied")
        keys = confirmation_keys(prefs)
        if keys and record.confirmation_task_id is None:
            record.confirm_keys = keys
            listed = ", ".join(f"{key_label(k)} ({plain(prefs[k].value)})" for k in keys)
            task, _ = await self._tasks.submit(
                TaskRequest(
                    request_id=f"confirm:{record.reservation_id}",
                    room_id=record.planned_room_id,
                    skill=Skill.FRONT_DESK,
                    kind="request",
                    source=Source.PMS,
                    note=f"Last stay over six months ago: ask the guest to confirm {listed}"[:500],
                )
            )
            record.confirmation_task_id = task.id
            record.note(f"confirmation requested: {', '.join(keys)}")

    async def _offer(self, record: StayRecord, now: float) -> None:
        """What the guest usually has at this hour (warm milk at 23:00) is offered shortly
        before, once a day, by a task linked to the preference: the service comes before
        the call. Not while the room says do-not-disturb."""
        room_id = record.planned_room_id
        if room_id is None or room_id in self._tasks.dnd_rooms:
            return
        local = self._local(now)
        for offer, kind in timed_offers(await self._preferences(record)):
            at = datetime.combine(local.date(), offer.at, self._zone).timestamp()
            mark = f"{offer.key}@{local.date().isoformat()}"
            if mark in record.offered or not at - self.config.offer_lead_s <= now < at:
                continue
            request_id = f"offer:{record.reservation_id}:{mark}"
            if self._tasks.by_request(request_id) is None:
                await self._tasks.submit(
                    TaskRequest(
                        request_id=request_id,
                        room_id=room_id,
                        kind=kind,
                        source=Source.PREDICTOR,
                        preference_id=offer.key,
                        note=(
                            f"Offer {plain(offer.value)} at {offer.at:%H:%M}: the guest's "
                            "usual, from earlier stays (call the room first)"
                        ),
                        due_in_s=max(60.0, at - now),
                    )
                )
            record.offered.append(mark)
            record.note(f"{plain(offer.value)} offered for {offer.at:%H:%M}")

    async def _side_effects(self, record: StayRecord, now: float) -> None:
        """Queued one-off work: cancel tasks, make up vacated rooms."""
        while record.cancel_tasks:
            task_id = record.cancel_tasks[0]
            try:
                await self._tasks.cancel(task_id, "the reservation changed")
            except EdgeError as exc:
                log.info("arrival: task %d not cancelled: %s", task_id, exc)
            record.cancel_tasks.pop(0)
        while record.make_up:
            room_id, _, seq = record.make_up[0].partition("#")
            await self._tasks.submit(
                TaskRequest(
                    request_id=f"vacated:{record.reservation_id}:{room_id}:{seq}",
                    room_id=room_id,
                    kind="make_up_room",
                    source=Source.PMS,
                    note="The guest has left the room",
                )
            )
            record.make_up.pop(0)
        del now

    # ---- the thermostat ----

    def _desired(  # noqa: PLR0911 - one answer per case of the stay
        self, record: StayRecord, now: float
    ) -> tuple[str, HvacMode, float, str] | None:
        """(room, mode, setpoint, why) the stay wants of its room now, or None."""
        room_id = record.planned_room_id
        if room_id is None:
            return None
        if record.target_c is None and record.status in _ACTIVE:
            return None  # not planned yet
        target = record.target_c or self.config.default_target_c
        if record.status is StayStatus.RESERVED:
            if self._holder(room_id, record) is not None:
                return None  # a guest is still in the room (or another arrival is due)
            pre = record.precondition
            if pre is not None and pre.started_at is not None:
                if now > record.eta + self.config.late_hold_s:
                    return room_id, HvacMode.ECO, target, "late: eco until check-in"
                return room_id, HvacMode.AUTO, target, "precondition"
            if record.intent is not None and record.intent.reason == "precondition":
                unsold = self._unsold_mode(room_id, now)
                return room_id, unsold, target, f"re-planned: {unsold.value} until the new start"
            return None
        if record.status is StayStatus.IN_HOUSE:
            if record.vacant_since is not None:
                return room_id, HvacMode.ECO, target, "vacant"
            if record.manual is not None:
                return None  # the guest's own setting wins
            return room_id, HvacMode.AUTO, target, "comfort"
        done = record.status is StayStatus.CHECKED_OUT or record.intent is not None
        if done and self._holder(room_id, record) is None:
            return room_id, self._unsold_mode(room_id, now), target, record.status.value
        return None

    async def _reconcile(self, record: StayRecord, now: float) -> None:
        if await self._check_delivery(record):
            return
        for room_id in list(record.released):
            if self._holder(room_id, record) is None:
                target = record.target_c or self.config.default_target_c
                mode = self._unsold_mode(room_id, now)
                if await self._send(record, room_id, mode, target, "released", now):
                    record.released.remove(room_id)
            else:
                record.released.remove(room_id)  # another stay has it now
        wanted = self._desired(record, now)
        if wanted is None:
            return
        room_id, mode, setpoint, why = wanted
        intent = record.intent
        if intent is not None and (intent.room_id, intent.mode, intent.setpoint_c) == (
            room_id,
            mode,
            setpoint,
        ):
            return
        await self._send(record, room_id, mode, setpoint, why, now)

    async def _check_delivery(self, record: StayRecord) -> bool:
        """Forget an intent whose command failed (a controller offline past the command's
        deadline, a refusal), so that it is wanted, and sent, again. True: the stay rests
        (its room's thermostat has not answered for hours), send nothing now."""
        intent = record.intent
        if intent is None or intent.command_id is None or record.manual is not None:
            return False
        thermostat = self._twin.room(intent.room_id).thermostat
        if thermostat is not None and (thermostat.mode, thermostat.setpoint_c) == (
            intent.mode,
            intent.setpoint_c,
        ):
            return False  # applied
        try:
            command = await self._commands.get(intent.command_id)
        except EdgeError:
            command = None  # pruned from the journal: long gone
        if command is None or command.status is CommandStatus.FAILED:
            why = command.reason if command is not None else "unknown"
            now = self._clock.now()
            rid = record.reservation_id
            # Refused: said so, or a standby left unanswered by a thermostat that is
            # online (an older one drops a mode it cannot read); offline is not refusal.
            online = self._twin.room(intent.room_id).device_online(Device.THERMOSTAT)
            refused = command is not None and (
                (command.reason or "").startswith(REFUSED)
                or (intent.mode is HvacMode.STANDBY and online)
            )
            if record.status not in _ACTIVE and not refused:
                first = self._undelivered.setdefault(rid, now)
                if now - first >= GIVE_UP_AFTER_S:
                    # A thermostat gone for hours: ask it only hourly (every failed ask
                    # is a command and a note), until it shows the setback.
                    if rid not in self._resting:
                        record.note(
                            f"{intent.room_id}: thermostat not answering for "
                            f"{format_duration(now - first)}; asked again every "
                            f"{format_duration(RECHECK_S)}"
                        )
                    self._resting[rid] = now + RECHECK_S
                    return True
            if intent.mode is HvacMode.STANDBY and refused:
                # An older thermostat refuses a mode it does not know (or drops it
                # unanswered): eco is the deepest setback it takes.
                self._no_standby[intent.room_id] = now
                record.note(f"{intent.room_id} refused standby ({why}): eco instead")
            else:
                record.note(f"thermostat command in {intent.room_id} failed ({why}): sent again")
            record.intent = None
        return False

    def _applied(self, record: StayRecord) -> bool:
        """Whether the thermostat shows the stay's last command: until it does, a settled
        stay is still watched, so that a refused or lost setback is noticed."""
        intent = record.intent
        if intent is None or self._holder(intent.room_id, record) is not None:
            return True  # nothing sent, or the room is another stay's now
        thermostat = self._twin.room(intent.room_id).thermostat
        if thermostat is None:
            return True  # a room without a thermostat the twin knows: nothing to see
        return (thermostat.mode, thermostat.setpoint_c) == (intent.mode, intent.setpoint_c)

    def _unsold_mode(self, room_id: str, now: float) -> HvacMode:
        """Standby for an unsold room, or eco where the thermostat refused standby lately
        (asked again a day later: its firmware may have been updated)."""
        refused = self._no_standby.get(room_id)
        if refused is not None and now - refused < STANDBY_RETRY_S:
            return HvacMode.ECO
        self._no_standby.pop(room_id, None)  # a refusal again puts it back
        return HvacMode.STANDBY

    def _standby_refused(self, record: StayRecord) -> float | None:
        """When the thermostat of an ended stay's room, left in eco, refused standby."""
        intent = record.intent
        if intent is None or intent.mode is not HvacMode.ECO or record.status in _ACTIVE:
            return None
        if self._holder(intent.room_id, record) is not None:
            return None  # let again: its next check-out asks for standby
        return self._no_standby.get(intent.room_id)

    async def _send(
        self,
        record: StayRecord,
        room_id: str,
        mode: HvacMode,
        setpoint: float,
        why: str,
        now: float,
    ) -> bool:
        params: dict[str, Any] = {"mode": mode.value, "setpoint_c": setpoint}
        try:
            command = await self._commands.submit(room_id, Device.THERMOSTAT.value, params)
        except EdgeError as exc:
            log.info("arrival: thermostat %s not sent (%s); retried next tick", room_id, exc)
            return False
        record.intent = ThermostatIntent(
            room_id=room_id,
            mode=mode,
            setpoint_c=setpoint,
            reason=why,
            at=now,
            command_id=command.id,
        )
        self._dirty.add(record.reservation_id)
        return True

    # ---- check-out ----

    async def _record_observations(self, record: StayRecord, now: float) -> None:
        if record.loyalty_id is None:
            record.observations_recorded = 0
            return
        profiles = self._profiles()
        hold(record, record.checked_out_at or now)
        count = 0
        for key, value in learned(record):
            await profiles.record(
                record.loyalty_id, key, value, ObservationKind.OBSERVED, record.reservation_id
            )
            count += 1
        record.observations_recorded = count
        if count:
            record.note(f"{count} observations of the stay recorded for the guest's profile")
            sync = self._sync()
            if sync is not None:
                sync.nudge()

    # ---- room choice ----

    async def recommend_rooms(self, day: date | None = None) -> list[Recommendation]:
        """The best free room for each of the day's arrivals that name only a room type.

        A recommendation: the PMS keeps the final word (it assigns the room, which then
        reaches the gateway as a changed reservation). Pins by the front desk first.
        """
        day = day or self._local(self._clock.now()).date()
        start = datetime.combine(day, time(0, 0), self._zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(0, 0), self._zone).timestamp()
        records = [
            r
            for r in list(self._stays.values())  # a PMS event may arrive meanwhile
            if r.status is StayStatus.RESERVED
            and r.room_id is None
            and r.room_type is not None
            and start <= r.eta < end
        ]
        pins: list[Pin] = []
        for record in records:
            if record.pinned_room_id is not None:
                pins.append(
                    Pin(reservation_id=record.reservation_id, room_id=record.pinned_room_id)
                )
            elif record.held_room_id is not None:
                pins.append(
                    Pin(
                        reservation_id=record.reservation_id,
                        room_id=record.held_room_id,
                        by=PinBy.GATEWAY,
                    )
                )
        rooms = free_rooms(
            self._layout,
            self._stays.values(),
            self._tasks.tasks(),
            day,
            self._zone,
            {p.room_id for p in pins},
            check_out_time=self.config.check_out_time,
            turnaround_s=self.config.turnaround_s,
        )
        occupied = self._occupancy({r.room_id for r in rooms})
        arrivals: list[Arrival] = []
        for record in records:
            assert record.room_type is not None
            prefs = await self._preferences(record)
            arrives, leaves = self._span(record)
            arrivals.append(
                Arrival(
                    reservation_id=record.reservation_id,
                    room_type=record.room_type,
                    eta=record.eta,
                    tier=LoyaltyTier(record.loyalty_tier or LoyaltyTier.NONE.value),
                    wishes=wishes_from_preferences({k: p.value for k, p in prefs.items()}),
                    unavailable=frozenset(
                        room
                        for room, spans in occupied.items()
                        if any(
                            rid != record.reservation_id and s0 < leaves and arrives < s1
                            for s0, s1, rid in spans
                        )
                    ),
                )
            )
        floors = (
            min(r.floor for r in self._layout.rooms),
            max(r.floor for r in self._layout.rooms),
        )
        # numba and a few hundred thousand cost entries: off the event loop.
        return await asyncio.to_thread(recommend, arrivals, rooms, pins, floors=floors)

    async def pin_room(self, reservation_id: str, room_id: str | None) -> StayRecord:
        """The front desk's choice for a booking of a room type (None: take it back)."""
        async with self._lock:
            record = self._stays.get(reservation_id)
            if record is None:
                raise UnknownStay(f"no stay {reservation_id!r}")
            if record.status is not StayStatus.RESERVED or record.room_id is not None:
                raise PmsRefused(
                    f"reservation {reservation_id} is {record.status.value} with room "
                    f"{record.room_id}: only a booking of a room type can be pinned"
                )
            if room_id is not None and not self._layout.has_room(room_id):
                raise UnknownStay(f"no room {room_id!r} in the property")
            before = record.model_copy(deep=True)
            old_room = record.planned_room_id
            record.pinned_room_id = room_id
            record.held_room_id = None  # the desk's choice replaces the gateway's
            self._quiet.discard(reservation_id)
            # The pin is where the gateway prepares and pre-conditions until the PMS
            # assigns a room: moving it releases what was planned in the old one.
            self._on_room_change(record, old_room, None, self._clock.now())
            try:
                await self._stays_store.save([record])
            except BaseException:
                self._stays[reservation_id] = before
                raise
        self._wake.set()
        return record

    async def _hold_rooms(self, now: float) -> None:
        """Hold the recommended room for each booking of a room type due within
        `hold_ahead_s`, so that it is prepared and pre-conditioned although the PMS assigns
        rooms only at check-in; drop a hold whose room another stay now has."""
        for record in list(self._stays.values()):
            held = record.held_room_id
            if held is None:
                continue
            if record.room_id is not None or record.pinned_room_id is not None:
                record.held_room_id = None  # shadowed: the room change was handled then
                self._dirty.add(record.reservation_id)
                continue
            if record.status is not StayStatus.RESERVED:
                continue  # ended: the hold says which room to set back
            why = None
            if record.eta < now - STALE_HOLD_S:
                why = "the guest never came and the PMS did not say so"
            elif self._claimed(held, record):
                why = "another stay has it"
            if why is not None:
                record.held_room_id = None
                record.note(f"room {held} no longer held: {why}")
                self._on_room_change(record, held, None, now)
                self._quiet.discard(record.reservation_id)
                self._dirty.add(record.reservation_id)
        due = [
            r
            for r in self._stays.values()
            if r.status is StayStatus.RESERVED
            and r.planned_room_id is None
            and r.room_type is not None
            and now - self.config.late_hold_s <= r.eta <= now + self.config.hold_ahead_s
        ]
        for day in sorted({self._local(r.eta).date() for r in due}):
            chosen = {
                rec.reservation_id: rec.room_id
                for rec in await self.recommend_rooms(day)
                if rec.status is RecommendationStatus.RECOMMENDED and rec.room_id is not None
            }
            for record in due:
                room_id = chosen.get(record.reservation_id)
                if room_id is None or record.planned_room_id is not None:
                    continue
                if self._claimed(room_id, record):
                    # Free tonight but booked within this stay's nights (the day's
                    # recommendation does not look past the night): not held, or the hold
                    # would be dropped and taken again at every tick.
                    why = f"room {room_id} is booked during this stay: not held; pin a room"
                    if not record.notes or record.notes[-1] != why:
                        record.note(why)
                        self._dirty.add(record.reservation_id)
                    continue
                record.held_room_id = room_id
                record.note(
                    f"room {room_id} held and being readied (the gateway's recommendation;"
                    " assign it in the PMS, or pin another)"
                )
                self._dirty.add(record.reservation_id)

    def _claimed(self, room_id: str, holder: StayRecord) -> bool:
        """Whether another active stay has the room for some of `holder`'s nights: from
        the PMS or the front desk, or held for an earlier arrival."""
        start, end = self._span(holder)
        for r in self._stays.values():
            if r is holder or r.status not in _ACTIVE:
                continue
            held_first = r.held_room_id == room_id and (r.eta, r.reservation_id) < (
                holder.eta,
                holder.reservation_id,
            )
            if room_id in (r.room_id, r.pinned_room_id) or held_first:
                other_start, other_end = self._span(r)
                if other_start < end and start < other_end:
                    return True
        return False

    def _span(self, record: StayRecord) -> tuple[float, float]:
        """From arrival (or check-in) to the check-out time after the last night."""
        start = record.checked_in_at or record.eta
        leave = self._local(start).date() + timedelta(days=max(1, record.nights))
        return start, datetime.combine(leave, self.config.check_out_time, self._zone).timestamp()

    def _occupancy(self, rooms: set[str]) -> dict[str, list[tuple[float, float, str]]]:
        """Per room of `rooms`, the spans of the active stays that have it (from the
        PMS), were pinned to it or hold it: (start, end, reservation id)."""
        occupied: dict[str, list[tuple[float, float, str]]] = {}
        for r in self._stays.values():
            room = r.planned_room_id
            if room in rooms and r.status in _ACTIVE:
                occupied.setdefault(room, []).append((*self._span(r), r.reservation_id))
        return occupied

    def _local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self._zone)


_WATCHED = frozenset(
    {
        Device.THERMOSTAT,
        Device.DOOR,
        Device.OCCUPANCY,
        Device.MATTRESS,
        Device.CURTAINS,
        Device.LIGHTS,
    }
)


def _fingerprint(record: StayRecord) -> tuple[object, ...]:
    """What a planner pass may change: cheap to compare, unlike a whole dump per stay."""
    return (
        record.target_c,
        record.precondition,
        record.intent,
        record.manual,
        record.vacant_since,
        record.scene_applied_at,
        record.observations_recorded,
        record.prep_room_id,
        len(record.prep_task_ids),
        len(record.released),
        len(record.make_up),
        len(record.cancel_tasks),
        len(record.notes),
    )


# The gateway's own setbacks: never a guest's comfort choice.
_SETBACKS = frozenset({HvacMode.ECO, HvacMode.STANDBY})


def _settled(record: StayRecord) -> bool:
    """An ended stay with nothing left to do: the planner passes it by."""
    if record.status in _ACTIVE or record.released or record.make_up or record.cancel_tasks:
        return False
    # Either setback settles: eco where a thermostat refuses standby, and stays that
    # ended before standby existed are not all woken to send it at once.
    if record.status is StayStatus.CHECKED_OUT:
        # A room that was lived in goes to a setback even if the gateway never set it.
        setback = record.intent is not None and record.intent.mode in _SETBACKS
        return setback and record.observations_recorded is not None
    return record.intent is None or record.intent.mode in _SETBACKS
