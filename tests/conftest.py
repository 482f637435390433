"""Fixtures shared by the whole suite: real brokers, databases and servers, and guards."""

pytest_plugins = [
    "tests.fixtures.mosquitto",
    "tests.fixtures.postgres",
    "tests.fixtures.http_server",
    "tests.fixtures.guards",
    "tests.fixtures.property",
]
