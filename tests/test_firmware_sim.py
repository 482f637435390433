"""The simulated property: physics and device rules on their own, then over a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiomqtt
import pytest
import typer
from typer.testing import CliRunner

from firmware_sim import (
    BehaviourConfig,
    Faults,
    MalformedKind,
    OutdoorConfig,
    SimConfig,
    SimulatedProperty,
    ThermalConfig,
    room_ids,
)
from firmware_sim.cli import register
from firmware_sim.config import ROOM_DEVICES
from firmware_sim.devices import SCENE_LEVELS, RoomDevices
from firmware_sim.faults import FaultPlan, malformed_message
from firmware_sim.mqtt import (
    MqttConnection,
    ProtocolViolation,
    _parse_header,
    _remaining_length,
    connect,
)
from firmware_sim.thermal import (
    ControlBand,
    OutdoorTemperature,
    ThermalParams,
    ThermalRoom,
    control_band,
    next_action,
    time_to_reach,
)
from shared.broker import BrokerAddress
from shared.clock import ManualClock
from shared.messages import (
    ControllerState,
    CurtainsSet,
    DeviceState,
    DoorSet,
    DoorState,
    HvacAction,
    HvacMode,
    Inbound,
    LightScene,
    LightsSet,
    MattressSet,
    MattressState,
    Rejection,
    RejectReason,
    ServiceSet,
    SetParams,
    Status,
    StatusMessage,
    ThermostatSet,
    ThermostatState,
    ThermostatTelemetry,
    command_model,
    decode,
    encode,
)
from shared.topics import Channel, Device, RoomTopic, parse_topic, subscription
from tests.fixtures.mosquitto import Mosquitto

HOUR = 3600.0
T0 = 1_767_225_600.0  # ManualClock's default start
READY_TIMEOUT_S = 10.0  # real seconds for a handful of rooms on loopback
RECEIVE_TIMEOUT_S = 5.0


# ---- physics -------------------------------------------------------------------------


def thermal_room(
    *,
    mode: HvacMode = HvacMode.OFF,
    setpoint_c: float = 21.0,
    temperature_c: float = 15.0,
    outdoor: OutdoorTemperature | None = None,
    tau_h: float = 4.0,
    rate_c_per_h: float = 4.0,
    standby_c: tuple[float, float] | None = None,
) -> ThermalRoom:
    return ThermalRoom(
        ThermalParams(tau_s=tau_h * HOUR, hvac_rate_c_per_s=rate_c_per_h / HOUR, hvac_power_w=1000),
        outdoor or OutdoorTemperature(5.0),
        temperature_c=temperature_c,
        time_s=T0,
        mode=mode,
        setpoint_c=setpoint_c,
        deadband_c=0.3,
        eco_low_c=17.0,
        eco_high_c=28.0,
        standby_c=standby_c,
    )


@pytest.mark.parametrize(
    ("mode", "outdoor"),
    [
        (HvacMode.OFF, OutdoorTemperature(5.0)),
        (HvacMode.AUTO, OutdoorTemperature(5.0)),
        (HvacMode.HEAT, OutdoorTemperature(2.0, daily_amplitude_c=6.0)),
        (HvacMode.COOL, OutdoorTemperature(33.0, daily_amplitude_c=4.0)),
        (HvacMode.ECO, OutdoorTemperature(12.0, daily_amplitude_c=10.0)),
    ],
)
def test_one_big_step_equals_many_small_steps(mode: HvacMode, outdoor: OutdoorTemperature) -> None:
    """Exact integration: the thermostat cycles many times in a day, and how the day is
    cut into steps changes nothing."""
    one_step = thermal_room(mode=mode, outdoor=outdoor)
    one_step.advance_to(T0 + 24 * HOUR)
    minutes = thermal_room(mode=mode, outdoor=outdoor)
    for minute in range(1, 24 * 60 + 1):
        minutes.advance_to(T0 + minute * 60.0)
    ragged = thermal_room(mode=mode, outdoor=outdoor)
    rng = random.Random(7)
    t = T0
    while t < T0 + 24 * HOUR:
        t = min(T0 + 24 * HOUR, t + rng.uniform(1.0, 3000.0))
        ragged.advance_to(t)
    for other in (minutes, ragged):
        assert other.temperature_c == pytest.approx(one_step.temperature_c, abs=1e-6)
        assert other.action is one_step.action
        assert other.energy_j == pytest.approx(one_step.energy_j, rel=1e-6, abs=1e-3)


def test_without_hvac_the_room_relaxes_to_the_outdoor_temperature() -> None:
    room = thermal_room(mode=HvacMode.OFF, temperature_c=22.0, tau_h=3.0)
    room.advance_to(T0 + 3 * HOUR)  # one time constant: 1/e of the gap is left
    assert room.temperature_c == pytest.approx(5.0 + 17.0 / math.e, abs=1e-9)
    room.advance_to(T0 + 60 * HOUR)
    assert room.temperature_c == pytest.approx(5.0, abs=1e-6)
    assert room.energy_j == 0.0
    assert room.action is HvacAction.IDLE


@pytest.mark.parametrize(
    ("mode", "outdoor_c", "start_c", "expected_action"),
    [
        (HvacMode.HEAT, 0.0, 14.0, HvacAction.HEATING),
        (HvacMode.COOL, 35.0, 29.0, HvacAction.COOLING),
        (HvacMode.AUTO, 0.0, 14.0, HvacAction.HEATING),
        (HvacMode.AUTO, 35.0, 29.0, HvacAction.COOLING),
    ],
)
def test_hvac_reaches_and_holds_the_setpoint(
    mode: HvacMode, outdoor_c: float, start_c: float, expected_action: HvacAction
) -> None:
    room = thermal_room(
        mode=mode,
        setpoint_c=21.0,
        temperature_c=start_c,
        outdoor=OutdoorTemperature(outdoor_c),
        rate_c_per_h=6.0,
        tau_h=8.0,
    )
    assert room.action is expected_action
    room.advance_to(T0 + 6 * HOUR)
    seen = []
    for minute in range(1, 12 * 60):
        room.advance_to(T0 + 6 * HOUR + minute * 60.0)
        seen.append((room.temperature_c, room.action))
    temperatures = [t for t, _ in seen]
    assert min(temperatures) >= 21.0 - 0.3 - 1e-9
    assert max(temperatures) <= 21.0 + 0.3 + 1e-9
    assert {action for _, action in seen} == {expected_action, HvacAction.IDLE}  # it cycles
    assert room.energy_j > 0


def test_a_heater_too_weak_for_the_weather_runs_without_end() -> None:
    # Equilibrium with full heating: -20 + 2 °C/h * 4 h = -12 °C, far below the setpoint.
    room = thermal_room(
        mode=HvacMode.HEAT, temperature_c=10.0, outdoor=OutdoorTemperature(-20.0), rate_c_per_h=2.0
    )
    room.advance_to(T0 + 100 * HOUR)
    assert room.action is HvacAction.HEATING
    assert room.temperature_c == pytest.approx(-12.0, abs=1e-3)
    assert room.energy_j == pytest.approx(1000 * 100 * HOUR)


def test_eco_holds_the_wide_band() -> None:
    cold = thermal_room(mode=HvacMode.ECO, temperature_c=21.0, outdoor=OutdoorTemperature(5.0))
    cold.advance_to(T0 + 48 * HOUR)
    assert 17.0 - 0.3 - 1e-9 <= cold.temperature_c <= 17.0 + 0.3 + 1e-9
    mild = thermal_room(mode=HvacMode.ECO, temperature_c=21.0, outdoor=OutdoorTemperature(22.0))
    mild.advance_to(T0 + 48 * HOUR)
    assert mild.energy_j == 0.0  # 22 °C outside is inside the band: no energy spent


def test_standby_holds_its_deeper_band_and_falls_back_to_eco_without_one() -> None:
    deep = thermal_room(mode=HvacMode.STANDBY, temperature_c=21.0, standby_c=(12.0, 32.0))
    deep.advance_to(T0 + 48 * HOUR)
    assert 12.0 - 0.3 - 1e-9 <= deep.temperature_c <= 12.0 + 0.3 + 1e-9
    eco = thermal_room(mode=HvacMode.ECO, temperature_c=21.0)
    eco.advance_to(T0 + 48 * HOUR)
    assert deep.energy_j < 0.7 * eco.energy_j  # 7 °C less to hold against 5 °C outside
    plain = thermal_room(mode=HvacMode.STANDBY, temperature_c=21.0)  # no standby band
    plain.advance_to(T0 + 48 * HOUR)
    assert 17.0 - 0.3 - 1e-9 <= plain.temperature_c <= 17.0 + 0.3 + 1e-9


def test_a_standby_band_must_contain_the_eco_band() -> None:
    with pytest.raises(ValueError, match="standby band must contain the eco band"):
        ThermalConfig(standby_low_c=18.0)


@pytest.mark.parametrize(
    ("temperature", "action", "expected"),
    [
        (20.8, HvacAction.IDLE, HvacAction.IDLE),  # inside the band: nothing to do
        (20.7, HvacAction.IDLE, HvacAction.HEATING),  # at the lower edge: heat
        (20.9, HvacAction.HEATING, HvacAction.HEATING),  # heating until the setpoint
        (21.0, HvacAction.HEATING, HvacAction.IDLE),
        (21.3, HvacAction.IDLE, HvacAction.COOLING),
        (21.1, HvacAction.COOLING, HvacAction.COOLING),
        (21.0, HvacAction.COOLING, HvacAction.IDLE),
    ],
)
def test_auto_mode_hysteresis(temperature: float, action: HvacAction, expected: HvacAction) -> None:
    band = control_band(HvacMode.AUTO, 21.0, 0.3, 17.0, 28.0)
    assert next_action(band, temperature, action) is expected


def test_mode_off_never_runs_the_hvac() -> None:
    assert next_action(ControlBand(), -30.0, HvacAction.HEATING) is HvacAction.IDLE


def test_time_to_reach() -> None:
    assert time_to_reach(20.0, 10.0, 100.0, 20.0) == 0.0
    assert time_to_reach(20.0, 10.0, 100.0, 15.0) == pytest.approx(100.0 * math.log(2))
    assert time_to_reach(20.0, 10.0, 100.0, 10.0) == math.inf  # equilibrium: asymptotic
    assert time_to_reach(20.0, 10.0, 100.0, 25.0) == math.inf  # the other way
    assert time_to_reach(10.0, 10.0, 100.0, 12.0) == math.inf


def test_daily_outdoor_temperature_is_lowest_at_the_coldest_hour() -> None:
    outdoor = OutdoorTemperature(10.0, daily_amplitude_c=5.0, coldest_hour=5.0, resolution_s=60.0)
    day = 1_767_225_600.0  # midnight UTC
    assert outdoor.at(day + 5 * HOUR) == pytest.approx(5.0, abs=0.01)
    assert outdoor.at(day + 17 * HOUR) == pytest.approx(15.0, abs=0.01)
    assert outdoor.slot_end(day + 30.0) == day + 60.0


# ---- devices and faults without a broker ---------------------------------------------


def room_devices(devices: tuple[Device, ...] = ROOM_DEVICES) -> RoomDevices:
    return RoomDevices(devices, thermal_room(mode=HvacMode.AUTO, temperature_c=21.0), "test/1")


def test_thermostat_command_changes_control_and_action() -> None:
    devices = room_devices()
    assert devices.apply(Device.THERMOSTAT, ThermostatSet(setpoint_c=25.0), T0 + 60) is None
    state = devices.state(Device.THERMOSTAT, T0 + 60, None)
    assert isinstance(state, ThermostatState)
    assert (state.mode, state.setpoint_c, state.action) == (
        HvacMode.AUTO,
        25.0,
        HvacAction.HEATING,
    )
    assert devices.apply(Device.THERMOSTAT, ThermostatSet(mode=HvacMode.OFF), T0 + 120) is None
    assert devices.thermal.action is HvacAction.IDLE
    assert devices.thermal.setpoint_c == 25.0


def test_door_refuses_to_lock_while_open() -> None:
    devices = room_devices()
    devices.door_open = True
    devices.door_locked = False
    assert devices.apply(Device.DOOR, DoorSet(locked=True), T0) == "cannot lock: the door is open"
    assert devices.door_locked is False
    devices.door_open = False
    assert devices.apply(Device.DOOR, DoorSet(locked=True), T0) is None
    assert devices.door_locked is True


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (LightsSet(scene=LightScene.READING), (True, SCENE_LEVELS[LightScene.READING], "reading")),
        (LightsSet(on=True), (True, SCENE_LEVELS[LightScene.WELCOME], "welcome")),
        (LightsSet(level=35), (True, 35, "welcome")),
        (LightsSet(scene=LightScene.NIGHT, level=5), (True, 5, "night")),
        (LightsSet(on=False), (False, 0, "off")),
    ],
)
def test_lights_commands(params: LightsSet, expected: tuple[bool, int, str]) -> None:
    devices = room_devices()
    assert devices.apply(Device.LIGHTS, params, T0) is None
    lights = devices.lights
    assert (lights.on, lights.level, lights.scene) == expected


def test_lights_refuse_a_contradiction_and_keep_their_level_when_off() -> None:
    devices = room_devices()
    devices.apply(Device.LIGHTS, LightsSet(level=60), T0)
    devices.apply(Device.LIGHTS, LightsSet(on=False), T0)
    assert (devices.lights.on, devices.lights.level) == (False, 60)
    devices.apply(Device.LIGHTS, LightsSet(on=True), T0)
    assert (devices.lights.on, devices.lights.level) == (True, 60)
    refusal = devices.apply(Device.LIGHTS, LightsSet(scene=LightScene.OFF, on=True), T0)
    assert refusal is not None
    assert devices.lights.on is True


def test_service_buttons_are_exclusive() -> None:
    devices = room_devices()
    assert devices.apply(Device.SERVICE, ServiceSet(dnd=True), T0) is None
    assert devices.apply(Device.SERVICE, ServiceSet(mur=True), T0) is not None
    assert (devices.dnd, devices.mur) == (True, False)
    devices.guest_presses_service(mur=True)  # the guest's button clears the other
    assert (devices.dnd, devices.mur) == (False, True)


def test_curtains_mattress_and_missing_devices() -> None:
    devices = room_devices((Device.THERMOSTAT, Device.CURTAINS))
    assert devices.apply(Device.CURTAINS, CurtainsSet(position=40), T0) is None
    assert devices.curtains_position == 40
    assert (
        devices.apply(Device.MATTRESS, MattressSet(firmness=8), T0) == "this room has no mattress"
    )
    with pytest.raises(ValueError, match="not a command for"):
        devices.apply(Device.DOOR, CurtainsSet(position=1), T0)
    with pytest.raises(ValueError, match="takes no commands"):
        devices.apply(Device.OCCUPANCY, CurtainsSet(position=1), T0)


def test_every_device_state_speaks_the_contract() -> None:
    devices = room_devices()
    for device in (Device.CONTROLLER, *ROOM_DEVICES):
        message = devices.state(device, T0, None)
        inbound = decode(str(RoomTopic("p", "101", device, Channel.STATE)), encode(message))
        assert isinstance(inbound, Inbound), inbound
        assert inbound.message == message


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (MalformedKind.NOT_JSON, RejectReason.NOT_JSON),
        (MalformedKind.WRONG_SCHEMA, RejectReason.SCHEMA),
        (MalformedKind.WRONG_VERSION, RejectReason.UNSUPPORTED_VERSION),
        (MalformedKind.OVERSIZE, RejectReason.OVERSIZE),
        (MalformedKind.WRONG_TOPIC, RejectReason.UNKNOWN_DEVICE),
    ],
)
def test_malformed_messages_are_rejected_for_their_reason(
    kind: MalformedKind, reason: RejectReason
) -> None:
    topic, payload = malformed_message(
        kind, RoomTopic("p", "101", Device.THERMOSTAT, Channel.TELEMETRY), T0
    )
    rejection = decode(topic, payload)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is reason


def test_oversize_garbage_is_otherwise_valid() -> None:
    _, payload = malformed_message(
        MalformedKind.OVERSIZE, RoomTopic("p", "101", Device.THERMOSTAT, Channel.TELEMETRY), T0
    )
    assert isinstance(ThermostatTelemetry.model_validate_json(payload), ThermostatTelemetry)


def test_drop_next_counts_down_the_room_then_the_property() -> None:
    room, prop = Faults(drop_next=1), Faults(drop_next=1)
    plan = FaultPlan(room, prop, random.Random(0))
    assert [plan.drop_command() for _ in range(3)] == [True, True, False]
    assert (room.drop_next, prop.drop_next) == (0, 0)
    prop.drop_rate = 1.0
    assert plan.drop_command()
    with pytest.raises(ValueError, match="probability"):
        Faults(drop_rate=1.5)


def test_room_ids_are_numbered_by_floor() -> None:
    ids = room_ids(85)
    assert ids[:2] == ["101", "102"]
    assert ids[39:41] == ["140", "201"]
    assert ids[-1] == "305"
    assert room_ids(3, per_floor=2) == ["101", "102", "201"]


@pytest.mark.parametrize("length", [0, 127, 128, 16_383, 16_384, 1 << 20])
def test_mqtt_remaining_length_round_trips(length: int) -> None:
    header = bytearray([0x30]) + _remaining_length(length)
    assert _parse_header(header, 0) == (len(header), length)
    assert _parse_header(header[:-1], 0) is None  # incomplete: wait for more bytes


def test_mqtt_refuses_absurd_packets() -> None:
    with pytest.raises(ProtocolViolation):
        _parse_header(bytearray([0x30]) + _remaining_length((1 << 20) + 1), 0)
    with pytest.raises(ProtocolViolation):
        _parse_header(bytearray([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]), 0)


# ---- over a real broker --------------------------------------------------------------

_ids = itertools.count()


@pytest.fixture
def property_id() -> str:
    """Each test its own property on the shared broker."""
    return f"sim{next(_ids)}-{random.randrange(1 << 30):x}"


@dataclass
class Received:
    topic: str
    payload: bytes
    retained: bool

    @property
    def decoded(self) -> Inbound | Rejection:
        return decode(self.topic, self.payload)

    def message(self) -> object:
        inbound = self.decoded
        assert isinstance(inbound, Inbound), inbound
        return inbound.message


@dataclass
class Observer:
    """The test's own MQTT client: collects everything it subscribed to, sends commands."""

    broker: Mosquitto
    received: list[Received] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _connection: MqttConnection = field(init=False)

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[Observer]:
        self._connection = await connect(
            self.broker.host,
            self.broker.port,
            f"observer-{random.randrange(1 << 30):x}",
            will=None,
            keepalive_s=60,
            on_message=self._on_message,
            timeout_s=5,
        )
        try:
            yield self
        finally:
            await self._connection.disconnect()

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        self.received.append(Received(topic, payload, retained))
        self._arrived.set()

    async def subscribe(self, topic_filter: str) -> None:
        self._connection.subscribe(topic_filter, qos=1)
        await self._connection.wait_acked()

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self._connection.publish(topic, payload, qos=1, retain=retain)
        await self._connection.wait_acked()

    async def command(
        self, property_id: str, room_id: str, device: Device, command_id: str, params: SetParams
    ) -> None:
        command = command_model(device)(command_id=command_id, ts=T0, params=params)
        await self.publish(
            str(RoomTopic(property_id, room_id, device, Channel.SET)), encode(command)
        )

    async def wait_for(
        self, predicate: Callable[[Received], bool], *, after: int = 0, count: int = 1
    ) -> list[Received]:
        """The first `count` messages from index `after` on that satisfy `predicate`."""
        found: list[Received] = []
        index = after
        async with asyncio.timeout(RECEIVE_TIMEOUT_S):
            while True:
                while index < len(self.received):
                    if predicate(self.received[index]):
                        found.append(self.received[index])
                        if len(found) == count:
                            return found
                    index += 1
                self._arrived.clear()
                await self._arrived.wait()

    async def state(
        self, room_id: str, device: Device, check: Callable[[DeviceState], bool], after: int = 0
    ) -> DeviceState:
        def matches(message: Received) -> bool:
            inbound = message.decoded
            return (
                isinstance(inbound, Inbound)
                and inbound.topic.room_id == room_id
                and inbound.topic.device is device
                and inbound.topic.channel is Channel.STATE
                and isinstance(inbound.message, DeviceState)
                and check(inbound.message)
            )

        (found,) = await self.wait_for(matches, after=after)
        state = found.message()
        assert isinstance(state, DeviceState)
        return state


