"""Guest profiles across the chain: two gateways, the real cloud over HTTP, one chain key."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from cloud.api import create_app
from cloud.auth import issue_gateway_token
from cloud.db import Database, make_engine, migrate
from cloud.settings import CloudSettings, HqPrincipal, HqRole
from edge.cloud_client import CloudClient, CloudUnavailable
from edge.persistence import GatewayStore
from edge.profile_sync import ProfileSync
from edge.profiles import GuestProfiles, ProfileStore
from shared.clock import ManualClock
from shared.crypto import ChainKeyring
from shared.preferences import ObservationKind
from shared.sync import SealedObservation, WrappedKey
from staysync.keys import rotate
from tests.fixtures.http_server import ServeApp
from tests.fixtures.mosquitto import free_port

SHANGHAI, HANGZHOU = "shanghai", "hangzhou"
ADMIN_TOKEN = "hq-admin-token-for-tests-0123456789"
OFFICER_TOKEN = "key-officer-token-for-tests-012345"


@dataclass
class Cloud:
    base: str
    engine: Engine
    tokens: dict[str, str]


@dataclass
class Edge:
    """What one gateway runs for profiles: its store, profiles and sync to the cloud."""

    store: GatewayStore
    profile_store: ProfileStore
    profiles: GuestProfiles
    sync: ProfileSync
    client: CloudClient


@pytest.fixture
def cloud(tmp_path: Path, serve_app: ServeApp) -> Iterator[Cloud]:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    migrate(engine)
    with Database.of(engine).session() as session:
        tokens = {p: issue_gateway_token(session, p)[1] for p in (SHANGHAI, HANGZHOU)}
        session.commit()
    settings = CloudSettings(
        database_url=url,
        hq_principals=(
            HqPrincipal(user="ana", role=HqRole.HQ_ADMIN, token=ADMIN_TOKEN),
            HqPrincipal(user="kofi", role=HqRole.KEY_OFFICER, token=OFFICER_TOKEN),
        ),
    )
    try:
        with serve_app(create_app(settings)) as base:
            yield Cloud(base, engine, tokens)
    finally:
        engine.dispose()


@asynccontextmanager
async def edge(
    property_id: str, keyring: ChainKeyring, base: str, token: str, data: Path, clock: ManualClock
) -> AsyncIterator[Edge]:
    store = GatewayStore(data / property_id)
    await store.open()
    client = CloudClient(base, SecretStr(token))
    try:
        profile_store = ProfileStore(store)
        await profile_store.open()
        profiles = GuestProfiles(property_id, keyring, profile_store, clock, node_id=property_id)
        sync = ProfileSync(profile_store, client, keyring, clock)
        yield Edge(store, profile_store, profiles, sync, client)
    finally:
        await client.aclose()
        await store.close()


@asynccontextmanager
async def two_edges(
    cloud: Cloud, keyring: ChainKeyring, data: Path, clock: ManualClock
) -> AsyncIterator[tuple[Edge, Edge]]:
    """The Shanghai and Hangzhou gateways of one chain, on one cloud."""
    async with (
        edge(SHANGHAI, keyring, cloud.base, cloud.tokens[SHANGHAI], data, clock) as sh,
        edge(HANGZHOU, keyring, cloud.base, cloud.tokens[HANGZHOU], data, clock) as hz,
    ):
        yield sh, hz


@pytest.fixture
def keyring() -> ChainKeyring:
    return ChainKeyring.generate("chain-test", demo=True)


DAY = 24 * 3600.0


async def _stay(edge_: Edge, guest: str, stay: str, clock: ManualClock) -> None:
    """What one stay teaches: the thermostat held at 22 °C, warm milk at 23:00."""
    if edge_.profiles.property_id == SHANGHAI:
        await edge_.profiles.record(
            guest, "room.temperature_c", 22.0, ObservationKind.OBSERVED, stay
        )
        await edge_.profiles.record(
            guest, "dining.evening_drink", "warm_milk", ObservationKind.NOTED, stay, time(23, 0)
        )
    else:
        await edge_.profiles.record(guest, "bed.pillow", "latex", ObservationKind.CONFIRMED, stay)
    await clock.advance(DAY)


async def _erase(cloud: Cloud, pseudonym: str) -> None:
    """HQ erases the guest (crypto-shredding at the cloud)."""
    async with httpx.AsyncClient(base_url=cloud.base) as http:
        erased = await http.post(
            f"/v1/hq/guests/{pseudonym}/erase",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert erased.status_code == 200, erased.text


async def test_two_properties_converge_whatever_the_interleaving(
    cloud: Cloud, keyring: ChainKeyring, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with two_edges(cloud, keyring, tmp_path, clock) as (sh, hz):
        steps: dict[str, Callable[[], Awaitable[object]]] = {
            "push sh": sh.sync.push_once,
            "push hz": hz.sync.push_once,
            "pull sh": sh.sync.pull_once,
            "pull hz": hz.sync.pull_once,
        }
        for n, order in enumerate(itertools.permutations(steps)):
            guest = f"GOLD-{n:04d}"
            await _stay(sh, guest, f"sh-{n}", clock)
            await _stay(hz, guest, f"hz-{n}", clock)
            for p in (sh, hz):
                p.sync.expect(p.profiles.pseudonym(guest), clock.now())
            for step in order:
                await steps[step]()
            for _ in range(2):  # every side sees every other's once both have synced
                await sh.sync.sync_once()
                await hz.sync.sync_once()
            at_sh = await sh.profiles.preferences(guest)
            at_hz = await hz.profiles.preferences(guest)
            assert at_sh == at_hz, f"diverged after {order}"
            assert at_sh["room.temperature_c"].value == 22.0
            assert at_sh["bed.pillow"].value == "latex"
            assert at_sh["dining.evening_drink"].time_of_day == time(23, 0)
        stored = _scalar(cloud.engine, "SELECT count(*) FROM observations")
        assert stored == 24 * 3  # every observation exactly once
    vault = _sqlite_bytes(tmp_path)
    for plaintext in (b"warm_milk", b"latex", b"room.temperature_c", b"GOLD-0001"):
        assert plaintext not in vault


async def test_a_cloud_outage_loses_and_duplicates_nothing(
    cloud: Cloud, keyring: ChainKeyring, tmp_path: Path
) -> None:
    clock = ManualClock()
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the cloud is down
    async with edge(SHANGHAI, keyring, down, cloud.tokens[SHANGHAI], tmp_path, clock) as sh:
        for stay in range(5):
            await _stay(sh, "GOLD-OUTAGE", f"stay-{stay}", clock)
        with pytest.raises(CloudUnavailable):
            await sh.sync.sync_once()
        queued = await sh.profile_store.outbox(1000)
        assert len(queued) == 1 + 10  # the new guest's key, then ten observations
        offline = await sh.profiles.preferences("GOLD-OUTAGE")  # served from the cache
        assert offline["room.temperature_c"].value == 22.0
    async with edge(SHANGHAI, keyring, cloud.base, cloud.tokens[SHANGHAI], tmp_path, clock) as sh:
        # The cloud stored a batch but its answer was lost: the same batch comes again.
        queued = await sh.profile_store.outbox(1000)
        await sh.client.put_key(WrappedKey.model_validate_json(queued[0].body))
        await sh.client.push_observations(
            [SealedObservation.model_validate_json(i.body) for i in queued[1:6]]
        )
        pushed, _ = await sh.sync.sync_once()
        assert pushed == 10
        assert await sh.profile_store.outbox(1000) == []
    assert _scalar(cloud.engine, "SELECT count(*) FROM observations") == 10
    assert _scalar(cloud.engine, "SELECT count(DISTINCT id) FROM observations") == 10


async def test_after_erasure_neither_the_cloud_nor_the_edge_can_read_the_profile(
    cloud: Cloud, keyring: ChainKeyring, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with two_edges(cloud, keyring, tmp_path, clock) as (sh, hz):
        guest = "GOLD-ERASE"
        await _stay(sh, guest, "s1", clock)
        await sh.sync.sync_once()
        pseudonym = sh.profiles.pseudonym(guest)
        hz.sync.expect(pseudonym, clock.now())
        await hz.sync.sync_once()
        assert (await hz.profiles.preferences(guest))["room.temperature_c"].value == 22.0

        await _erase(cloud, pseudonym)
        async with httpx.AsyncClient(base_url=cloud.base) as http:
            gone = await http.get(
                f"/v1/guests/{pseudonym}/observations",
                headers={"Authorization": f"Bearer {cloud.tokens[SHANGHAI]}", "X-Purpose": "sync"},
            )
            assert gone.status_code == 410

        for side in (sh, hz):
            await side.sync.sync_once()  # learns of the erasure and purges its copy
            assert await side.profiles.observations(pseudonym) == []
            assert await side.profiles.preferences(guest) == {}
        assert _scalar(cloud.engine, "SELECT count(*) FROM wrapped_keys") == 0


async def test_an_erased_guest_who_comes_back_starts_a_new_profile(
    cloud: Cloud, keyring: ChainKeyring, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with two_edges(cloud, keyring, tmp_path, clock) as (sh, hz):
        guest = "GOLD-BACK"
        await _stay(sh, guest, "s1", clock)
        await sh.sync.sync_once()
        pseudonym = sh.profiles.pseudonym(guest)
        # Hangzhou holds the old profile too, and will be away through all that follows,
        # with an old observation still queued.
        hz.sync.expect(pseudonym, clock.now())
        await hz.sync.sync_once()
        await hz.profiles.record(guest, "room.extra_hangers", 6, ObservationKind.NOTED, "h1")
        # Another guest's observation waits in the same outbox as the erased one's.
        await _stay(sh, "GOLD-BYSTANDER", "b1", clock)
        await sh.profiles.record(guest, "bed.pillow", "down", ObservationKind.NOTED, "s1")
        await _erase(cloud, pseudonym)
        await sh.sync.sync_once()  # the push is refused for that guest: purged, only them
        await sh.sync.sync_once()
        assert await sh.profiles.observations(pseudonym) == []
        assert (await sh.profiles.preferences("GOLD-BYSTANDER"))["room.temperature_c"].value == 22.0
        assert await sh.profile_store.outbox(100) == []

        # Months later the guest stays again: a new profile, under a later data key.
        await sh.profiles.record(guest, "bed.pillow", "buckwheat", ObservationKind.OBSERVED, "s2")
        await sh.sync.sync_once()
        assert await sh.profile_store.outbox(100) == []  # accepted, nothing refused
        # Hangzhou comes back: it purges the old profile (its cache and its queued
        # observation, refused) and keeps the guest's new one.
        for _ in range(2):
            await hz.sync.sync_once()
        fresh = await hz.profiles.preferences(guest)
        assert set(fresh) == {"bed.pillow"}  # nothing of the erased profile
        assert fresh["bed.pillow"].value == "buckwheat"
        assert await hz.profile_store.outbox(100) == []
        # ...and the new profile survives any later sync on either side.
        await sh.sync.sync_once()
        await hz.sync.sync_once()
        assert (await sh.profiles.preferences(guest))["bed.pillow"].value == "buckwheat"
        assert (await hz.profiles.preferences(guest))["bed.pillow"].value == "buckwheat"


async def test_after_key_rotation_every_profile_reads_and_no_observation_was_rewritten(
    cloud: Cloud, keyring: ChainKeyring, tmp_path: Path
) -> None:
    clock = ManualClock()
    key_file = tmp_path / "chain-keys.json"
    keyring.save(key_file)
    guests = [f"GOLD-ROT-{n}" for n in range(3)]
    async with edge(SHANGHAI, keyring, cloud.base, cloud.tokens[SHANGHAI], tmp_path, clock) as sh:
        for n, guest in enumerate(guests):
            await _stay(sh, guest, f"stay-{n}", clock)
        await sh.sync.sync_once()
    before = _rows(cloud.engine, "SELECT id, nonce, ciphertext FROM observations")

    def run_rotation() -> None:
        with httpx.Client(
            base_url=cloud.base, headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
        ) as http:
            rotate(http, key_file, "development")
            rotate(http, key_file, "development")  # a second run: nothing left, a new rotation

    await asyncio.to_thread(run_rotation)
    rotated = ChainKeyring.load(key_file)
    assert rotated.current_version == 3
    assert _rows(cloud.engine, "SELECT id, nonce, ciphertext FROM observations") == before
    versions = _rows(cloud.engine, "SELECT DISTINCT chain_key_version FROM wrapped_keys")
    assert versions == [(3,)]
    async with edge(HANGZHOU, rotated, cloud.base, cloud.tokens[HANGZHOU], tmp_path, clock) as hz:
        for guest in guests:
            hz.sync.expect(hz.profiles.pseudonym(guest), clock.now())
        await hz.sync.sync_once()
        for guest in guests:
            assert (await hz.profiles.preferences(guest))["room.temperature_c"].value == 22.0


async def test_the_next_48_hours_arrivals_are_prefetched(
    cloud: Cloud, keyring: ChainKeyring, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with two_edges(cloud, keyring, tmp_path, clock) as (sh, hz):
        for guest in ("GOLD-SOON", "GOLD-LATER"):
            await _stay(sh, guest, f"{guest}-1", clock)
        await sh.sync.sync_once()
        soon, later = hz.profiles.pseudonym("GOLD-SOON"), hz.profiles.pseudonym("GOLD-LATER")
        hz.sync.expect(soon, clock.now() + 47 * 3600)
        hz.sync.expect(later, clock.now() + 50 * 3600)
        await hz.sync.sync_once()
        assert await hz.profiles.observations(soon)
        assert await hz.profiles.observations(later) == []  # not yet: outside the window
        await clock.advance(3 * 3600)
        await hz.sync.sync_once()
        assert await hz.profiles.observations(later)


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(text(sql)))


def _sqlite_bytes(directory: Path) -> bytes:
    """The cloud's database file with its write-ahead log, as they lie on disk."""
    return b"".join(p.read_bytes() for p in directory.glob("cloud.db*"))
