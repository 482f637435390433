"""The twin fed straight with messages (no broker): what it remembers and counts."""

from edge.twin import PropertyTwin
from shared.clock import ManualClock
from shared.layout import PropertyLayout
from shared.messages import (
    CommandAck,
    ControllerState,
    DoorState,
    HvacAction,
    HvacMode,
    Status,
    StatusMessage,
    ThermostatState,
)
from shared.topics import Channel, Device, RoomTopic


def _topic(device: Device, channel: Channel, room: str = "101") -> RoomTopic:
    return RoomTopic("h1", room, device, channel)


def _thermostat(ack: CommandAck | None = None) -> ThermostatState:
    return ThermostatState(
        ts=1.0,
        mode=HvacMode.HEAT,
        setpoint_c=22,
        temperature_c=19.0,
        action=HvacAction.HEATING,
        ack=ack,
    )


def test_room_goes_online_and_complete() -> None:
    clock = ManualClock()
    twin = PropertyTwin(PropertyLayout.generate("h1", 3), clock)
    twin.apply(_topic(Device.CONTROLLER, Channel.STATUS), StatusMessage(state=Status.ONLINE))
    assert twin.rooms_online == 1
    twin.apply(
        _topic(Device.CONTROLLER, Channel.STATE),
        ControllerState(ts=1, firmware="t", devices=(Device.THERMOSTAT, Device.DOOR)),
    )
    assert not twin.room("101").complete
    twin.apply(_topic(Device.THERMOSTAT, Channel.STATE), _thermostat())
    twin.apply(_topic(Device.DOOR, Channel.STATE), DoorState(ts=1, open=False, locked=True))
    assert twin.room("101").complete
    assert twin.rooms_complete == 1
    twin.apply(_topic(Device.CONTROLLER, Channel.STATUS), StatusMessage(state=Status.OFFLINE))
    assert twin.rooms_online == 0
    assert not twin.room("101").device_online(Device.THERMOSTAT)


def test_state_returns_its_ack() -> None:
    twin = PropertyTwin(PropertyLayout.generate("h1", 1), ManualClock())
    ack = CommandAck(command_id="abcdef0123", applied=True)
    assert twin.apply(_topic(Device.THERMOSTAT, Channel.STATE), _thermostat(ack)) == ack


def test_persisted_documents_restore_the_twin() -> None:
    layout = PropertyLayout.generate("h1", 2)
    twin = PropertyTwin(layout, ManualClock())
    twin.apply(_topic(Device.THERMOSTAT, Channel.STATE), _thermostat())
    docs = twin.dirty_documents()
    assert twin.dirty_documents() == []  # drained
    again = PropertyTwin(layout, ManualClock())
    assert again.restore(docs) == 1
    assert again.room("101").thermostat == _thermostat()
    assert again.rooms_online == 0  # online only once the broker says so


def test_unreadable_stored_documents_are_skipped() -> None:
    layout = PropertyLayout.generate("h1", 1)
    twin = PropertyTwin(layout, ManualClock())
    good = {
        "key": "101/thermostat",
        "room": "101",
        "device": "thermostat",
        "state": _thermostat().model_dump_json(),
        "online": True,
        "last_seen": 1.0,
    }
    bad_state = {**good, "key": "101/door", "device": "door", "state": '{"v": 1, "ts": null}'}
    bad_device = {**good, "key": "101/toaster", "device": "toaster"}
    assert twin.restore([bad_state, bad_device, {"nonsense": 1}, good]) == 1
    assert twin.room("101").thermostat == _thermostat()
    assert not twin.room("101").complete  # restored states are hints until the room speaks


def test_last_seen_moves_only_when_the_room_speaks() -> None:
    clock = ManualClock()
    twin = PropertyTwin(PropertyLayout.generate("h1", 1), clock)
    twin.apply(_topic(Device.THERMOSTAT, Channel.STATE), _thermostat(), retained=True)
    assert twin.room("101").last_seen is None  # a retained replay is not the room speaking
    assert twin.room("101").thermostat == _thermostat()  # but its state is taken
    twin.apply(_topic(Device.THERMOSTAT, Channel.STATE), _thermostat())
    spoke = twin.room("101").last_seen
    assert spoke == clock.now()
    twin.apply(_topic(Device.CONTROLLER, Channel.STATUS), StatusMessage(state=Status.OFFLINE))
    assert twin.room("101").last_seen == spoke  # the broker's last will, not the room