async def until(condition: Callable[[], bool], timeout_s: float = RECEIVE_TIMEOUT_S) -> None:
    """Wait for the simulator to reach a state that nothing it publishes announces."""
    async with asyncio.timeout(timeout_s):
        # Nothing the simulator publishes marks the receipt of an ignored or held command.
        while not condition():
            await asyncio.sleep(0.005)


def acked(command_id: str) -> Callable[[DeviceState], bool]:
    return lambda state: state.ack is not None and state.ack.command_id == command_id


@contextlib.asynccontextmanager
async def running(
    broker: Mosquitto,
    property_id: str,
    rooms: list[str],
    *,
    clock: ManualClock | None = None,
    config: SimConfig | None = None,
) -> AsyncIterator[SimulatedProperty]:
    prop = SimulatedProperty(
        property_id,
        rooms,
        BrokerAddress.parse(broker.url),
        clock or ManualClock(),
        seed=1,
        config=config,
    )
    async with prop:
        await prop.wait_connected(READY_TIMEOUT_S)
        yield prop


async def test_every_device_has_retained_state(mosquitto: Mosquitto, property_id: str) -> None:
    rooms = room_ids(3)
    async with (
        running(mosquitto, property_id, rooms),
        Observer(mosquitto).connected() as observer,
    ):
        await observer.subscribe(subscription(property_id))
        per_room = 2 + len(ROOM_DEVICES)  # status, controller state, each device's state
        found = await observer.wait_for(lambda m: m.retained, count=len(rooms) * per_room)
    topics = {parse_topic(m.topic) for m in found}
    for room_id in rooms:
        for device in ROOM_DEVICES:
            assert RoomTopic(property_id, room_id, device, Channel.STATE) in topics
    for message in found:
        decoded = message.message()
        if isinstance(decoded, StatusMessage):
            assert decoded.state is Status.ONLINE
        if isinstance(decoded, ControllerState):
            assert decoded.devices == ROOM_DEVICES


