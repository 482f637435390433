"""One simulated guest room: its devices and physics behind one room controller.

The room answers commands, reports its devices, runs its physics on the hotel clock
and obeys its fault switches. Tests read its state directly and script a guest
through its guest actions; every change is published as the real device would.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from firmware_sim.behaviour import GuestBehaviour
from firmware_sim.config import SimConfig, Span
from firmware_sim.controller import STATE_QOS, RoomController
from firmware_sim.devices import TEMPERATURE_DECIMALS, RoomDevices
from firmware_sim.faults import FaultPlan, Faults, MalformedKind, malformed_message
from firmware_sim.thermal import SECONDS_PER_HOUR, OutdoorTemperature, ThermalParams, ThermalRoom
from shared.broker import BrokerAddress
from shared.clock import Clock
from shared.messages import (
    CommandAck,
    DeviceState,
    HvacAction,
    HvacMode,
    Message,
    OccupancyTelemetry,
    Rejection,
    SetCommand,
    Status,
    StatusMessage,
    ThermostatState,
    ThermostatTelemetry,
    decode,
    encode,
)
from shared.topics import Channel, Device, RoomTopic

__all__ = ["RoomCounters", "SimulatedRoom"]

log = logging.getLogger(__name__)

TELEMETRY_QOS = 0  # readings are superseded by the next one; losing one is fine
J_PER_KWH = 3.6e6


@dataclass(slots=True)
class RoomCounters:
    commands_applied: int = 0
    commands_refused: int = 0  # answered with applied=False
    commands_repeated: int = 0  # an id already answered: acknowledged again, not reapplied
    commands_dropped: int = 0  # by the drop fault: never answered
    commands_delayed: int = 0  # held back by the delay fault (answered later)
    commands_ignored_offline: int = 0  # for a device that is offline: never answered
    commands_malformed: int = 0  # undecodable, or not a command for this room
    commands_stale: int = 0  # delivered as retained: ignored
    malformed_published: int = 0  # garbage sent by the malformed fault


def _draw(rng: random.Random, span: Span) -> float:
    return rng.uniform(span.low, span.high)


def _next_beat(previous: float, period: float, now: float) -> float:
    """The next tick of a periodic schedule; beats already missed are skipped, not burst."""
    beat = previous + period
    return beat if beat > now else now + period


class SimulatedRoom:
    """A guest room with one room controller; built by `SimulatedProperty`."""

    def __init__(
        self,
        property_id: str,
        room_id: str,
        *,
        broker: BrokerAddress,
        clock: Clock,
        config: SimConfig,
        outdoor: OutdoorTemperature,
        property_faults: Faults,
        connect_gate: asyncio.Semaphore,
        seed: int,
    ) -> None:
        self.property_id = property_id
        self.room_id = room_id
        self._clock = clock
        self._config = config

        # One random stream per concern, so that switching one on (a fault, the guest)
        # does not change what the others draw.
        def stream(purpose: str) -> random.Random:
            return random.Random(f"{seed}/{property_id}/{room_id}/{purpose}")

        physics = stream("physics")
        thermal = config.thermal
        self.thermal_params = ThermalParams(
            tau_s=_draw(physics, thermal.tau_h) * SECONDS_PER_HOUR,
            hvac_rate_c_per_s=_draw(physics, thermal.hvac_rate_c_per_h) / SECONDS_PER_HOUR,
            hvac_power_w=_draw(physics, thermal.hvac_power_w),
        )
        self._thermal = ThermalRoom(
            self.thermal_params,
            outdoor,
            temperature_c=thermal.initial_setpoint_c
            + physics.uniform(-thermal.initial_spread_c, thermal.initial_spread_c),
            time_s=clock.now(),
            mode=thermal.initial_mode,
            setpoint_c=thermal.initial_setpoint_c,
            deadband_c=thermal.deadband_c,
            eco_low_c=thermal.eco_low_c,
            eco_high_c=thermal.eco_high_c,
            standby_c=(thermal.standby_low_c, thermal.standby_high_c),
        )
        # Where in each physics step this room ticks, as a fraction of the step:
        # unsynchronised, like real firmware.
        self.tick_phase = physics.random()
        self._tick_slack_s = config.physics_step_s / 2
        self._telemetry_due: float | None = None
        self._devices = RoomDevices(
            config.devices_of(room_id),
            self._thermal,
            config.firmware,
            thermostat_modes=thermal.modes,
        )

        self.faults = Faults()
        self._plan = FaultPlan(self.faults, property_faults, stream("faults"))
        self.counters = RoomCounters()
        self._acks: dict[Device, CommandAck] = {}
        self._recent: OrderedDict[str, tuple[Device, CommandAck]] = OrderedDict()
        self._offline: set[Device] = set()
        self._has_status: set[Device] = set()  # devices whose retained status the broker holds
        self._reported: tuple[HvacMode, float, HvacAction, float] | None = None
        self._topics: dict[tuple[Device, Channel], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

        self._behaviour: GuestBehaviour | None = None
        if config.behaviour.enabled:
            guest = stream("guest")
            self._devices.occupied = guest.random() < config.behaviour.occupancy_share
            self._behaviour = GuestBehaviour(self, clock, guest, config.behaviour)

        self._controller = RoomController(
            property_id,
            room_id,
            broker,
            keepalive_s=config.keepalive_real_s,
            connect_gate=connect_gate,
            on_connected=self._publish_everything,
            on_message=self._on_message,
            jitter=stream("network"),
        )

    # ---- reading the room -----------------------------------------------------------

    @property
    def devices(self) -> tuple[Device, ...]:
        return self._devices.devices

    @property
    def connected(self) -> bool:
        return self._controller.connected

    @property
    def ready(self) -> bool:
        """Connected and all retained state acknowledged by the broker."""
        return self._controller.ready

    @property
    def connects(self) -> int:
        return self._controller.connects

    @property
    def temperature_c(self) -> float:
        self._thermal.advance_to(self._clock.now())
        return self._thermal.temperature_c

    @property
    def setpoint_c(self) -> float:
        return self._thermal.setpoint_c

    @property
    def hvac_power_w(self) -> float:
        self._thermal.advance_to(self._clock.now())
        return self._thermal.power_w

    @property
    def energy_kwh(self) -> float:
        self._thermal.advance_to(self._clock.now())
        return self._thermal.energy_j / J_PER_KWH

    @property
    def thermostat(self) -> ThermostatState:
        state = self.state(Device.THERMOSTAT)
        assert isinstance(state, ThermostatState)
        return state

    @property
    def occupied(self) -> bool:
        return self._devices.occupied

    def state(self, device: Device) -> DeviceState:
        """The device's state as it would be published now."""
        return self._devices.state(device, self._clock.now(), self._acks.get(device))

    def device_online(self, device: Device) -> bool:
        return device not in self._offline

    # ---- lifecycle ------------------------------------------------------------------

    def start(self, host: str) -> None:
        """Start the room; `host` is the broker's address, resolved once by the property."""
        if self._tasks:
            raise RuntimeError(f"room {self.room_id} is already running")
        self._spawn(self._controller.run(host), "mqtt")
        if self._behaviour is not None:
            self._spawn(self._behaviour.run(), "guest")

    async def stop(self) -> None:
        """Publish offline, disconnect cleanly and end every task of the room."""
        await self._controller.shutdown(self._clock.now())
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_ready(self) -> None:
        await self._controller.wait_ready()

    # ---- faults with an effect on the wire ------------------------------------------

    async def crash(self, down_for_s: float | None = None) -> None:
        """Drop the connection without DISCONNECT, so that the broker publishes the will.

        The room stays down until `reconnect`, or for `down_for_s` hotel seconds. Its
        physics go on meanwhile; what it would have published is lost, except retained
        state, which it republishes on reconnecting.
        """
        await self._controller.crash()
        if down_for_s is not None:
            # The deadline is fixed now, not when the task first runs: a test that
            # advances a ManualClock right after this call must still wake it.
            self._spawn(self._come_back_at(self._clock.now() + down_for_s), "reboot")

    async def reconnect(self) -> None:
        """Reconnect after `crash`; returns once the state is republished and acknowledged
        (bound the wait with `asyncio.timeout`: a broker that is down means forever)."""
        self._controller.reconnect()
        await self._controller.wait_ready()

    def set_device_online(self, device: Device, online: bool) -> None:
        """Take a device off the network (retained status offline, no answers) or back."""
        if device is Device.CONTROLLER or device not in self.devices:
            raise ValueError(f"room {self.room_id} has no device {device} to switch")
        if online:
            self._offline.discard(device)
        else:
            self._offline.add(device)
        self._has_status.add(device)
        self._publish_status(device, online)
        if online:
            self._publish_state(device)

    def publish_malformed(self, kind: MalformedKind) -> None:
        """Publish one garbage message of `kind` (not retained: it never replaces state)."""
        topic, payload = malformed_message(
            kind,
            RoomTopic(self.property_id, self.room_id, Device.THERMOSTAT, Channel.TELEMETRY),
            self._clock.now(),
        )
        if self._controller.publish(topic, payload, qos=TELEMETRY_QOS, retain=False):
            self.counters.malformed_published += 1

    # ---- guest actions (see behaviour.GuestActions) ---------------------------------

    def open_door(self) -> None:
        """Someone opens the door; a key card or the handle inside unlocks it."""
        self._devices.door_open = True
        self._devices.door_locked = False
        self._publish_state(Device.DOOR)

    def close_door(self) -> None:
        """The door closes; key-card locks relock by themselves."""
        self._devices.door_open = False
        self._devices.door_locked = True
        self._publish_state(Device.DOOR)

    def set_occupied(self, occupied: bool) -> None:
        devices = self._devices
        if occupied:
            devices.last_motion = self._clock.now()
        if devices.occupied != occupied:
            devices.occupied = occupied
            self._publish_state(Device.OCCUPANCY)

    def motion(self) -> None:
        """The motion sensor fires; motion also means the room is occupied."""
        now = self._clock.now()
        self._devices.last_motion = now
        if self._devices.has(Device.OCCUPANCY) and Device.OCCUPANCY not in self._offline:
            self._send(
                Device.OCCUPANCY,
                Channel.TELEMETRY,
                OccupancyTelemetry(ts=now, motion=True),
                qos=TELEMETRY_QOS,
                retain=False,
            )
        self.set_occupied(True)

    def guest_sets_thermostat(self, setpoint_c: float, mode: HvacMode | None = None) -> None:
        """A guest turns the thermostat by hand; the state keeps the last command's ack."""
        self._thermal.advance_to(self._clock.now())
        self._thermal.set_control(mode or self._thermal.mode, setpoint_c)
        self._publish_state(Device.THERMOSTAT)

    def update_thermostat_firmware(self, modes: frozenset[HvacMode]) -> None:
        """A firmware update: from now on the thermostat takes these modes."""
        self._devices.thermostat_modes = modes

    def guest_presses_service(self, *, dnd: bool | None = None, mur: bool | None = None) -> None:
        self._devices.guest_presses_service(dnd=dnd, mur=mur)
        self._publish_state(Device.SERVICE)

    # ---- commands -------------------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if retained:
            # Someone published a command with retain: the broker hands it to every new
            # subscription, so it is stale by the time it arrives. Obeying it would undo
            # later changes after each reconnect.
            self.counters.commands_stale += 1
            log.debug("room %s: ignored retained command on %s", self.room_id, topic)
            return
        inbound = decode(topic, payload)
        if isinstance(inbound, Rejection):
            self.counters.commands_malformed += 1
            log.debug("room %s: rejected %s: %s", self.room_id, inbound.reason, inbound.detail)
            return
        target = inbound.topic
        command = inbound.message
        if (
            target.channel is not Channel.SET
            or target.property_id != self.property_id
            or target.room_id != self.room_id
            or not isinstance(command, SetCommand)
        ):
            # Only this room's set topics are subscribed: anything else is someone's bug.
            self.counters.commands_malformed += 1
            log.debug("room %s: not a command for this room on %s", self.room_id, topic)
            return
        if target.device in self._offline:
            self.counters.commands_ignored_offline += 1
            return
        if self._plan.drop_command():
            self.counters.commands_dropped += 1
            log.debug("room %s: dropped command %s (fault)", self.room_id, command.command_id)
            return
        delay = self._plan.command_delay_s()
        if delay > 0:
            self.counters.commands_delayed += 1
            due = self._clock.now() + delay  # fixed at receipt (see crash)
            self._spawn(self._execute_at(due, target.device, command), "delayed-command")
        else:
            self._execute(target.device, command)

    async def _execute_at(self, when: float, device: Device, command: SetCommand[Any]) -> None:
        await self._clock.sleep_until(when)
        self._execute(device, command)

    def _execute(self, device: Device, command: SetCommand[Any]) -> None:
        if device in self._offline:  # it may have gone offline during a delay
            self.counters.commands_ignored_offline += 1
            return
        command_id: str = command.command_id
        known = self._recent.get(command_id)
        if known is not None:
            # Already applied: answer again, apply nothing (the gateway's retry is safe).
            self._recent.move_to_end(command_id)
            answered_on, ack = known
            self.counters.commands_repeated += 1
            self._acks[answered_on] = ack
            self._publish_state(answered_on)
            return
        if self._devices.has(device):
            answered_on = device
            reason = self._devices.apply(device, command.params, self._clock.now())
        else:
            # No such device here: the controller itself answers, so the sender hears back.
            answered_on = Device.CONTROLLER
            reason = f"room {self.room_id} has no {device}"
        ack = CommandAck(command_id=command_id, applied=reason is None, reason=reason)
        if reason is None:
            self.counters.commands_applied += 1
        else:
            self.counters.commands_refused += 1
        self._recent[command_id] = (answered_on, ack)
        while len(self._recent) > self._config.recent_command_ids:
            self._recent.popitem(last=False)
        self._acks[answered_on] = ack
        self._publish_state(answered_on)

    # ---- publishing -----------------------------------------------------------------

    def _topic(self, device: Device, channel: Channel) -> str:
        key = (device, channel)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = str(
                RoomTopic(self.property_id, self.room_id, device, channel)
            )
        return topic

    def _send(
        self,
        device: Device,
        channel: Channel,
        message: Message,
        *,
        qos: int,
        retain: bool,
        copies: int = 1,
    ) -> None:
        topic = self._topic(device, channel)
        payload = encode(message)
        for _ in range(copies):
            self._controller.publish(topic, payload, qos=qos, retain=retain)

    def _publish_state(self, device: Device) -> None:
        if device in self._offline or not (
            device is Device.CONTROLLER or self._devices.has(device)
        ):
            return
        message = self.state(device)
        if isinstance(message, ThermostatState):
            self._reported = (
                message.mode,
                message.setpoint_c,
                message.action,
                self._thermal.temperature_c,
            )
        copies = 2 if self._plan.duplicate() else 1
        self._send(device, Channel.STATE, message, qos=STATE_QOS, retain=True, copies=copies)

    def _publish_status(self, device: Device, online: bool) -> None:
        status = StatusMessage(
            state=Status.ONLINE if online else Status.OFFLINE, ts=self._clock.now()
        )
        self._send(device, Channel.STATUS, status, qos=STATE_QOS, retain=True)

    def _publish_everything(self) -> None:
        """On every connect: online, then the whole retained state, as firmware boots."""
        self._publish_status(Device.CONTROLLER, True)
        self._publish_state(Device.CONTROLLER)
        for device in self.devices:
            if device in self._has_status:
                # Only devices that were ever offline have a retained status to correct.
                self._publish_status(device, device not in self._offline)
            self._publish_state(device)

    def _thermostat_changed(self) -> bool:
        if self._reported is None:
            return True
        mode, setpoint_c, action, temperature_c = self._reported
        thermal = self._thermal
        return (thermal.mode, thermal.setpoint_c, thermal.action) != (
            mode,
            setpoint_c,
            action,
        ) or abs(thermal.temperature_c - temperature_c) >= self._config.state_report_delta_c

    # ---- loops ----------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """One physics step: advance to `now`, publish telemetry and state if due.

        The property calls this for every room each physics step. While disconnected
        nothing could be published, and the physics are exact whenever they are next
        advanced, so a disconnected room skips the work.
        """
        if not self.connected:
            return
        self._thermal.advance_to(now)
        if self._devices.has(Device.THERMOSTAT) and Device.THERMOSTAT not in self._offline:
            # Half a step of slack: ticks and telemetry beats land on float-rounded times.
            if self._telemetry_due is None or now >= self._telemetry_due - self._tick_slack_s:
                self._send(
                    Device.THERMOSTAT,
                    Channel.TELEMETRY,
                    ThermostatTelemetry(
                        ts=now,
                        temperature_c=round(self._thermal.temperature_c, TEMPERATURE_DECIMALS),
                        hvac_power_w=self._thermal.power_w,
                    ),
                    qos=TELEMETRY_QOS,
                    retain=False,
                )
                interval = self._config.telemetry_interval_s
                self._telemetry_due = (
                    now + interval
                    if self._telemetry_due is None
                    else _next_beat(self._telemetry_due, interval, now)
                )
            if self._thermostat_changed():
                self._publish_state(Device.THERMOSTAT)
        kind = self._plan.malformed()
        if kind is not None:
            self.publish_malformed(kind)

    async def _come_back_at(self, when: float) -> None:
        await self._clock.sleep_until(when)
        self._controller.reconnect()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(coroutine, name=f"sim-{self.property_id}-{self.room_id}-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("room %s: task %s failed", self.room_id, task.get_name(), exc_info=exc)
