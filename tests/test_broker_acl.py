"""deploy/mosquitto/acl on a real mosquitto: each room controller keeps to its own room."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from shared.broker import BrokerAddress
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.property import running_property

ACL = Path(__file__).parent.parent / "deploy" / "mosquitto" / "acl"
USERS = {"gateway": "gw-secret", "101": "room-secret", "102": "room-secret", "103": "room-secret"}
QUIET_S = 0.5  # how long a denied message is given to (not) arrive


@pytest.fixture
def acl_broker() -> Iterator[Mosquitto]:
    with tempfile.TemporaryDirectory(prefix="staysync-acl-") as tmp:
        workdir = Path(tmp)
        passwd = workdir / "passwd"
        for i, (user, password) in enumerate(USERS.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True
            )
        shutil.copy(ACL, workdir / "acl")
        broker = Mosquitto(
            workdir,
            extra_config=(
                f"allow_anonymous false\npassword_file {passwd}\nacl_file {workdir / 'acl'}\n"
            ),
        )
        broker.start()
        yield broker
        broker.stop()


async def _received(client: aiomqtt.Client) -> list[str]:
    topics: list[str] = []
    try:
        async with asyncio.timeout(QUIET_S):
            async for message in client.messages:
                topics.append(message.topic.value)
    except TimeoutError:
        pass
    return topics


async def test_a_room_may_publish_only_its_own_topics(acl_broker: Mosquitto) -> None:
    host, port = acl_broker.host, acl_broker.port
    async with (
        aiomqtt.Client(host, port, username="gateway", password=USERS["gateway"]) as gateway,
        aiomqtt.Client(
            host, port, username="101", password=USERS["101"], identifier="r101"
        ) as room,
    ):
        await gateway.subscribe("staysync/h/+/+/state", qos=1)
        await room.subscribe("staysync/h/+/+/set", qos=1)
        await room.publish("staysync/h/101/door/state", b"{}", qos=1)
        await room.publish("staysync/h/102/door/state", b"{}", qos=1)  # another room's: denied
        await gateway.publish("staysync/h/101/door/set", b"{}", qos=1)
        await gateway.publish("staysync/h/102/door/set", b"{}", qos=1)  # not for room 101
        assert await _received(gateway) == ["staysync/h/101/door/state"]
        assert await _received(room) == ["staysync/h/101/door/set"]


async def test_anonymous_and_wrong_passwords_are_refused(acl_broker: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(acl_broker.host, acl_broker.port):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            acl_broker.host, acl_broker.port, username="101", password="nope"
        ):
            pass


async def test_the_property_runs_with_per_room_credentials(
    acl_broker: Mosquitto, tmp_path: Path
) -> None:
    """The simulator logs each room in as its own id; the gateway as `gateway`."""
    sim_broker = BrokerAddress(acl_broker.host, acl_broker.port, "room", "room-secret")
    gateway_url = f"mqtt://gateway:{USERS['gateway']}@{acl_broker.host}:{acl_broker.port}"
    async with running_property(sim_broker, tmp_path, broker_url=gateway_url) as (gateway, _sim):
        record = await gateway.send("101", "lights", {"on": True})
        done = await asyncio.wait_for(gateway.commands.wait(record.id), 10)
        assert done.status == "acked"