async def test_a_command_is_applied_and_its_id_echoed(
    mosquitto: Mosquitto, property_id: str
) -> None:
    async with running(mosquitto, property_id, ["101"]) as prop:
        room = prop.room("101")
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(subscription(property_id, "101", channel=Channel.STATE))
            await observer.command(
                property_id, "101", Device.THERMOSTAT, "cmd-0001", ThermostatSet(setpoint_c=24.5)
            )
            state = await observer.state("101", Device.THERMOSTAT, acked("cmd-0001"))
    assert isinstance(state, ThermostatState)
    assert state.ack is not None
    assert state.ack.applied
    assert state.setpoint_c == 24.5
    assert room.setpoint_c == 24.5
    assert room.counters.commands_applied == 1


async def test_refusals_are_echoed_with_a_reason(mosquitto: Mosquitto, property_id: str) -> None:
    config = SimConfig(room_devices={"102": (Device.THERMOSTAT, Device.DOOR)})
    async with (
        running(mosquitto, property_id, ["101", "102"], config=config) as prop,
        Observer(mosquitto).connected() as observer,
    ):
        await observer.subscribe(subscription(property_id, channel=Channel.STATE))
        prop.room("101").open_door()
        await observer.command(property_id, "101", Device.DOOR, "lock-0001", DoorSet(locked=True))
        door = await observer.state("101", Device.DOOR, acked("lock-0001"))
        # Room 102 has no mattress: its controller answers for the missing device.
        await observer.command(
            property_id, "102", Device.MATTRESS, "firm-0001", MattressSet(firmness=9)
        )
        controller = await observer.state("102", Device.CONTROLLER, acked("firm-0001"))
    assert isinstance(door, DoorState)
    assert door.ack is not None
    assert (door.ack.applied, door.ack.reason) == (False, "cannot lock: the door is open")
    assert (door.open, door.locked) == (True, False)
    assert controller.ack is not None
    assert not controller.ack.applied
    assert controller.ack.reason == "room 102 has no mattress"
    assert not any(
        parse_topic(m.topic).device is Device.MATTRESS and parse_topic(m.topic).room_id == "102"
        for m in observer.received
    )


