import asyncio

import aiomqtt

from tests.fixtures.mosquitto import Mosquitto


async def test_retained_message_survives_restart(own_mosquitto: Mosquitto) -> None:
    async with aiomqtt.Client(own_mosquitto.host, own_mosquitto.port) as client:
        await client.publish("staysync/t/1/door/state", b"x", qos=1, retain=True)
    own_mosquitto.restart()
    async with aiomqtt.Client(own_mosquitto.host, own_mosquitto.port) as client:
        await client.subscribe("staysync/t/#")
        async with asyncio.timeout(5):
            message = await anext(aiter(client.messages))
    assert message.payload == b"x"
    assert message.retain
