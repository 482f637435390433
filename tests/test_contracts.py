"""The MQTT contract: topics and payloads, including everything a receiver must refuse."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.messages import (
    MAX_PAYLOAD_BYTES,
    HvacAction,
    HvacMode,
    Inbound,
    Rejection,
    RejectReason,
    ThermostatSet,
    ThermostatState,
    command_model,
    decode,
    encode,
)
from shared.topics import Channel, Device, InvalidId, RoomTopic, parse_topic, subscription

ids = st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True)


@given(ids, ids, st.sampled_from(Device), st.sampled_from(Channel))
def test_topic_round_trip(property_id: str, room_id: str, device: Device, channel: Channel) -> None:
    topic = RoomTopic(property_id, room_id, device, channel)
    assert parse_topic(str(topic)) == topic


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "a b", "x" * 65, "caf\u00e9"])
def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidId):
        RoomTopic("h1", bad, Device.DOOR, Channel.STATE)


def test_subscription_wildcards() -> None:
    assert subscription("h1") == "staysync/h1/+/+/+"
    assert subscription("h1", channel=Channel.STATE) == "staysync/h1/+/+/state"
    assert subscription("h1", "101", Device.THERMOSTAT) == "staysync/h1/101/thermostat/+"


def _state() -> ThermostatState:
    return ThermostatState(
        ts=1.0, mode=HvacMode.COOL, setpoint_c=22.0, temperature_c=27.5, action=HvacAction.COOLING
    )


def test_state_round_trip() -> None:
    result = decode("staysync/h1/101/thermostat/state", encode(_state()))
    assert isinstance(result, Inbound)
    assert result.message == _state()
    assert result.topic.room_id == "101"


def test_command_round_trip() -> None:
    command = command_model(Device.THERMOSTAT)(
        command_id="c0ffee0001", ts=5.0, params=ThermostatSet(setpoint_c=21.5)
    )
    result = decode("staysync/h1/101/thermostat/set", encode(command))
    assert isinstance(result, Inbound)
    assert result.message == command


GOOD = encode(_state())


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("staysync/h1/101/thermostat/state", b"\xff{not json", RejectReason.NOT_JSON),
        ("staysync/h1/101/thermostat/state", b'{"ts": 1}', RejectReason.SCHEMA),
        ("staysync/h1/101/thermostat/state", b"[1, 2]", RejectReason.SCHEMA),
        (
            "staysync/h1/101/thermostat/state",
            json.dumps({**json.loads(GOOD), "setpoint_c": 99}).encode(),
            RejectReason.SCHEMA,
        ),
        (
            "staysync/h1/101/thermostat/state",
            json.dumps({**json.loads(GOOD), "v": 2}).encode(),
            RejectReason.UNSUPPORTED_VERSION,
        ),
        (
            "staysync/h1/101/thermostat/state",
            json.dumps({**json.loads(GOOD), "extra": 1}).encode(),
            RejectReason.SCHEMA,
        ),
        ("staysync/h1/101/toaster/state", GOOD, RejectReason.UNKNOWN_DEVICE),
        ("staysync/h1/101/thermostat/gossip", GOOD, RejectReason.UNKNOWN_CHANNEL),
        ("staysync/h1/101/door/telemetry", GOOD, RejectReason.UNKNOWN_CHANNEL),
        ("other/h1/101/thermostat/state", GOOD, RejectReason.BAD_TOPIC),
        ("staysync/h1/101/thermostat", GOOD, RejectReason.BAD_TOPIC),
        ("staysync/h1/101/thermostat/state", b" " * (MAX_PAYLOAD_BYTES + 1), RejectReason.OVERSIZE),
        (
            "staysync/h1/101/thermostat/set",
            b'{"command_id": "c0ffee0001", "ts": 1, "params": {}}',
            RejectReason.SCHEMA,
        ),
    ],
)
def test_bad_input_is_rejected_with_its_reason(
    topic: str, payload: bytes, reason: RejectReason
) -> None:
    result = decode(topic, payload)
    assert isinstance(result, Rejection)
    assert result.reason is reason
    assert result.detail


@given(st.binary(max_size=256), st.text(max_size=80))
def test_decode_never_raises(payload: bytes, topic: str) -> None:
    result = decode(topic, payload)
    assert isinstance(result, Inbound | Rejection)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinite_readings_are_refused(value: str) -> None:
    payload = f'{{"v": 1, "ts": {value}, "temperature_c": 20, "hvac_power_w": 0}}'.encode()
    result = decode("staysync/h1/101/thermostat/telemetry", payload)
    assert isinstance(result, Rejection)
    assert result.reason in {RejectReason.SCHEMA, RejectReason.NOT_JSON}