async def test_a_dropped_command_is_not_acked_but_its_resend_is_and_only_once(
    mosquitto: Mosquitto, property_id: str
) -> None:
    async with running(mosquitto, property_id, ["101"]) as prop:
        room = prop.room("101")
        room.faults.drop_next = 1
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(subscription(property_id, "101", channel=Channel.STATE))
            await observer.command(
                property_id, "101", Device.THERMOSTAT, "first-0001", ThermostatSet(setpoint_c=25.0)
            )
            # Commands on one connection are delivered in order: once the next one is
            # answered, the dropped one has certainly been seen and ignored.
            await observer.command(
                property_id, "101", Device.CURTAINS, "curt-0001", CurtainsSet(position=50)
            )
            await observer.state("101", Device.CURTAINS, acked("curt-0001"))
            assert room.counters.commands_dropped == 1
            assert room.setpoint_c == 21.0
            assert not any(acked("first-0001")(s) for s in _states(observer))

            await observer.command(
                property_id, "101", Device.THERMOSTAT, "first-0001", ThermostatSet(setpoint_c=25.0)
            )
            await observer.state("101", Device.THERMOSTAT, acked("first-0001"))
            assert room.setpoint_c == 25.0
            # Something else changes the setpoint; a late duplicate of the first command
            # is acknowledged again but must not undo that.
            await observer.command(
                property_id, "101", Device.THERMOSTAT, "second-0001", ThermostatSet(setpoint_c=19.0)
            )
            await observer.state("101", Device.THERMOSTAT, acked("second-0001"))
            mark = len(observer.received)
            await observer.command(
                property_id, "101", Device.THERMOSTAT, "first-0001", ThermostatSet(setpoint_c=25.0)
            )
            again = await observer.state("101", Device.THERMOSTAT, acked("first-0001"), after=mark)
    assert isinstance(again, ThermostatState)
    assert again.setpoint_c == 19.0
    assert room.setpoint_c == 19.0
    assert (room.counters.commands_applied, room.counters.commands_repeated) == (3, 1)


