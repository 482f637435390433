"""The gateway against a real mosquitto and the simulated property."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest
from pydantic import SecretStr

from edge.commands import CommandStatus
from edge.errors import InvalidCommand, Overloaded, UnknownDevice, UnknownRoom
from edge.gateway import Gateway
from edge.settings import EdgeSettings
from firmware_sim.config import SimConfig
from firmware_sim.property import SimulatedProperty
from shared.broker import BrokerAddress
from shared.clock import SimulatedClock
from shared.layout import PropertyLayout
from shared.messages import MAX_PAYLOAD_BYTES, HvacMode, ThermostatState
from shared.topics import Device
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.property import eventually, fast_settings, running_property, unique_property_id


def _rejected(gateway: Gateway, reason: str) -> float:
    return gateway.metrics.rejected_count(reason)


async def test_command_round_trip_is_acknowledged(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, sim):
        record = await gateway.send("101", "thermostat", {"mode": "cool", "setpoint_c": 22.0})
        assert record.status is CommandStatus.PENDING
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
        assert done.status is CommandStatus.ACKED
        assert done.attempts == 1
        assert sim.room("101").setpoint_c == 22.0
        state = gateway.twin.room("101").thermostat
        assert state is not None
        assert state.setpoint_c == 22.0
        assert state.mode is HvacMode.COOL
        assert state.ack is not None
        assert state.ack.command_id == record.id


async def test_dropped_command_is_retried_until_acknowledged(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, sim):
        room = sim.room("102")
        room.faults.drop_next = 1
        record = await gateway.send("102", "lights", {"on": True, "level": 40})
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
        assert done.status is CommandStatus.ACKED
        assert done.attempts >= 2
        assert room.counters.commands_dropped == 1
        assert room.counters.commands_applied >= 1


async def test_unanswered_command_fails_with_a_reason(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path, command_timeout_s=1.0) as (gateway, sim):
        sim.room("103").faults.drop_rate = 1.0
        record = await gateway.send("103", "curtains", {"position": 100})
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
        assert done.status is CommandStatus.FAILED
        assert done.reason is not None
        assert "no acknowledgement from 103/curtains" in done.reason
        assert (
            gateway.metrics.registry.get_sample_value(
                "staysync_commands_total", {"outcome": "failed"}
            )
            == 1.0
        )


async def test_device_refusal_is_a_failure_with_the_devices_reason(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, sim):
        sim.room("101").open_door()
        record = await gateway.send("101", "door", {"locked": True})
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
        assert done.status is CommandStatus.FAILED
        assert done.reason == "device refused: cannot lock: the door is open"


async def test_a_device_offline_on_its_own_is_seen_and_not_answering(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path, command_timeout_s=0.6) as (gateway, sim):
        sim.room("101").set_device_online(Device.LIGHTS, False)
        await eventually(
            lambda: not gateway.twin.room("101").device_online(Device.LIGHTS), "lights offline"
        )
        assert gateway.twin.room("101").controller_online
        record = await gateway.send("101", "lights", {"on": True})
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
        assert done.status is CommandStatus.FAILED
        assert done.reason is not None
        assert done.reason.startswith("no acknowledgement from 101/lights")
        assert sim.room("101").counters.commands_ignored_offline >= 1
        sim.room("101").set_device_online(Device.LIGHTS, True)
        await eventually(
            lambda: gateway.twin.room("101").device_online(Device.LIGHTS), "lights online"
        )


async def test_bad_commands_are_refused_clearly(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, _sim):
        with pytest.raises(UnknownRoom, match="no room '999'"):
            await gateway.send("999", "thermostat", {"setpoint_c": 22})
        with pytest.raises(UnknownDevice, match="no device 'toaster'"):
            await gateway.send("101", "toaster", {"on": True})
        with pytest.raises(UnknownDevice, match="no device 'occupancy'"):
            await gateway.send("101", "occupancy", {"occupied": True})
        with pytest.raises(InvalidCommand, match="setpoint_c"):
            await gateway.send("101", "thermostat", {"setpoint_c": 99})
        with pytest.raises(InvalidCommand, match="at least one field"):
            await gateway.send("101", "thermostat", {})
        assert gateway.commands.pending_count == 0


async def test_offline_detected_through_the_last_will(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, sim):
        assert gateway.twin.rooms_online == 3
        await sim.room("102").crash()
        await eventually(lambda: not gateway.twin.room("102").controller_online, "room 102 offline")
        assert gateway.twin.rooms_online == 2
        await asyncio.wait_for(sim.room("102").reconnect(), 10)
        await eventually(lambda: gateway.twin.room("102").controller_online, "room 102 back online")


async def test_malformed_payloads_are_counted_per_reason_and_dropped(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, _sim):
        p = gateway.property_id
        garbage = [
            (f"staysync/{p}/101/thermostat/state", b"{not json", "not_json"),
            (f"staysync/{p}/101/thermostat/state", b'{"v": 1, "ts": 1}', "schema"),
            (f"staysync/{p}/101/thermostat/state", b'{"v": 9, "ts": 1}', "unsupported_version"),
            (f"staysync/{p}/101/toaster/state", b"{}", "unknown_device"),
            (f"staysync/{p}/101/door/telemetry", b"{}", "unknown_channel"),
            (f"staysync/{p}/ro om/thermostat/state", b"{}", "bad_topic"),
            (f"staysync/{p}/101/thermostat/telemetry", b"x" * (MAX_PAYLOAD_BYTES + 1), "oversize"),
            (f"staysync/{p}/9999/door/status", b'{"v": 1, "state": "online"}', "unknown_room"),
        ]
        async with aiomqtt.Client(broker_address.host, broker_address.port) as client:
            for topic, payload, _ in garbage:
                await client.publish(topic, payload, qos=1)
        for _, _, reason in garbage:
            await eventually(lambda r=reason: _rejected(gateway, r) >= 1, f"a {reason} rejection")  # type: ignore[misc]
        # still twinning and commanding as before
        record = await gateway.send("101", "mattress", {"firmness": 3})
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
        assert done.status is CommandStatus.ACKED


async def test_twin_resyncs_and_pending_commands_are_resent_after_a_broker_restart(
    own_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    broker = BrokerAddress(own_mosquitto.host, own_mosquitto.port)
    async with running_property(broker, tmp_path) as (gateway, sim):
        states_before = gateway.metrics.registry.get_sample_value(
            "staysync_mqtt_messages_total", {"channel": "state"}
        )
        assert states_before is not None
        own_mosquitto.stop()
        await eventually(lambda: not gateway.link.connected, "the gateway to notice the outage")
        # Accepted (journaled) while the broker is down; delivered once it is back.
        record = await gateway.send("101", "thermostat", {"setpoint_c": 24.5})
        own_mosquitto.start()
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 15)
        assert done.status is CommandStatus.ACKED
        assert sim.room("101").setpoint_c == 24.5
        # The broker re-sent every retained state on re-subscription: all devices again.
        states_after = gateway.metrics.registry.get_sample_value(
            "staysync_mqtt_messages_total", {"channel": "state"}
        )
        assert states_after is not None
        assert states_after - states_before >= 3 * 8
        assert gateway.metrics.registry.get_sample_value("staysync_mqtt_connects_total") == 2.0
        await eventually(lambda: gateway.twin.rooms_online == 3, "all rooms online again")


async def test_pending_commands_survive_a_gateway_restart(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    """A command journaled while its room was unreachable is delivered by the next run."""
    property_id = unique_property_id()
    clock = SimulatedClock(speed=60.0)
    layout = PropertyLayout.generate(property_id, 2)
    settings = fast_settings(property_id, broker_address, tmp_path, 2, command_timeout_s=30.0)
    async with Gateway(settings, clock, layout=layout) as gateway:
        await gateway.wait_connected()
        record = await gateway.send("101", "thermostat", {"setpoint_c": 23.0})
    async with (
        Gateway(settings, clock, layout=layout) as gateway,
        SimulatedProperty(property_id, layout.room_ids, broker_address, clock) as sim,
    ):
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 15)
        assert done.status is CommandStatus.ACKED
        assert sim.room("101").setpoint_c == 23.0


async def test_twin_is_persisted_and_restored(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    async with running_property(broker_address, tmp_path) as (gateway, _sim):
        settings, layout = gateway.settings, gateway.layout
        expected = gateway.twin.room("101").thermostat
    assert isinstance(expected, ThermostatState)
    restored = Gateway(settings, SimulatedClock(), layout=layout)
    await restored.store.open()
    try:
        restored.twin.restore(await restored.store.load_twin())
    finally:
        await restored.store.close()
    thermostat = restored.twin.room("101").thermostat
    assert thermostat is not None
    assert thermostat.setpoint_c == expected.setpoint_c


async def test_a_command_for_a_device_the_room_lacks_is_refused_by_its_controller(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    """Sent before the room announced its devices, answered by the controller's state."""
    property_id = unique_property_id()
    clock = SimulatedClock(speed=60.0)
    layout = PropertyLayout.generate(property_id, 1)
    settings = fast_settings(property_id, broker_address, tmp_path, 1, command_timeout_s=10.0)
    config = SimConfig(room_devices={"101": (Device.THERMOSTAT, Device.DOOR)})
    async with Gateway(settings, clock, layout=layout) as gateway:
        await gateway.wait_connected()
        record = await gateway.send("101", "mattress", {"firmness": 2})
        async with SimulatedProperty(property_id, ["101"], broker_address, clock, config=config):
            done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
    assert done.status is CommandStatus.FAILED
    assert done.reason is not None
    assert "mattress" in done.reason
    assert done.reason.startswith("device refused")


