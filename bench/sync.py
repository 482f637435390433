"""The cloud vault's sync path on PostgreSQL: pull latency and push throughput.

Run: ``.venv/bin/python -m bench.sync`` (``--guests 10000`` for a quick run). One run:

1. Starts its own throwaway PostgreSQL cluster (the tests' `PostgresCluster`, here with
   durable settings: fsync, synchronous_commit and full_page_writes on, as in
   production), migrates it with the vault's Alembic revisions and loads N guests × 30
   sealed observations (100k × 30 = 3M rows) with COPY, plus a wrapped key per guest.
   Observations are interleaved across guests, as a chain's arrive, so one guest's rows
   lie on different pages. The ciphertexts are random bytes of a sealed observation's
   size: the vault never opens them, so what they contain does not matter here.
2. Serves the app with uvicorn (one process, as `staysync cloud serve` does, with
   uvloop and httptools when installed: ``uvicorn[standard]``) in this process, and
   measures from a separate client process over one kept-alive HTTP/1.1 connection
   (the standard library's ``http.client``: ~0.8 ms of client CPU a request where httpx
   takes ~1.8 ms, on the same two cores as the server), sequentially:
   pulls of one guest (cursor 0: its 30 observations and key), GETs of one guest's page,
   and pulls of 20 arrivals; each against the same rows read by a raw SQL query from the
   same client process (psycopg, prepared). API and reference alternate sample by
   sample over different random guests, so a warm cache favours neither.
3. Pushes batches of 1,000 new observations (250 guests × 4) through the API, against
   the same rows inserted by raw SQL (executemany, one transaction per batch), then
   replays API batches (the outage-recovery path: all duplicates).

Goal: pull p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import importlib.util
import json
import os
import random
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from rich.console import Console
from rich.table import Table

from cloud.api import create_app
from cloud.auth import issue_gateway_token
from cloud.db import Database, make_engine, migrate
from cloud.settings import CloudSettings
from tests.fixtures.postgres import (
    MISSING,
    START_ATTEMPTS,
    START_TIMEOUT_S,
    SYSTEM_USER,
    PostgresCluster,
    find_bindir,
)

GOAL_P99_MS = 20.0
PROPERTY = "bench-hotel"
OBSERVATIONS_PER_GUEST = 30
CIPHERTEXT_BYTES = 272  # a sealed observation: ~256 bytes of JSON + the 16-byte GCM tag
WRAPPED_KEY_BYTES = 40  # a 32-byte data key under AES key wrap with padding
ARRIVALS = 20  # guests in one "upcoming arrivals" pull
PUSH_BATCH = 1_000
PUSH_GUESTS_PER_BATCH = 250
COPY_CHUNK_ROWS = 20_000
# Production-like sizing for a 1 GB table; durability settings stay at their defaults.
SERVER_OPTIONS = (
    "-c shared_buffers=1GB",
    "-c max_wal_size=8GB",
    "-c max_connections=100",
)


class BenchCluster(PostgresCluster):
    """The tests' throwaway cluster, started without their fsync=off shortcuts: the
    pull path commits an audit row, so WAL flushes are part of what is measured."""

    def start(self) -> None:
        options = " ".join(
            (
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.workdir}",
                *SERVER_OPTIONS,
            )
        )
        result = self._run(
            "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(self.datadir),
            "-l", str(self.logfile), "-o", options,
        )  # fmt: skip
        self._check(result, f"pg_ctl start on port {self.port}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres() -> Iterator[BenchCluster]:
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit(MISSING)
    workdir = Path(tempfile.mkdtemp(prefix="staysync-bench-pg-"))
    try:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(workdir, user=SYSTEM_USER, group=SYSTEM_USER)
        cluster = BenchCluster(workdir=workdir, bindir=bindir, port=_free_port())
        cluster.initdb()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                cluster.start()
                break
            except RuntimeError:
                if attempt == START_ATTEMPTS:
                    raise
                cluster.port = _free_port()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def pseudonym(n: int) -> str:
    digest = hashlib.sha256(f"bench-guest-{n}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Dataset:
    guests: list[str]
    observations: int
    load_s: float
    index_s: float
    table_mb: float


def _copy_text(value: bytes) -> str:
    # bytea in COPY's text format: hex input, its backslash escaped for COPY itself.
    return "\\\\x" + value.hex()


def load(conninfo: str, guests: int) -> Dataset:
    """Fill the migrated schema with COPY, indexes built after the rows (as pg_restore
    does), then VACUUM ANALYZE."""
    rng = random.Random(1)
    names = [pseudonym(n) for n in range(guests)]
    nonces = [_copy_text(rng.randbytes(12)) for _ in range(1024)]
    ciphertexts = [_copy_text(rng.randbytes(CIPHERTEXT_BYTES)) for _ in range(1024)]
    stamp = "2026-01-01 00:00:00+00"
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        with conn.transaction():
            conn.execute(
                "ALTER TABLE observations DROP CONSTRAINT fk_observations_pseudonym_guests, "
                "DROP CONSTRAINT uq_observations_id"
            )
            conn.execute("DROP INDEX ix_observations_pseudonym_seq")
            with conn.cursor().copy("COPY guests (pseudonym, created_at) FROM STDIN") as copy:
                copy.write("".join(f"{name}\t{stamp}\n" for name in names))
            with conn.cursor().copy(
                "COPY wrapped_keys (pseudonym, data_key_version, chain_key_id, "
                "chain_key_version, wrapped, updated_at) FROM STDIN"
            ) as copy:
                wrapped = _copy_text(rng.randbytes(WRAPPED_KEY_BYTES))
                copy.write("".join(f"{name}\t1\tchain\t1\t{wrapped}\t{stamp}\n" for name in names))
            with conn.cursor().copy(
                "COPY observations (id, pseudonym, property_id, data_key_version, nonce, "
                "ciphertext, received_at) FROM STDIN"
            ) as copy:
                total = guests * OBSERVATIONS_PER_GUEST
                for start in range(0, total, COPY_CHUNK_ROWS):
                    copy.write(
                        "".join(
                            f"{i:032x}\t{names[i % guests]}\t{PROPERTY}\t1\t{nonces[i & 1023]}\t"
                            f"{ciphertexts[(i >> 3) & 1023]}\t{stamp}\n"
                            for i in range(start, min(start + COPY_CHUNK_ROWS, total))
                        )
                    )
        loaded = time.perf_counter()
        conn.execute("CREATE INDEX ix_observations_pseudonym_seq ON observations (pseudonym, seq)")
        conn.execute("ALTER TABLE observations ADD CONSTRAINT uq_observations_id UNIQUE (id)")
        conn.execute(
            "ALTER TABLE observations ADD CONSTRAINT fk_observations_pseudonym_guests "
            "FOREIGN KEY (pseudonym) REFERENCES guests (pseudonym)"
        )
        conn.execute("VACUUM ANALYZE")
        # Write the loaded pages out now, not in a timed checkpoint during the measurement.
        conn.execute("CHECKPOINT")
        indexed = time.perf_counter()
        row = conn.execute("SELECT pg_total_relation_size('observations')").fetchone()
        assert row is not None
    return Dataset(
        guests=names,
        observations=total,
        load_s=loaded - started,
        index_s=indexed - loaded,
        table_mb=row[0] / 2**20,
    )


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn on a free port in a thread of this process.

    Bound by host and port, so asyncio sets TCP_NODELAY on each connection; a socket made
    with proto 0 (as tests/fixtures/http_server.py does) would not get it, and every
    response on a kept-alive connection would wait ~40 ms for a delayed ACK.
    """
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-bench", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _server_stack() -> str:
    """What uvicorn's "auto" picks: uvloop and httptools when installed."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} + {parser}"


# --- the client process ------------------------------------------------------------------


class Api:
    """One kept-alive HTTP/1.1 connection to the vault (TCP_NODELAY: http.client sets it),
    sending the headers and a JSON body in one write."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self._connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=60)
        self._headers = {**headers, "Content-Type": "application/json"}

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self._connection.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The parsed JSON of a 200 answer; anything else fails the run."""
        payload = None if body is None else json.dumps(body).encode()
        self._connection.request(method, path, payload, self._headers)
        answer = self._connection.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise AssertionError(f"{method} {path}: {answer.status} {data[:500]!r}")
        return json.loads(data)


RAW_PAGE = (
    "SELECT seq, id, pseudonym, property_id, data_key_version, nonce, ciphertext "
    "FROM observations WHERE pseudonym = %s AND seq > %s ORDER BY seq LIMIT %s"
)
RAW_ARRIVALS = (
    "SELECT seq, id, pseudonym, property_id, data_key_version, nonce, ciphertext "
    "FROM observations WHERE pseudonym = ANY(%s) ORDER BY pseudonym, seq"
)
RAW_KEYS = (
    "SELECT pseudonym, data_key_version, chain_key_id, chain_key_version, wrapped "
    "FROM wrapped_keys WHERE pseudonym = ANY(%s)"
)


@dataclass(frozen=True)
class Series:
    name: str
    latencies_s: list[float]
    items: int = 0  # observations moved in all samples
    api: bool = True  # False: the raw SQL reference

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_s) * 1000

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies_s, n=100)[98] * 1000

    @property
    def per_s(self) -> float:
        return self.items / sum(self.latencies_s)


def measure_pulls(
    base: str, token: str, conninfo: str, guests: list[str], samples: int, page_limit: int
) -> list[Series]:
    rng = random.Random(2)

    def pick() -> str:
        return guests[rng.randrange(len(guests))]

    def group() -> list[str]:
        return rng.sample(guests, ARRIVALS)

    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "arrival"}
    series: dict[str, list[float]] = {
        k: [] for k in ("pull", "raw", "get", "arrivals", "raw_arrivals")
    }
    with Api(base, headers) as api, psycopg.connect(conninfo, autocommit=True) as sql:

        def api_pull(guest: str) -> None:
            body = api.call("POST", "/v1/pull", {"cursors": {guest: 0}})
            assert len(body["pages"][0]["observations"]) == OBSERVATIONS_PER_GUEST
            assert len(body["keys"]) == 1

        def api_get(guest: str) -> None:
            body = api.call("GET", f"/v1/guests/{guest}/observations")
            assert len(body["observations"]) == OBSERVATIONS_PER_GUEST

        def raw_pull(guest: str) -> None:
            rows = sql.execute(RAW_PAGE, (guest, 0, page_limit + 1), prepare=True).fetchall()
            keys = sql.execute(RAW_KEYS, ([guest],), prepare=True).fetchall()
            assert len(rows) == OBSERVATIONS_PER_GUEST
            assert len(keys) == 1

        def api_arrivals(group: list[str]) -> None:
            body = api.call("POST", "/v1/pull", {"cursors": dict.fromkeys(group, 0)})
            pages = body["pages"]
            assert sum(len(p["observations"]) for p in pages) == OBSERVATIONS_PER_GUEST * ARRIVALS

        def raw_arrivals(group: list[str]) -> None:
            rows = sql.execute(RAW_ARRIVALS, (group,), prepare=True).fetchall()
            keys = sql.execute(RAW_KEYS, (group,), prepare=True).fetchall()
            assert len(rows) == OBSERVATIONS_PER_GUEST * ARRIVALS
            assert len(keys) == ARRIVALS

        def timed(name: str, call: Callable[[Any], None], arg: Any) -> None:
            started = time.perf_counter()
            call(arg)
            series[name].append(time.perf_counter() - started)

        for _ in range(200):  # warm-up: connections, prepared statements, code paths
            api_pull(pick())
            raw_pull(pick())
            api_get(pick())
        series = {k: [] for k in series}
        for _ in range(samples):
            timed("pull", api_pull, pick())
            timed("raw", raw_pull, pick())
            timed("get", api_get, pick())
        for _ in range(max(samples // 10, 50)):
            timed("arrivals", api_arrivals, group())
            timed("raw_arrivals", raw_arrivals, group())
    per_pull = OBSERVATIONS_PER_GUEST
    return [
        Series("pull 1 guest, cursor 0 (POST /v1/pull)", series["pull"], per_pull * samples),
        Series("  same rows + key, raw SQL", series["raw"], per_pull * samples, api=False),
        Series("page of 1 guest (GET /v1/guests/…/observations)", series["get"]),
        Series(
            f"pull {ARRIVALS} arrivals (POST /v1/pull)",
            series["arrivals"],
            per_pull * ARRIVALS * len(series["arrivals"]),
        ),
        Series(
            "  same rows + keys, raw SQL",
            series["raw_arrivals"],
            per_pull * ARRIVALS * len(series["raw_arrivals"]),
            api=False,
        ),
    ]


def _batch(rng: random.Random, guests: list[str], first_id: int) -> list[dict[str, Any]]:
    chosen = rng.sample(guests, PUSH_GUESTS_PER_BATCH)
    per_guest = PUSH_BATCH // PUSH_GUESTS_PER_BATCH
    return [
        {
            "id": f"{first_id + i:032x}",
            "pseudonym": chosen[i // per_guest],
            "property_id": PROPERTY,
            "data_key_version": 1,
            "nonce": base64.b64encode(rng.randbytes(12)).decode(),
            "ciphertext": base64.b64encode(rng.randbytes(CIPHERTEXT_BYTES)).decode(),
        }
        for i in range(PUSH_BATCH)
    ]


def measure_pushes(
    base: str, token: str, conninfo: str, guests: list[str], batches: int, first_id: int
) -> list[Series]:
    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {token}"}
    api_batches = [_batch(rng, guests, first_id + n * PUSH_BATCH) for n in range(batches)]
    raw_first = first_id + batches * PUSH_BATCH
    raw_batches = [_batch(rng, guests, raw_first + n * PUSH_BATCH) for n in range(batches)]
    api: list[float] = []
    raw: list[float] = []
    replay: list[float] = []
    with Api(base, headers) as http, psycopg.connect(conninfo) as sql:
        for api_batch, raw_batch in zip(api_batches, raw_batches, strict=True):
            started = time.perf_counter()
            result = http.call("POST", "/v1/observations", {"observations": api_batch})
            api.append(time.perf_counter() - started)
            assert result == {"accepted": PUSH_BATCH, "duplicates": 0}, result

            rows = [
                (
                    o["id"],
                    o["pseudonym"],
                    o["property_id"],
                    1,
                    base64.b64decode(o["nonce"]),
                    base64.b64decode(o["ciphertext"]),
                )
                for o in raw_batch
            ]
            started = time.perf_counter()
            with sql.transaction(), sql.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO observations (id, pseudonym, property_id, data_key_version, "
                    "nonce, ciphertext, received_at) VALUES (%s, %s, %s, %s, %s, %s, now())",
                    rows,
                )
            raw.append(time.perf_counter() - started)
        for api_batch in api_batches[: max(batches // 2, 1)]:
            started = time.perf_counter()
            result = http.call("POST", "/v1/observations", {"observations": api_batch})
            replay.append(time.perf_counter() - started)
            assert result == {"accepted": 0, "duplicates": PUSH_BATCH}, result
    return [
        Series(
            f"push {PUSH_BATCH:,}-observation batches (POST /v1/observations)",
            api,
            PUSH_BATCH * len(api),
        ),
        Series("  same rows, raw SQL INSERT (executemany)", raw, PUSH_BATCH * len(raw), api=False),
        Series("replayed batches: all duplicates (no-op)", replay, PUSH_BATCH * len(replay)),
    ]


# --- the run -----------------------------------------------------------------------------


def main(guests: int, samples: int, push_batches: int) -> None:
    console = Console()
    run_started = time.perf_counter()
    background_load = os.getloadavg()[0]  # before this run adds its own processes
    with postgres() as cluster:
        dbname = "bench"
        with psycopg.connect(cluster.url("postgres").replace("+psycopg", ""), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {dbname}")
            version = c.execute("SHOW server_version").fetchone()
        url = cluster.url(dbname)
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        engine = make_engine(url)
        try:
            migrate(engine)
            with Database.of(engine).session() as session:
                _, token = issue_gateway_token(session, PROPERTY)
                session.commit()
        finally:
            engine.dispose()
        console.print(
            f"loading {guests:,} guests × {OBSERVATIONS_PER_GUEST} observations "
            f"into PostgreSQL {version[0] if version else '?'} …"
        )
        data = load(conninfo, guests)
        console.print(
            f"loaded {data.observations:,} rows in {data.load_s:.1f} s "
            f"({data.observations / data.load_s:,.0f} rows/s by COPY), indexes and "
            f"ANALYZE {data.index_s:.1f} s; observations table {data.table_mb:,.0f} MB"
        )
        settings = CloudSettings(database_url=url)
        with (
            serve(create_app(settings)) as base,
            ProcessPoolExecutor(1, mp_context=get_context("spawn")) as client,
        ):
            cpu_before = time.process_time()  # this process is the server: uvicorn's threads
            pulls = client.submit(
                measure_pulls,
                base,
                token,
                conninfo,
                data.guests,
                samples,
                settings.pull_page_limit,
            ).result()
            load_during = os.getloadavg()[0]
            api_reads = sum(len(series.latencies_s) for series in pulls if series.api)
            read_cpu_ms = (time.process_time() - cpu_before) * 1000 / api_reads
            pushes = client.submit(
                measure_pushes,
                base,
                token,
                conninfo,
                data.guests,
                push_batches,
                data.observations + 1,
            ).result()

    table = Table(
        title=(
            f"Cloud sync on PostgreSQL: {guests:,} guests × {OBSERVATIONS_PER_GUEST} "
            f"observations, {os.cpu_count()} cores, API and client in separate processes"
        )
    )
    for column in ("measure", "samples", "p50 ms", "p99 ms", "observations/s"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in (*pulls, *pushes):
        rate = f"{row.per_s:,.0f}" if row.items else ""
        table.add_row(
            row.name, f"{len(row.latencies_s):,}", f"{row.p50_ms:.2f}", f"{row.p99_ms:.2f}", rate
        )
    console.print(table)
    console.print(
        f"server: uvicorn {uvicorn.__version__} on {_server_stack()}; "
        f"server CPU per API read (pulls, pages and arrivals): {read_cpu_ms:.2f} ms; load "
        f"average {background_load:.1f} before the run (other work on these "
        f"{os.cpu_count()} cores), {load_during:.1f} during the reads (this run included)"
    )
    pull, raw = pulls[0], pulls[1]
    met = pull.p99_ms <= GOAL_P99_MS
    console.print(
        f"verdict: pull p99 {pull.p99_ms:.2f} ms {'<=' if met else '>'} {GOAL_P99_MS:.0f} ms "
        f"goal: {'MET' if met else 'NOT MET'} (raw SQL p99 {raw.p99_ms:.2f} ms; the API, "
        f"its audit row and commit add {pull.p50_ms - raw.p50_ms:.2f} ms at p50); push "
        f"{pushes[0].per_s:,.0f} observations/s ({pushes[0].per_s / pushes[1].per_s:.2f}× "
        f"raw INSERT). Whole run {time.perf_counter() - run_started:.0f} s."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--guests", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=2_000, help="pulls per series")
    parser.add_argument("--push-batches", type=int, default=30)
    args = parser.parse_args()
    main(args.guests, args.samples, args.push_batches)