def _states(observer: Observer) -> list[DeviceState]:
    states = []
    for received in observer.received:
        inbound = received.decoded
        if isinstance(inbound, Inbound) and isinstance(inbound.message, DeviceState):
            states.append(inbound.message)
    return states


async def test_a_crash_leaves_the_will_and_a_reconnect_comes_back(
    mosquitto: Mosquitto, property_id: str
) -> None:
    clock = ManualClock()
    async with running(mosquitto, property_id, ["101", "102"], clock=clock) as prop:
        room = prop.room("101")
        status_topic = str(RoomTopic(property_id, "101", Device.CONTROLLER, Channel.STATUS))
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(subscription(property_id, "101"))
            start = len(observer.received)
            await room.crash()
            (will,) = await observer.wait_for(lambda m: m.topic == status_topic, after=start)
            assert will.message() == StatusMessage(state=Status.OFFLINE)  # the will: no ts
            assert not room.connected
            assert prop.room("102").ready  # a neighbour is not affected

            room.guest_sets_thermostat(23.0)  # while down: published on reconnect
            mark = len(observer.received)
            async with asyncio.timeout(READY_TIMEOUT_S):
                await room.reconnect()
            (online,) = await observer.wait_for(lambda m: m.topic == status_topic, after=mark)
            status = online.message()
            assert isinstance(status, StatusMessage)
            assert status.state is Status.ONLINE
            thermostat = await observer.state(
                "101", Device.THERMOSTAT, lambda s: isinstance(s, ThermostatState), after=mark
            )
            assert isinstance(thermostat, ThermostatState)
            assert thermostat.setpoint_c == 23.0
            assert room.connects == 2

            # A timed crash comes back by itself after that much hotel time.
            mark = len(observer.received)
            await room.crash(down_for_s=300)
            await clock.advance(300)
            async with asyncio.timeout(READY_TIMEOUT_S):
                await room.wait_ready()
            statuses = await observer.wait_for(
                lambda m: m.topic == status_topic, after=mark, count=2
            )
    assert [s.message() for s in statuses] == [
        StatusMessage(state=Status.OFFLINE),
        StatusMessage(state=Status.ONLINE, ts=T0 + 300),
    ]