async def test_finished_commands_are_pruned_after_their_retention(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    property_id = unique_property_id()
    clock = SimulatedClock(speed=60.0)
    layout = PropertyLayout.generate(property_id, 1)
    settings = fast_settings(property_id, broker_address, tmp_path, 1, command_timeout_s=0.2)
    async with Gateway(settings, clock, layout=layout) as gateway:
        failed = await gateway.send("101", "lights", {"on": True})
        assert (await gateway.commands.wait(failed.id)).status is CommandStatus.FAILED
    patient = settings.model_copy(update={"command_timeout_s": 60.0})
    async with Gateway(patient, clock, layout=layout) as gateway:
        pending = await gateway.send("101", "lights", {"on": False})
    await asyncio.sleep(0.1)
    short = settings.model_copy(update={"command_retention_s": 0.05, "command_timeout_s": 60.0})
    async with Gateway(short, clock, layout=layout) as gateway:
        assert await gateway.store.get(failed.id) is None
        assert (await gateway.commands.get(pending.id)).status is CommandStatus.PENDING


def test_production_settings_refuse_to_start_without_an_operator_token() -> None:
    with pytest.raises(ValueError, match="OPERATOR_TOKEN must be set in production"):
        EdgeSettings(environment="production", property_id="h1")


def test_an_empty_or_short_token_is_refused() -> None:
    """An empty variable in an env template must not become a token an empty header
    matches."""
    with pytest.raises(ValueError, match="at least 16 characters"):
        EdgeSettings(operator_token=SecretStr(""))
    with pytest.raises(ValueError, match="at least 16 characters"):
        EdgeSettings(pms_token=SecretStr("short"))


def test_the_standby_band_must_contain_the_eco_band() -> None:
    with pytest.raises(ValueError, match="must contain the eco band"):
        EdgeSettings(standby_low_c=18.0)
    with pytest.raises(ValueError, match="must contain the eco band"):
        EdgeSettings(eco_high_c=30.0, standby_high_c=29.0)


def test_settings_never_show_the_broker_password() -> None:
    settings = EdgeSettings(broker_url="mqtt://gateway:hunter2@broker:1883")
    assert "hunter2" not in repr(settings)
    assert settings.broker.password == "hunter2"
    with pytest.raises(ValueError, match="must start with mqtt://") as refused:
        EdgeSettings(broker_url="http://gateway:hunter2@broker")
    assert "hunter2" not in str(refused.value)


def test_an_open_bind_without_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="open the operator API"):
        EdgeSettings(http_host="0.0.0.0")


