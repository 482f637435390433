"""The test harness itself: the PostgreSQL cluster, the HTTP server fixture and the guards.

The guards are checked from the outside: pytester runs an inner pytest session in a
subprocess (so its deliberately leaked threads die with it) with only the guards plugin,
and the inner session's outcome is asserted here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from tests.fixtures.http_server import ServeApp
from tests.fixtures.postgres import PostgresCluster

pytest_plugins = ["pytester"]

REPO_ROOT = Path(__file__).resolve().parent.parent

_seen_databases: set[str] = set()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_database(
    postgres_url: str, postgres_cluster: PostgresCluster, run: int
) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            # Empty: the table the other run created is not here.
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE rooms (id int PRIMARY KEY, name text NOT NULL)"))
            conn.execute(
                sa.text("INSERT INTO rooms VALUES (:id, :name)"),
                [{"id": 101, "name": "sea view"}, {"id": 102, "name": f"run {run}"}],
            )
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM rooms ORDER BY id")).all()
            test_databases = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'")
            ).scalars()
            # The databases of earlier tests were dropped; only this test's own is left.
            assert list(test_databases) == [postgres_url.rsplit("/", 1)[1]]
    finally:
        engine.dispose()
    assert rows == [(101, "sea view"), (102, f"run {run}")]
    assert postgres_url.startswith(
        f"postgresql+psycopg://postgres@127.0.0.1:{postgres_cluster.port}/"
    )
    assert postgres_url not in _seen_databases
    _seen_databases.add(postgres_url)


def test_cluster_is_recent_and_private(postgres_cluster: PostgresCluster) -> None:
    with psycopg.connect(postgres_cluster.url().replace("+psycopg", "")) as conn:
        row = conn.execute(
            "SELECT current_setting('listen_addresses'), current_setting('fsync')"
        ).fetchone()
        assert conn.info.server_version >= 150000
    assert row == ("127.0.0.1", "off")
    assert postgres_cluster.bindir.name == "bin"


def test_pytest_postgresql_connection_uses_our_cluster(
    postgresql: psycopg.Connection[tuple[object, ...]], postgres_cluster: PostgresCluster
) -> None:
    assert postgresql.info.port == postgres_cluster.port
    postgresql.execute("CREATE TABLE t (x int)")
    postgresql.execute("INSERT INTO t VALUES (41), (1)")
    assert postgresql.execute("SELECT sum(x) FROM t").fetchone() == (42,)


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # A sync endpoint runs in anyio's worker thread pool, which must end with the server.
    @app.get("/rooms/{room}")
    def room(room: int) -> dict[str, int]:
        return {"room": room}

    return app


def test_serve_app_answers_over_http(serve_app: ServeApp) -> None:
    with serve_app(_app()) as base_url:
        health = httpx.get(f"{base_url}/health")
        room = httpx.get(f"{base_url}/rooms/204")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert room.json() == {"room": 204}
    # Stopped: the port no longer accepts connections.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/health")


async def test_serve_app_from_an_async_test(serve_app: ServeApp) -> None:
    async with serve_app(_app()) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        responses = await asyncio.gather(*(client.get(f"/rooms/{n}") for n in range(5)))
    assert [r.json()["room"] for r in responses] == list(range(5))


INNER_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = -p tests.fixtures.guards -p no:cacheprovider -ra
"""

LEAKY_TESTS = """
import asyncio
import logging
import threading
import time


async def test_leaks_a_task():
    asyncio.get_running_loop().create_task(asyncio.sleep(3600), name="forgotten-sleeper")


def test_leaks_a_thread():
    never = threading.Event()
    threading.Thread(target=never.wait, name="forgotten-worker", daemon=True).start()


async def test_blocks_the_loop():
    time.sleep(1.5)


def test_logs_an_exception():
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("staysync.inner").exception("reading room 204 failed")


async def test_task_fails_unobserved():
    async def explode():
        raise ValueError("nobody awaits me")

    task = asyncio.get_running_loop().create_task(explode())
    await asyncio.sleep(0.01)
    assert task.done()
    del task  # asyncio logs "Task exception was never retrieved" when it is collected
"""

CLEAN_TESTS = """
import asyncio
import logging
import threading
import time

import pytest


async def test_awaits_everything_it_starts():
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    # The default executor's thread is joined when pytest-asyncio closes the loop.
    await asyncio.to_thread(time.sleep, 0.01)


async def test_task_finishing_during_grace_period():
    asyncio.get_running_loop().create_task(asyncio.sleep(0.05))


def test_thread_finishing_during_grace_period():
    threading.Thread(target=time.sleep, args=(0.05,)).start()


async def test_short_steps_are_fine():
    for _ in range(20):
        time.sleep(0.005)
        await asyncio.sleep(0)


def test_error_without_exception_is_fine():
    logging.getLogger("staysync.inner").error("room 204 is offline")


@pytest.mark.allow_logged_exceptions
def test_expected_exception_log():
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("staysync.inner").exception("expected")


@pytest.mark.allow_slow_callbacks
async def test_allowed_to_block():
    time.sleep(1.5)
    assert not asyncio.get_running_loop().get_debug()
"""


def _run_inner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str
) -> pytest.RunResult:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner=source)
    # The subprocess imports the guards plugin from this repository.
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    return pytester.runpytest_subprocess(timeout=60)


def test_guards_fail_tests_that_leak_or_block(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_inner(pytester, monkeypatch, LEAKY_TESTS)
    # Each leak is an error at teardown of a test that otherwise passed.
    result.assert_outcomes(passed=5, errors=5)
    result.stdout.fnmatch_lines_random(
        [
            "ERROR test_inner.py::test_leaks_a_task - Failed: 1 asyncio task(s) still runn*",
            "<Task pending name='forgotten-sleeper'*created at *test_inner.py:8>",
            "ERROR test_inner.py::test_leaks_a_thread - Failed: thread <Thread(forgotten-w*",
            "thread <Thread(forgotten-worker, started daemon *)> is still running*",
            "ERROR test_inner.py::test_blocks_the_loop - Failed: the event loop was blocke*",
            "the event loop was blocked: Executing <Task *test_blocks_the_loop()*took 1.5*",
            "ERROR test_inner.py::test_logs_an_exception - Failed: exception logged at ERR*",
            "exception logged at ERROR by 'staysync.inner' *: reading room 204 failed",
            "ZeroDivisionError: division by zero",
            "ERROR test_inner.py::test_task_fails_unobserved - Failed: exception logged at*",
            "exception logged at ERROR by 'asyncio' *: Task exception was never retrieved",
            "ValueError: nobody awaits me",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_guards_let_clean_tests_and_opt_outs_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_inner(pytester, monkeypatch, CLEAN_TESTS)
    result.assert_outcomes(passed=7)
    assert result.ret == pytest.ExitCode.OK


def test_guard_markers_are_registered(pytestconfig: pytest.Config) -> None:
    markers = pytestconfig.getini("markers")
    assert any(m.startswith("allow_logged_exceptions:") for m in markers)
    assert any(m.startswith("allow_slow_callbacks:") for m in markers)