async def test_malformed_fault_publishes_what_decode_rejects(
    mosquitto: Mosquitto, property_id: str
) -> None:
    clock = ManualClock()
    config = SimConfig(physics_step_s=60.0)
    async with running(mosquitto, property_id, ["101"], clock=clock, config=config) as prop:
        room = prop.room("101")
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(f"staysync/{property_id}/#")
            start = len(observer.received)
            for kind in MalformedKind:
                room.publish_malformed(kind)
            garbage = await observer.wait_for(
                lambda m: isinstance(m.decoded, Rejection), after=start, count=len(MalformedKind)
            )
            reasons = {g.decoded.reason for g in garbage if isinstance(g.decoded, Rejection)}
            assert reasons == {
                RejectReason.NOT_JSON,
                RejectReason.SCHEMA,
                RejectReason.UNSUPPORTED_VERSION,
                RejectReason.OVERSIZE,
                RejectReason.UNKNOWN_DEVICE,
            }
            assert not any(g.retained for g in garbage)

            prop.faults.malformed_rate = 1.0  # property-wide: every step, one garbage message
            mark = len(observer.received)
            await clock.advance(5 * 60.0)
            await observer.wait_for(lambda m: isinstance(m.decoded, Rejection), after=mark, count=5)
    assert room.counters.malformed_published == len(MalformedKind) + 5


