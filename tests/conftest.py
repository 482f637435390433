"""Fixtures shared by the whole suite: real brokers, databases and servers, and guards."""

import pytest

from edge.assignment import warm_up

pytest_plugins = [
    "tests.fixtures.mosquitto",
    "tests.fixtures.postgres",
    "tests.fixtures.http_server",
    "tests.fixtures.guards",
    "tests.fixtures.property",
]


@pytest.fixture(autouse=True, scope="session")
def _numba_compiled() -> None:
    """Compile (or load from numba's cache) the assignment kernels once, before any
    event loop runs: on a fresh checkout that takes ~30 s of CPU, which would otherwise
    fall on whichever gateway starts first and starve the simulated clocks of its test."""
    warm_up()