async def test_the_gateway_keeps_sealed_profiles_with_a_demo_chain_key(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    from shared.preferences import ObservationKind

    property_id = unique_property_id()
    settings = fast_settings(property_id, broker_address, tmp_path, 1)
    async with Gateway(
        settings, SimulatedClock(), layout=PropertyLayout.generate(property_id, 1)
    ) as gw:
        await gw.profiles.record(
            "GOLD-1", "room.temperature_c", 22.0, ObservationKind.OBSERVED, "s1"
        )
        preferences = await gw.profiles.preferences("GOLD-1")
    assert preferences["room.temperature_c"].value == 22.0
    key_file = settings.keyring_path
    assert key_file.stat().st_mode & 0o777 == 0o600
    stored = b"".join(p.read_bytes() for p in (tmp_path / property_id).glob("*.jsonl"))
    assert b"GOLD-1" not in stored
    assert b"room.temperature_c" not in stored  # the key is sealed with the value


async def test_commands_beyond_the_pending_bound_are_refused(
    broker_address: BrokerAddress, tmp_path: Path
) -> None:
    property_id = unique_property_id()
    settings = fast_settings(
        property_id, broker_address, tmp_path, 1, max_pending_commands=2, command_timeout_s=30.0
    )
    layout = PropertyLayout.generate(property_id, 1)
    async with Gateway(settings, SimulatedClock(), layout=layout) as gateway:
        # No simulated room answers: both stay pending.
        await gateway.send("101", "lights", {"on": True})
        await gateway.send("101", "lights", {"on": False})
        with pytest.raises(Overloaded, match="2 commands are already waiting"):
            await gateway.send("101", "lights", {"on": True})