async def test_telemetry_and_state_follow_the_physics(
    mosquitto: Mosquitto, property_id: str
) -> None:
    clock = ManualClock()
    config = SimConfig(
        thermal=ThermalConfig(initial_mode=HvacMode.OFF), outdoor=OutdoorConfig(mean_c=0.0)
    )
    async with running(mosquitto, property_id, ["101"], clock=clock, config=config) as prop:
        room = prop.room("101")
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(subscription(property_id, "101", Device.THERMOSTAT))
            start_c = room.temperature_c
            await clock.advance(30 * 60.0)
            telemetry = await observer.wait_for(
                lambda m: parse_topic(m.topic).channel is Channel.TELEMETRY, count=30
            )
            # The room cools towards 0 °C: each drop of 0.1 °C republishes the state.
            last = await observer.state(
                "101",
                Device.THERMOSTAT,
                lambda s: (
                    isinstance(s, ThermostatState)
                    and abs(s.temperature_c - room.temperature_c) < 0.11
                ),
            )
    readings = [m.message() for m in telemetry]
    assert all(isinstance(r, ThermostatTelemetry) and r.hvac_power_w == 0.0 for r in readings)
    temperatures = [r.temperature_c for r in readings if isinstance(r, ThermostatTelemetry)]
    assert temperatures == sorted(temperatures, reverse=True)
    assert room.temperature_c < start_c - 0.5
    assert isinstance(last, ThermostatState)
    assert last.action is HvacAction.IDLE


async def test_duplicate_and_delay_faults(mosquitto: Mosquitto, property_id: str) -> None:
    clock = ManualClock()
    async with running(mosquitto, property_id, ["101"], clock=clock) as prop:
        room = prop.room("101")
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(subscription(property_id, "101", Device.LIGHTS, Channel.STATE))
            room.faults.duplicate = True
            await observer.command(
                property_id, "101", Device.LIGHTS, "dup-00001", LightsSet(scene=LightScene.BRIGHT)
            )
            twins = await observer.wait_for(lambda m: acked("dup-00001")(_as_state(m)), count=2)
            assert twins[0].payload == twins[1].payload

            room.faults.duplicate = False
            room.faults.delay_s = 120.0
            mark = len(observer.received)
            await observer.command(
                property_id, "101", Device.LIGHTS, "late-0001", LightsSet(on=False)
            )
            await until(lambda: room.counters.commands_delayed == 1)
            await clock.advance(119.0)
            assert acked("dup-00001")(room.state(Device.LIGHTS))  # not yet answered
            assert room.counters.commands_applied == 1
            await clock.advance(1.0)
            state = await observer.state("101", Device.LIGHTS, acked("late-0001"), after=mark)
    assert room.counters.commands_applied == 2
    assert state.model_dump()["on"] is False


def _as_state(message: Received) -> DeviceState:
    decoded = message.message()
    assert isinstance(decoded, DeviceState)
    return decoded


async def test_an_offline_device_says_so_and_stops_answering(
    mosquitto: Mosquitto, property_id: str
) -> None:
    async with running(mosquitto, property_id, ["101"]) as prop:
        room = prop.room("101")
        status_topic = str(RoomTopic(property_id, "101", Device.MATTRESS, Channel.STATUS))
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(subscription(property_id, "101", Device.MATTRESS))
            room.set_device_online(Device.MATTRESS, False)
            (offline,) = await observer.wait_for(lambda m: m.topic == status_topic)
            assert offline.message() == StatusMessage(state=Status.OFFLINE, ts=T0)
            await observer.command(
                property_id, "101", Device.MATTRESS, "soft-0001", MattressSet(firmness=2)
            )
            await until(lambda: room.counters.commands_ignored_offline == 1)
            room.set_device_online(Device.MATTRESS, True)
            mark = len(observer.received)
            await observer.command(
                property_id, "101", Device.MATTRESS, "soft-0002", MattressSet(firmness=3)
            )
            state = await observer.state("101", Device.MATTRESS, acked("soft-0002"), after=mark)
    assert isinstance(state, MattressState)
    assert state.firmness == 3
    assert room.counters.commands_ignored_offline == 1
    assert not any(acked("soft-0001")(s) for s in _states(observer))


async def test_scripted_guest_and_stale_retained_commands(
    mosquitto: Mosquitto, property_id: str
) -> None:
    # A command someone published with retain must not be obeyed by every new session.
    async with Observer(mosquitto).connected() as observer:
        topic = str(RoomTopic(property_id, "101", Device.MATTRESS, Channel.SET))
        command = command_model(Device.MATTRESS)(
            command_id="stale-0001", ts=T0, params=MattressSet(firmness=1)
        )
        await observer.publish(topic, encode(command), retain=True)
    async with running(mosquitto, property_id, ["101"]) as prop:
        room = prop.room("101")
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(subscription(property_id, "101", channel=Channel.STATE))
            room.open_door()
            room.set_occupied(True)
            room.guest_presses_service(dnd=True)
            door = await observer.state("101", Device.DOOR, lambda s: s.model_dump()["open"])
            await observer.state("101", Device.OCCUPANCY, lambda s: s.model_dump()["occupied"])
            await observer.state("101", Device.SERVICE, lambda s: s.model_dump()["dnd"])
            room.close_door()
            closed = await observer.state("101", Device.DOOR, lambda s: not s.model_dump()["open"])
    assert door.model_dump()["locked"] is False
    assert closed.model_dump()["locked"] is True
    assert room.counters.commands_stale == 1
    assert room.state(Device.MATTRESS).model_dump()["firmness"] == 5


async def test_a_random_guest_comes_and_goes(mosquitto: Mosquitto, property_id: str) -> None:
    clock = ManualClock()
    config = SimConfig(behaviour=BehaviourConfig(enabled=True, mean_event_interval_s=600.0))
    async with (
        running(mosquitto, property_id, ["101"], clock=clock, config=config) as prop,
        Observer(mosquitto).connected() as observer,
    ):
        await observer.subscribe(subscription(property_id, "101", Device.DOOR, Channel.STATE))
        await clock.advance(6 * HOUR)
        doors = await observer.wait_for(lambda m: not m.retained, count=4)
    opened = [_as_state(d).model_dump()["open"] for d in doors]
    assert opened == [True, False, True, False]  # through the door and shut behind, twice
    assert prop.room("101").counters.commands_applied == 0


async def test_rooms_come_back_after_a_broker_restart(
    own_mosquitto: Mosquitto, property_id: str
) -> None:
    async with running(own_mosquitto, property_id, ["101", "102"]) as prop:
        await asyncio.to_thread(own_mosquitto.restart)  # blocking: keep it off the loop
        await until(
            lambda: all(room.connects == 2 for room in prop.rooms.values()), READY_TIMEOUT_S
        )
        await prop.wait_connected(READY_TIMEOUT_S)
        async with Observer(own_mosquitto).connected() as observer:
            await observer.subscribe(
                str(RoomTopic(property_id, "102", Device.CONTROLLER, Channel.STATUS))
            )
            (status,) = await observer.wait_for(lambda m: m.retained)
    message = status.message()
    assert isinstance(message, StatusMessage)
    assert message.state is Status.ONLINE


async def test_a_clean_stop_says_offline_with_a_timestamp(
    mosquitto: Mosquitto, property_id: str
) -> None:
    async with running(mosquitto, property_id, ["101"]):
        pass
    status_topic = str(RoomTopic(property_id, "101", Device.CONTROLLER, Channel.STATUS))
    async with Observer(mosquitto).connected() as observer:
        await observer.subscribe(status_topic)
        (status,) = await observer.wait_for(lambda m: m.retained)
    assert status.message() == StatusMessage(state=Status.OFFLINE, ts=T0)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(f"sim-{property_id}")]


async def test_an_independent_client_reads_the_state(
    mosquitto: Mosquitto, property_id: str
) -> None:
    """aiomqtt (paho underneath) and not our own client, for interoperability."""
    async with (
        running(mosquitto, property_id, ["101"]) as prop,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        await client.subscribe(str(RoomTopic(property_id, "101", Device.THERMOSTAT, Channel.STATE)))
        async with asyncio.timeout(RECEIVE_TIMEOUT_S):
            message = await anext(aiter(client.messages))
    assert message.retain
    assert isinstance(message.payload, bytes)
    state = ThermostatState.model_validate_json(message.payload)
    assert state.temperature_c == round(prop.room("101").temperature_c, 2)


def test_cli_runs_a_property(mosquitto: Mosquitto, property_id: str) -> None:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """The root app the composition root provides."""

    register(app)
    result = CliRunner().invoke(
        app,
        [
            "sim",
            "--property",
            property_id,
            "--rooms",
            "3",
            "--broker",
            mosquitto.url,
            "--speed",
            "600",
            "--no-behaviour",
            "--duration",
            "1",
            "--summary-every",
            "0.5",
            "--drop-rate",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"stopped: 3/3 rooms online \(3 twinned\)", result.output)

    async def retained_status() -> StatusMessage:
        async with Observer(mosquitto).connected() as observer:
            await observer.subscribe(
                str(RoomTopic(property_id, "103", Device.CONTROLLER, Channel.STATUS))
            )
            (status,) = await observer.wait_for(lambda m: m.retained)
        message = status.message()
        assert isinstance(message, StatusMessage)
        return message

    assert asyncio.run(retained_status()).state is Status.OFFLINE


def test_cli_rejects_a_bad_broker_url() -> None:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """The root app."""

    register(app)
    result = CliRunner().invoke(app, ["sim", "--property", "p", "--broker", "http://x"])
    assert result.exit_code != 0
