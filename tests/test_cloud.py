"""The cloud vault over real HTTP (uvicorn), on SQLite and on PostgreSQL.

Every test runs twice, on a SQLite file and on a fresh PostgreSQL database from the
throwaway cluster; the schema is made by the Alembic migrations, as in production. The
edge's crypto is played here with `cryptography` directly (AES-256-GCM for observations
and identities, AES key wrap with padding for data keys), so the vault is shown to work
on real ciphertext that it never opens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from cloud import pgread, vault
from cloud.api import create_app
from cloud.audit import Purpose
from cloud.auth import GATEWAY_ROLE, Principal, issue_gateway_token, revoke_gateway
from cloud.db import Database, make_engine, migrate
from cloud.errors import GuestErased, NotFound
from cloud.settings import CloudSettings, HqPrincipal, HqRole
from cloud.vault import PullLimits
from shared.sync import MAX_BATCH, ObservationPage, PullRequest, PullResponse
from tests.fixtures.http_server import ServeApp
from tests.fixtures.postgres import SYSTEM_USER, PostgresCluster

PROPERTY_A = "hotel-a"
PROPERTY_B = "hotel-b"
TOKENS = {
    HqRole.HQ_ADMIN: "test-admin-token-0123456789",
    HqRole.KEY_OFFICER: "test-officer-token-0123456789",
    HqRole.AUDITOR: "test-auditor-token-0123456789",
}
USERS = {HqRole.HQ_ADMIN: "ana", HqRole.KEY_OFFICER: "kofi", HqRole.AUDITOR: "aude"}
CHAIN_KEY_ID = "chain"
PSEUDONYM_SECRET = b"test pseudonym secret"

# Plaintexts that must never reach the cloud's storage in any form.
PREFERENCE = "no cilantro"
NAME = "Zhang Wei"
LOYALTY_ID = "GOLD-12345"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pseudonym_of(loyalty_id: str) -> str:
    digest = hmac.new(PSEUDONYM_SECRET, loyalty_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class KeyHolder:
    """What the edge and HQ's key officer hold: chain keys by version, guests' data keys."""

    chain_keys: dict[int, bytes] = field(default_factory=lambda: {1: os.urandom(32)})
    data_keys: dict[str, bytes] = field(default_factory=dict)
    counter: int = 0

    def data_key(self, pseudonym: str) -> bytes:
        return self.data_keys.setdefault(pseudonym, AESGCM.generate_key(bit_length=256))

    def wrapped_key(self, pseudonym: str, chain_version: int = 1) -> dict[str, Any]:
        wrapped = aes_key_wrap_with_padding(
            self.chain_keys[chain_version], self.data_key(pseudonym)
        )
        return {
            "pseudonym": pseudonym,
            "data_key_version": 1,
            "chain_key_id": CHAIN_KEY_ID,
            "chain_key_version": chain_version,
            "wrapped": b64(wrapped),
        }

    def seal(self, pseudonym: str, plaintext: dict[str, Any], property_id: str) -> dict[str, Any]:
        self.counter += 1
        obs_id = f"{self.counter:032x}"
        nonce = os.urandom(12)
        aad = f"{pseudonym}|{obs_id}|1".encode()
        sealed = AESGCM(self.data_key(pseudonym)).encrypt(
            nonce, json.dumps(plaintext).encode(), aad
        )
        return {
            "id": obs_id,
            "pseudonym": pseudonym,
            "property_id": property_id,
            "data_key_version": 1,
            "nonce": b64(nonce),
            "ciphertext": b64(sealed),
        }

    def open(self, wire: dict[str, Any], key: dict[str, Any]) -> dict[str, Any]:
        """Unwrap the data key with the chain key its version names, then decrypt."""
        data_key = aes_key_unwrap_with_padding(
            self.chain_keys[key["chain_key_version"]], base64.b64decode(key["wrapped"])
        )
        aad = f"{wire['pseudonym']}|{wire['id']}|{wire['data_key_version']}".encode()
        plain = AESGCM(data_key).decrypt(
            base64.b64decode(wire["nonce"]), base64.b64decode(wire["ciphertext"]), aad
        )
        result: dict[str, Any] = json.loads(plain)
        return result

    def seal_identity(self, pseudonym: str) -> dict[str, Any]:
        nonce = os.urandom(12)
        plain = json.dumps({"name": NAME, "loyalty_id": LOYALTY_ID}).encode()
        sealed = AESGCM(self.data_key(pseudonym)).encrypt(nonce, plain, pseudonym.encode())
        return {
            "pseudonym": pseudonym,
            "data_key_version": 1,
            "nonce": b64(nonce),
            "ciphertext": b64(sealed),
        }


@dataclass
class Cloud:
    """A running vault and a client per caller."""

    base: str
    engine: Engine
    gateway_a: httpx.Client
    gateway_b: httpx.Client
    admin: httpx.Client
    officer: httpx.Client
    auditor: httpx.Client
    gateway_a_id: str
    keys: KeyHolder = field(default_factory=KeyHolder)

    def enrol(self, pseudonym: str, client: httpx.Client | None = None) -> None:
        answer = (client or self.gateway_a).put(
            f"/v1/guests/{pseudonym}/key", json=self.keys.wrapped_key(pseudonym)
        )
        assert answer.status_code == 201, answer.text

    def push(
        self, observations: list[dict[str, Any]], client: httpx.Client | None = None
    ) -> httpx.Response:
        return (client or self.gateway_a).post(
            "/v1/observations", json={"observations": observations}
        )

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()


def http_client(base: str, **headers: str) -> httpx.Client:
    # A new connection per request: tests/fixtures/http_server.py binds its socket with
    # proto 0, so asyncio does not set TCP_NODELAY on accepted connections, and on a
    # kept-alive connection every response body then waits for the client's delayed ACK
    # (~40 ms a request). A fresh connection is ACKed at once (~2 ms a request).
    return httpx.Client(
        base_url=base,
        headers=headers,
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _settings(url: str) -> CloudSettings:
    return CloudSettings(
        database_url=url,
        gateway_token_cache_s=0,  # revocation is tested to take effect at once
        hq_principals=tuple(
            HqPrincipal(user=USERS[role], role=role, token=token) for role, token in TOKENS.items()
        ),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vault' / 'staysync.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def cloud(database_url: str, serve_app: ServeApp) -> Iterator[Cloud]:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with Database.of(engine).session() as session:
            gateway_a, token_a = issue_gateway_token(session, PROPERTY_A)
            _, token_b = issue_gateway_token(session, PROPERTY_B)
            session.commit()
        app = create_app(_settings(database_url))

        def client(base: str, token: str) -> httpx.Client:
            return http_client(base, Authorization=f"Bearer {token}", **{"X-Purpose": "sync"})

        with serve_app(app) as base:
            clients = [
                client(base, token)
                for token in (token_a, token_b, *(TOKENS[role] for role in HqRole))
            ]
            try:
                yield Cloud(
                    base,
                    engine,
                    gateway_a=clients[0],
                    gateway_b=clients[1],
                    admin=clients[2],
                    officer=clients[3],
                    auditor=clients[4],
                    gateway_a_id=gateway_a.id,
                )
            finally:
                for each in clients:
                    each.close()
    finally:
        engine.dispose()


# --- push, pull, paging ------------------------------------------------------------------


def test_push_is_idempotent_by_id_and_pages_follow_the_cursor(cloud: Cloud) -> None:
    guest = pseudonym_of("L-1")
    cloud.enrol(guest)
    sealed = [cloud.keys.seal(guest, {"n": i}, PROPERTY_A) for i in range(30)]

    first = cloud.push(sealed[:20])
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 20, "duplicates": 0}
    assert cloud.push(sealed[:20]).json() == {"accepted": 0, "duplicates": 20}  # replay
    overlap = cloud.push([*sealed[15:], sealed[29]])  # 5 old, 10 new, one twice in a batch
    assert overlap.json() == {"accepted": 10, "duplicates": 6}
    assert cloud.scalar("SELECT count(*) FROM observations") == 30

    # One guest's pages of 12, oldest first, by cursor.
    seen: list[dict[str, Any]] = []
    after, pages = 0, 0
    while True:
        page = cloud.gateway_b.get(
            f"/v1/guests/{guest}/observations", params={"after": after, "limit": 12}
        )
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body["observations"]
        after, pages = body["next_cursor"], pages + 1
        if not body["more"]:
            break
    assert pages == 3
    assert [obs["id"] for obs in seen] == [obs["id"] for obs in sealed]
    assert seen == sealed  # byte for byte what was pushed
    # Gateway B reads a guest that property A recorded: profiles follow guests.
    key = cloud.gateway_b.post("/v1/pull", json={"cursors": {guest: 0}}).json()["keys"][0]
    assert [cloud.keys.open(obs, key)["n"] for obs in seen] == list(range(30))

    # A cursor past the end: an empty page that keeps the cursor.
    tail = cloud.gateway_b.get(f"/v1/guests/{guest}/observations", params={"after": after})
    assert tail.json()["observations"] == []
    assert tail.json()["next_cursor"] == after


def test_pull_pages_many_guests_with_keys_and_unknown_guests(cloud: Cloud) -> None:
    guests = [pseudonym_of(f"L-{i}") for i in range(3)]
    for guest in guests:
        cloud.enrol(guest)
    for round_ in range(4):
        batch = [cloud.keys.seal(g, {"round": round_}, PROPERTY_A) for g in guests]
        assert cloud.push(batch).status_code == 200
    unknown = pseudonym_of("never-seen")

    cursors = {guests[0]: 0, guests[1]: 0, guests[2]: 0, unknown: 0}
    full = cloud.gateway_a.post("/v1/pull", json={"cursors": cursors})
    assert full.status_code == 200, full.text
    body = full.json()
    pages = {page["pseudonym"]: page for page in body["pages"]}
    assert set(pages) == set(cursors)
    assert all(len(pages[g]["observations"]) == 4 and not pages[g]["more"] for g in guests)
    assert pages[unknown]["observations"] == []
    assert pages[unknown]["next_cursor"] == 0
    assert sorted(k["pseudonym"] for k in body["keys"]) == sorted(guests)  # none for unknown
    assert body["erased"] == []

    # Incremental: from each guest's cursor only what is new.
    cursors = {g: pages[g]["next_cursor"] for g in guests}
    assert cloud.push([cloud.keys.seal(guests[1], {"round": 9}, PROPERTY_A)]).status_code == 200
    again = cloud.gateway_a.post("/v1/pull", json={"cursors": cursors}).json()
    news = {p["pseudonym"]: p["observations"] for p in again["pages"]}
    assert news[guests[0]] == []
    assert news[guests[2]] == []
    key = next(k for k in again["keys"] if k["pseudonym"] == guests[1])
    assert [cloud.keys.open(obs, key) for obs in news[guests[1]]] == [{"round": 9}]

    # A single guest (the fast path) pages the same way.
    one = cloud.gateway_a.post("/v1/pull", json={"cursors": {guests[1]: cursors[guests[1]]}})
    assert [o["id"] for o in one.json()["pages"][0]["observations"]] == [
        o["id"] for o in news[guests[1]]
    ]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_one_statement_reads_answer_as_the_generic_path(
    cloud: Cloud, database_url: str
) -> None:
    """`cloud.pgread` (PostgreSQL's pull and page, one statement in autocommit) against
    `cloud.vault` (the generic transaction) on the same rows: the same models, parsed by
    the wire's own `PullResponse`/`ObservationPage`, and the same audit rows."""
    guests = [pseudonym_of(f"E-{i}") for i in range(4)]
    for guest in guests:
        cloud.enrol(guest)
    # Guest 0 has a second data-key version; its keys come in version order.
    second = {**cloud.keys.wrapped_key(guests[0]), "data_key_version": 2}
    assert cloud.gateway_a.put(f"/v1/guests/{guests[0]}/key", json=second).status_code == 201
    batch = [cloud.keys.seal(g, {"n": n}, PROPERTY_A) for n in range(7) for g in guests]
    assert cloud.push(batch).status_code == 200
    assert cloud.admin.post(f"/v1/hq/guests/{guests[3]}/erase").status_code == 200
    unknown = pseudonym_of("E-unknown")

    reader = Principal(cloud.gateway_a_id, GATEWAY_ROLE, PROPERTY_A)
    database = Database.of(cloud.engine, autocommit=make_engine(database_url, autocommit=True))
    assert database.autocommit is not None
    at = datetime(2026, 3, 1, tzinfo=UTC)
    try:
        third = cloud.scalar("SELECT min(seq) FROM observations") + 2 * len(guests)
        requests = [
            ({guests[0]: 0, guests[1]: 0, guests[2]: 0, guests[3]: 0, unknown: 0}, 500, 20_000),
            # 4 live guests (the unknown one counts, the erased one not): 12 // 4 = 3 each.
            (
                {guests[0]: 0, guests[1]: third, guests[2]: 10**12, guests[3]: 0, unknown: 7},
                500,
                12,
            ),
            ({guests[1]: 0}, 4, 20_000),  # the page limit
            ({guests[3]: 2}, 500, 20_000),  # only an erased guest: a notice, no page
            ({}, 500, 20_000),
        ]
        for cursors, page_limit, max_observations in requests:
            limits = PullLimits(page_limit, max_observations)
            fast = pgread.pull(database.autocommit, reader, cursors, Purpose.SYNC, limits, at)
            with database.snapshots() as session:
                generic = vault.pull(
                    session, reader, PullRequest(cursors=cursors), Purpose.SYNC, limits, at
                )
                session.rollback()  # its audit rows are compared below, from the fast path
            assert PullResponse.model_validate_json(fast.json) == PullResponse.model_validate(
                generic.model_dump()
            ), cursors
            assert fast.served == len({k.pseudonym for k in generic.keys})

        for after, limit in ((0, 500), (0, 3), (third, 2), (10**12, 5)):
            fast_page = pgread.read_page(
                database.autocommit, reader, guests[1], after, limit, Purpose.SERVICE, at
            )
            with database.snapshots() as session:
                generic_page = vault.read_page(
                    session, reader, guests[1], after, limit, Purpose.SERVICE, at
                )
                session.rollback()
            assert ObservationPage.model_validate_json(fast_page) == generic_page
        with pytest.raises(NotFound):
            pgread.read_page(database.autocommit, reader, unknown, 0, 5, Purpose.SERVICE, at)
        with pytest.raises(GuestErased) as gone:
            pgread.read_page(database.autocommit, reader, guests[3], 0, 5, Purpose.SERVICE, at)
        assert gone.value.erased_key_version == 1

        # A connection the server dropped: that one call fails as SQLAlchemy's
        # OperationalError (the app's 503), the pool discards it, the next call works.
        raw = database.autocommit.raw_connection()
        pid = raw.cursor().execute("SELECT pg_backend_pid()").fetchone()[0]
        raw.close()
        assert cloud.scalar("SELECT pg_terminate_backend(:pid)", pid=pid) is True
        one = {guests[1]: 0}
        with pytest.raises(OperationalError):
            pgread.pull(database.autocommit, reader, one, Purpose.SYNC, limits, at)
        assert pgread.pull(database.autocommit, reader, one, Purpose.SYNC, limits, at).served == 1
    finally:
        database.autocommit.dispose()

    # One audit row per live, known guest served; none for unknown or erased guests.
    audited = cloud.scalar(
        "SELECT string_agg(action || ':' || pseudonym || ':' || purpose, ',' ORDER BY id) "
        "FROM audit_log WHERE at = :at",
        at=at,
    ).split(",")
    expected = [
        *(f"pull:{g}:sync" for g in sorted(guests[:3])),
        *(f"pull:{g}:sync" for g in sorted(guests[:3])),
        f"pull:{guests[1]}:sync",
        *[f"read_observations:{guests[1]}:service"] * 4,
        f"pull:{guests[1]}:sync",  # after the dropped connection
    ]
    assert audited == expected


# --- bad input ---------------------------------------------------------------------------


def test_batch_for_another_property_is_refused_whole(cloud: Cloud) -> None:
    guest = pseudonym_of("L-2")
    cloud.enrol(guest)
    own = cloud.keys.seal(guest, {"x": 1}, PROPERTY_A)
    foreign = cloud.keys.seal(guest, {"x": 2}, PROPERTY_B)
    answer = cloud.push([own, foreign])
    assert answer.status_code == 403
    assert foreign["id"] in answer.json()["detail"]
    assert PROPERTY_B in answer.json()["detail"]
    assert cloud.scalar("SELECT count(*) FROM observations") == 0  # not even the good one
    # The same batch is fine from B for B's observation only.
    assert cloud.push([foreign], cloud.gateway_b).json() == {"accepted": 1, "duplicates": 0}


def test_conflicts_ids_are_immutable_and_the_first_key_wins(cloud: Cloud) -> None:
    guest = pseudonym_of("L-3")
    cloud.enrol(guest)
    original = cloud.keys.seal(guest, {"v": 1}, PROPERTY_A)
    assert cloud.push([original]).status_code == 200
    forged = {**original, "ciphertext": b64(os.urandom(40))}
    answer = cloud.push([forged])
    assert answer.status_code == 409
    assert original["id"] in answer.json()["detail"]
    twice = cloud.keys.seal(guest, {"v": 2}, PROPERTY_A)
    in_batch = cloud.push([twice, {**twice, "nonce": b64(os.urandom(12))}])
    assert in_batch.status_code == 409
    assert twice["id"] in in_batch.json()["detail"]
    # Pushing before the guest's key is stored would leave unreadable rows: refused.
    newcomer = pseudonym_of("L-3b")
    early = cloud.push([cloud.keys.seal(newcomer, {"v": 1}, PROPERTY_A)])
    assert early.status_code == 409
    assert f"PUT /v1/guests/{newcomer}/key" in early.json()["detail"]

    # The first wrapped key of a guest wins.
    fresh = pseudonym_of("L-7")
    key = cloud.keys.wrapped_key(fresh)
    put = cloud.gateway_a.put
    assert put(f"/v1/guests/{fresh}/key", json=key).status_code == 201
    assert put(f"/v1/guests/{fresh}/key", json=key).status_code == 200  # replay
    # Another gateway made its own data key for the same new guest: it must use ours.
    rival = {
        **key,
        "wrapped": b64(aes_key_wrap_with_padding(cloud.keys.chain_keys[1], os.urandom(32))),
    }
    lost = cloud.gateway_b.put(f"/v1/guests/{fresh}/key", json=rival)
    assert lost.status_code == 409
    assert "first write wins" in lost.json()["detail"]
    second_version = {**key, "data_key_version": 2}
    assert put(f"/v1/guests/{fresh}/key", json=second_version).status_code == 201


def test_malformed_requests_get_422_naming_the_problem(cloud: Cloud) -> None:
    guest = pseudonym_of("L-4")
    cloud.enrol(guest)
    good = cloud.keys.seal(guest, {"v": 1}, PROPERTY_A)
    post = cloud.gateway_a.post

    def detail(answer: httpx.Response) -> str:
        assert answer.status_code == 422, answer.text
        message: str = answer.json()["detail"]
        return message

    not_json = post("/v1/observations", content=b"{", headers={"content-type": "application/json"})
    assert "JSON" in detail(not_json)
    missing = {k: v for k, v in good.items() if k != "ciphertext"}
    assert "observations.0.ciphertext" in detail(
        post("/v1/observations", json={"observations": [missing]})
    )
    assert "observations" in detail(post("/v1/observations", json={"observations": []}))
    too_many = {"observations": [good] * (MAX_BATCH + 1)}
    assert "observations" in detail(post("/v1/observations", json=too_many))
    extra = {"observations": [{**good, "plaintext": PREFERENCE}]}
    assert "observations.0.plaintext" in detail(post("/v1/observations", json=extra))
    bad_pseudonym = {"observations": [{**good, "pseudonym": "Zhang Wei"}]}
    assert "observations.0.pseudonym" in detail(post("/v1/observations", json=bad_pseudonym))
    short_nonce = {"observations": [{**good, "nonce": b64(b"12345")}]}
    assert f"observation {good['id']}: the nonce must be 12 bytes" in detail(
        post("/v1/observations", json=short_nonce)
    )
    assert "cursors" in detail(post("/v1/pull", json={"cursors": {"not-a-pseudonym": 0}}))
    unsaid = without_purpose(cloud.gateway_a, "POST", "/v1/pull", json={"cursors": {guest: 0}})
    assert "X-Purpose header" in detail(unsaid)
    wrong_purpose = post(
        "/v1/pull", json={"cursors": {guest: 0}}, headers={"X-Purpose": "rotation"}
    )
    assert "not a gateway's" in detail(wrong_purpose)
    unknown_purpose = post(
        "/v1/pull", json={"cursors": {guest: 0}}, headers={"X-Purpose": "curiosity"}
    )
    assert "x-purpose" in detail(unknown_purpose)
    other = pseudonym_of("L-4b")
    mismatch = cloud.gateway_a.put(f"/v1/guests/{other}/key", json=cloud.keys.wrapped_key(guest))
    assert f"sent to /v1/guests/{other}/key" in detail(mismatch)
    bad_wrap = {**cloud.keys.wrapped_key(other), "wrapped": b64(b"123456789")}
    assert "9 bytes: too short" in detail(
        cloud.gateway_a.put(f"/v1/guests/{other}/key", json=bad_wrap)
    )
    bad_path = cloud.gateway_a.get("/v1/guests/short/observations")
    assert "pseudonym" in detail(bad_path)
    huge = post(
        "/v1/observations",
        content=b"x" * (9 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413


# --- auth --------------------------------------------------------------------------------


def test_tokens_roles_and_revocation(cloud: Cloud) -> None:
    guest = pseudonym_of("L-5")
    anonymous = httpx.post(f"{cloud.base}/v1/pull", json={"cursors": {}}, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert "bearer token is required" in anonymous.json()["detail"]
    for token in ("nonsense", f"{cloud.gateway_a_id}.wrong-secret", TOKENS[HqRole.HQ_ADMIN] + "x"):
        answer = httpx.post(
            f"{cloud.base}/v1/pull",
            json={"cursors": {}},
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "sync"},
            timeout=10,
        )
        assert answer.status_code == 401, token

    # Each HQ endpoint admits one role; gateways none, and HQ tokens no gateway endpoint.
    erase = f"/v1/hq/guests/{guest}/erase"
    assert cloud.gateway_a.post(erase).status_code == 403
    denied = cloud.auditor.post(erase)
    assert denied.status_code == 403
    assert "hq_admin" in denied.json()["detail"]
    assert "aude" in denied.json()["detail"]
    assert cloud.officer.get("/v1/hq/audit").status_code == 403
    assert cloud.admin.get("/v1/hq/audit").status_code == 403
    assert (
        cloud.admin.post("/v1/hq/rotations", json={"from_version": 1, "to_version": 2}).status_code
        == 403
    )
    assert cloud.auditor.get("/v1/hq/audit").status_code == 200
    hq_on_gateway = cloud.admin.post("/v1/pull", json={"cursors": {}})
    assert hq_on_gateway.status_code == 403
    assert "serves gateways" in hq_on_gateway.json()["detail"]

    with Database.of(cloud.engine).session() as session:
        revoke_gateway(session, cloud.gateway_a_id)
        session.commit()
    revoked = cloud.gateway_a.post("/v1/pull", json={"cursors": {}})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
    # Only the hash of a token is stored.
    token = cloud.gateway_b.headers["authorization"].removeprefix("Bearer ")
    gateway_id, _, secret = token.partition(".")
    stored = cloud.scalar("SELECT token_hash FROM gateways WHERE id = :id", id=gateway_id)
    assert bytes(stored) == hashlib.sha256(secret.encode()).digest()


# --- erasure -----------------------------------------------------------------------------


def test_erasure_shreds_the_profile_and_tells_gateways(cloud: Cloud) -> None:
    guest, other = pseudonym_of(LOYALTY_ID), pseudonym_of("L-6")
    for g in (guest, other):
        cloud.enrol(g)
        assert cloud.push([cloud.keys.seal(g, {"pref": PREFERENCE}, PROPERTY_A)]).status_code == 200
    identity = cloud.keys.seal_identity(guest)
    assert cloud.gateway_a.put(f"/v1/guests/{guest}/identity", json=identity).status_code == 201
    assert cloud.gateway_b.get(f"/v1/guests/{guest}/identity").json() == identity

    receipt = cloud.admin.post(f"/v1/hq/guests/{guest}/erase")
    assert receipt.status_code == 200, receipt.text
    body = receipt.json()
    assert body["keys_destroyed"] == 1
    assert body["observations_deleted"] == 1
    assert body["identity_deleted"] is True
    assert body["already_erased"] is False

    gone = cloud.gateway_b.get(f"/v1/guests/{guest}/observations")
    assert gone.status_code == 410
    assert gone.json()["erased_at"] == body["erased_at"].replace("Z", "+00:00")
    assert gone.json()["erased_key_version"] == 1  # a new profile would start at 2
    assert cloud.gateway_b.get(f"/v1/guests/{guest}/identity").status_code == 410
    pulled = cloud.gateway_b.post("/v1/pull", json={"cursors": {guest: 5, other: 0}}).json()
    assert [n["pseudonym"] for n in pulled["erased"]] == [guest]
    assert [p["pseudonym"] for p in pulled["pages"]] == [other]
    assert [k["pseudonym"] for k in pulled["keys"]] == [other]
    # A gateway that has not synced yet can neither push nor re-key the guest.
    assert cloud.push([cloud.keys.seal(guest, {"late": 1}, PROPERTY_A)]).status_code == 410
    rekey = cloud.gateway_a.put(f"/v1/guests/{guest}/key", json=cloud.keys.wrapped_key(guest))
    assert rekey.status_code == 410
    assert cloud.gateway_a.put(f"/v1/guests/{guest}/identity", json=identity).status_code == 410

    for table in ("observations", "wrapped_keys", "identities"):
        assert cloud.scalar(f"SELECT count(*) FROM {table} WHERE pseudonym = :p", p=guest) == 0
    assert cloud.scalar("SELECT count(*) FROM observations WHERE pseudonym = :p", p=other) == 1
    again = cloud.admin.post(f"/v1/hq/guests/{guest}/erase").json()
    assert again["already_erased"] is True
    assert again["erased_at"] == body["erased_at"]
    # A pseudonym the vault never saw is tombstoned, so no gateway can bring it back.
    stranger = pseudonym_of("L-never")
    assert cloud.admin.post(f"/v1/hq/guests/{stranger}/erase").status_code == 200
    assert (
        cloud.gateway_a.put(
            f"/v1/guests/{stranger}/key", json=cloud.keys.wrapped_key(stranger)
        ).status_code
        == 410
    )


def test_an_erased_guest_who_enrols_again_starts_a_new_profile(cloud: Cloud) -> None:
    """Crypto-shredding is for good: the old profile stays unreadable and refused. A
    returning guest is enrolled again under a newer data-key version: a new profile."""
    guest = pseudonym_of("R-1")
    cloud.enrol(guest)
    old = [cloud.keys.seal(guest, {"pref": PREFERENCE}, PROPERTY_A) for _ in range(2)]
    assert cloud.push(old[:1]).status_code == 200
    erased = cloud.admin.post(f"/v1/hq/guests/{guest}/erase").json()
    assert erased["erased_key_version"] == 1

    # A gateway that still holds the old profile: its key and data are refused.
    stale_key = cloud.keys.wrapped_key(guest)
    stale = cloud.gateway_a.put(f"/v1/guests/{guest}/key", json=stale_key)
    assert stale.status_code == 410
    assert stale.json()["erased_key_version"] == 1
    assert "version 2 or later" in stale.json()["detail"]

    # The guest comes back: a new data key, of version 2.
    cloud.keys.data_keys.pop(guest)
    new_key = {**cloud.keys.wrapped_key(guest), "data_key_version": 2}
    enrolled = cloud.gateway_b.put(f"/v1/guests/{guest}/key", json=new_key)
    assert enrolled.status_code == 201, enrolled.text
    assert cloud.gateway_b.put(f"/v1/guests/{guest}/key", json=new_key).status_code == 200

    pulled = cloud.gateway_a.post("/v1/pull", json={"cursors": {guest: 0}}).json()
    # Still a notice, with the erased version: a gateway that was away purges the old
    # profile (version 1) and keeps the new one.
    assert [(n["pseudonym"], n["erased_key_version"]) for n in pulled["erased"]] == [(guest, 1)]
    assert pulled["keys"] == [new_key]
    assert pulled["pages"][0]["observations"] == []  # nothing of the old profile
    fresh = {**cloud.keys.seal(guest, {"pref": "window seat"}, PROPERTY_B), "data_key_version": 2}
    assert cloud.push([fresh], cloud.gateway_b).json() == {"accepted": 1, "duplicates": 0}
    page = cloud.gateway_a.get(f"/v1/guests/{guest}/observations").json()
    assert [o["id"] for o in page["observations"]] == [fresh["id"]]

    # The old profile stays refused after the re-enrolment: its key, its observations
    # (new or replayed), its identity.
    assert cloud.gateway_a.put(f"/v1/guests/{guest}/key", json=stale_key).status_code == 410
    assert cloud.push(old[1:]).status_code == 410
    assert cloud.push(old[:1]).status_code == 410
    identity = cloud.keys.seal_identity(guest)
    assert cloud.gateway_a.put(f"/v1/guests/{guest}/identity", json=identity).status_code == 410
    identity["data_key_version"] = 2
    assert cloud.gateway_b.put(f"/v1/guests/{guest}/identity", json=identity).status_code == 201

    # Erased again: everything up to version 2 is gone; a third profile starts at 3.
    second = cloud.admin.post(f"/v1/hq/guests/{guest}/erase").json()
    assert second["already_erased"] is False
    assert second["erased_key_version"] == 2
    assert (second["keys_destroyed"], second["observations_deleted"]) == (1, 1)
    assert cloud.gateway_b.put(f"/v1/guests/{guest}/key", json=new_key).status_code == 410
    third = {**new_key, "data_key_version": 3}
    assert cloud.gateway_b.put(f"/v1/guests/{guest}/key", json=third).status_code == 201

    # A pseudonym erased before the vault ever saw it: version 1 (what any gateway still
    # holding it would have) is refused, a new profile starts at 2.
    stranger = pseudonym_of("R-never")
    assert cloud.admin.post(f"/v1/hq/guests/{stranger}/erase").json()["erased_key_version"] == 1
    first = cloud.keys.wrapped_key(stranger)
    assert cloud.gateway_a.put(f"/v1/guests/{stranger}/key", json=first).status_code == 410
    again = {**first, "data_key_version": 2}
    assert cloud.gateway_a.put(f"/v1/guests/{stranger}/key", json=again).status_code == 201

    trail = cloud.auditor.get("/v1/hq/audit", params={"pseudonym": guest}).json()["entries"]
    assert [(e["action"], e["purpose"]) for e in trail if e["action"] != "pull"] == [
        ("erase", "erasure"),
        ("reenrol", "enrolment"),
        ("read_observations", "sync"),
        ("erase", "erasure"),
        ("reenrol", "enrolment"),
    ]


# --- rotation ----------------------------------------------------------------------------


def _watch_observation_writes(engine: Engine) -> None:
    """Record every UPDATE or DELETE of an observation row in a side table."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE obs_touched (seq BIGINT, op TEXT)"))
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION obs_touched_fn() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN INSERT INTO obs_touched VALUES (OLD.seq, TG_OP); RETURN NULL; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER obs_touched AFTER UPDATE OR DELETE ON observations "
                    "FOR EACH ROW EXECUTE FUNCTION obs_touched_fn()"
                )
            )
        else:
            for op in ("UPDATE", "DELETE"):
                connection.execute(
                    text(
                        f"CREATE TRIGGER obs_touched_{op.lower()} AFTER {op} ON observations "
                        f"BEGIN INSERT INTO obs_touched VALUES (old.seq, '{op}'); END"
                    )
                )


def _row_versions(engine: Engine) -> dict[int, Any]:
    """PostgreSQL: each observation row's xmin (it changes whenever a row is rewritten)."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT seq, xmin::text, ctid::text FROM observations"))
        return {row.seq: (row.xmin, row.ctid) for row in rows}


def test_rotation_rewraps_every_key_and_rewrites_no_observation(cloud: Cloud) -> None:
    guests = [pseudonym_of(f"R-{i}") for i in range(25)]
    for guest in guests:
        cloud.enrol(guest)
    assert cloud.push(
        [cloud.keys.seal(g, {"i": i, "pref": PREFERENCE}, PROPERTY_A) for i, g in enumerate(guests)]
        + [cloud.keys.seal(g, {"i": i, "second": True}, PROPERTY_A) for i, g in enumerate(guests)]
    ).json() == {"accepted": 50, "duplicates": 0}
    _watch_observation_writes(cloud.engine)
    postgres = cloud.engine.dialect.name == "postgresql"
    versions_before = _row_versions(cloud.engine) if postgres else {}
    stored_before = cloud.scalar("SELECT count(*) FROM observations")

    officer = cloud.officer
    assert officer.get("/v1/hq/rotations/current").status_code == 404
    started = officer.post("/v1/hq/rotations", json={"from_version": 1, "to_version": 2})
    assert started.status_code == 201, started.text
    assert started.json()["total_keys"] == 25
    assert started.json()["remaining"] == 25
    twice = officer.post("/v1/hq/rotations", json={"from_version": 1, "to_version": 2})
    assert twice.status_code == 409
    assert "finish it first" in twice.json()["detail"]
    early = officer.post("/v1/hq/rotations/current/finish")
    assert early.status_code == 409
    assert "25 wrapped key(s)" in early.json()["detail"]
    cloud.keys.chain_keys[2] = os.urandom(32)  # only the key holders ever see it

    def rewrap(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for key in page:
            data_key = aes_key_unwrap_with_padding(
                cloud.keys.chain_keys[1], base64.b64decode(key["wrapped"])
            )
            wrapped = aes_key_wrap_with_padding(cloud.keys.chain_keys[2], data_key)
            out.append({**key, "chain_key_version": 2, "wrapped": b64(wrapped)})
        return out

    # First batch of 10, then the run is "interrupted".
    first = officer.get("/v1/hq/rotations/current/keys", params={"limit": 10}).json()
    assert len(first["keys"]) == 10
    assert first["more"] is True
    progress = officer.put("/v1/hq/rotations/current/keys", json={"keys": rewrap(first["keys"])})
    assert progress.status_code == 200, progress.text
    assert progress.json()["rewrapped"] == 10
    assert progress.json()["remaining"] == 15
    replay = officer.put("/v1/hq/rotations/current/keys", json={"keys": rewrap(first["keys"])})
    assert replay.json()["rewrapped"] == 10  # idempotent
    # Wrapped again after a lost answer: with a randomized wrap (shared.crypto's AES-GCM)
    # the bytes differ; the first stored wins and nothing is counted twice.
    stored = cloud.scalar(
        "SELECT wrapped FROM wrapped_keys WHERE id = :id", id=first["next_cursor"]
    )
    other_bytes = [{**key, "wrapped": b64(os.urandom(40))} for key in rewrap(first["keys"])]
    again = officer.put("/v1/hq/rotations/current/keys", json={"keys": other_bytes})
    assert again.json()["rewrapped"] == 10
    assert (
        cloud.scalar("SELECT wrapped FROM wrapped_keys WHERE id = :id", id=first["next_cursor"])
        == stored
    )

    # Meanwhile: a gateway still on version 1 enrols a guest (it joins the listing), one
    # already on version 2 enrols another, HQ erases a guest, and a gateway re-wraps one.
    late_old, late_new = pseudonym_of("R-late-1"), pseudonym_of("R-late-2")
    cloud.enrol(late_old)
    assert (
        cloud.gateway_a.put(
            f"/v1/guests/{late_new}/key", json=cloud.keys.wrapped_key(late_new, chain_version=2)
        ).status_code
        == 201
    )
    erased = guests[20]
    assert cloud.admin.post(f"/v1/hq/guests/{erased}/erase").status_code == 200
    by_gateway = rewrap([cloud.keys.wrapped_key(guests[19])])[0]
    assert cloud.gateway_b.put(f"/v1/guests/{guests[19]}/key", json=by_gateway).status_code == 200

    # Resume: list from the start again; re-wrapped keys have left the listing.
    after, rest = 0, []
    while True:
        page = officer.get(
            "/v1/hq/rotations/current/keys", params={"after": after, "limit": 4}
        ).json()
        rest += page["keys"]
        after = page["next_cursor"]
        if not page["more"]:
            break
    listed = {k["pseudonym"] for k in rest}
    assert listed == (set(guests[10:]) - {erased, guests[19]}) | {late_old}
    stale_erased = rewrap([cloud.keys.wrapped_key(erased)])  # erased meanwhile: dropped
    for start in range(0, len(rest), 7):
        put = officer.put(
            "/v1/hq/rotations/current/keys",
            json={"keys": rewrap(rest[start : start + 7]) + stale_erased},
        )
        assert put.status_code == 200, put.text
    wrong_version = officer.put(
        "/v1/hq/rotations/current/keys", json={"keys": [cloud.keys.wrapped_key(guests[0])]}
    )
    assert wrong_version.status_code == 422
    assert "re-wraps to 2" in wrong_version.json()["detail"]
    done = officer.post("/v1/hq/rotations/current/finish")
    assert done.status_code == 200, done.text
    assert done.json()["finished_at"] is not None
    assert done.json()["rewrapped"] == 10 + 1 + len(rest)

    # Version 1 is retired: a key wrapped under it is refused now.
    newcomer = pseudonym_of("R-after")
    retired = cloud.gateway_a.put(
        f"/v1/guests/{newcomer}/key", json=cloud.keys.wrapped_key(newcomer, chain_version=1)
    )
    assert retired.status_code == 409
    assert "chain-key version 1 is not in use" in retired.json()["detail"]
    next_from_old = officer.post("/v1/hq/rotations", json={"from_version": 1, "to_version": 3})
    assert next_from_old.status_code == 409

    # Every profile still reads, with the new chain key only.
    del cloud.keys.chain_keys[1]
    live = [g for g in guests if g != erased]
    pulled = cloud.gateway_b.post("/v1/pull", json={"cursors": dict.fromkeys(live, 0)}).json()
    keys = {k["pseudonym"]: k for k in pulled["keys"]}
    assert {k["chain_key_version"] for k in keys.values()} == {2}
    for page in pulled["pages"]:
        opened = [cloud.keys.open(obs, keys[page["pseudonym"]]) for obs in page["observations"]]
        i = guests.index(page["pseudonym"])
        assert opened == [{"i": i, "pref": PREFERENCE}, {"i": i, "second": True}]

    # No observation row was rewritten: the only writes are the erased guest's deletes.
    with cloud.engine.connect() as connection:
        touched = connection.execute(text("SELECT op, count(*) FROM obs_touched GROUP BY op"))
        assert {row.op: row[1] for row in touched} == {"DELETE": 2}
    assert cloud.scalar("SELECT count(*) FROM observations") == stored_before - 2
    if postgres:
        after_versions = _row_versions(cloud.engine)
        assert after_versions == {
            seq: version for seq, version in versions_before.items() if seq in after_versions
        }


# --- audit -------------------------------------------------------------------------------


def test_every_profile_access_is_audited(cloud: Cloud) -> None:
    guest, other = pseudonym_of("A-1"), pseudonym_of("A-2")
    for g in (guest, other):
        cloud.enrol(g)
        cloud.push([cloud.keys.seal(g, {"a": 1}, PROPERTY_A)])
    start = datetime.now(UTC)
    assert cloud.auditor.get("/v1/hq/audit").json()["entries"] == []  # writes are not reads
    cloud.gateway_a.put(f"/v1/guests/{guest}/identity", json=cloud.keys.seal_identity(guest))

    cloud.gateway_b.post(
        "/v1/pull", json={"cursors": {guest: 0, other: 0}}, headers={"X-Purpose": "arrival"}
    )
    without_purpose(
        cloud.gateway_a, "GET", f"/v1/guests/{guest}/observations", params={"purpose": "service"}
    )
    cloud.gateway_a.get(f"/v1/guests/{guest}/identity", headers={"X-Purpose": "service"})
    cloud.officer.post("/v1/hq/rotations", json={"from_version": 1, "to_version": 2})
    cloud.officer.get("/v1/hq/rotations/current/keys")
    cloud.admin.post(f"/v1/hq/guests/{guest}/erase")
    refused = cloud.gateway_a.get(f"/v1/guests/{guest}/observations")  # 410: nothing served
    assert refused.status_code == 410

    mine = cloud.auditor.get("/v1/hq/audit", params={"pseudonym": guest}).json()
    rows = [(e["actor"], e["role"], e["purpose"], e["action"]) for e in mine["entries"]]
    gateway_b_id = next(e["actor"] for e in mine["entries"] if e["action"] == "pull")
    assert gateway_b_id.startswith("gw_")
    assert gateway_b_id != cloud.gateway_a_id
    assert rows == [
        (gateway_b_id, "gateway", "arrival", "pull"),
        (cloud.gateway_a_id, "gateway", "service", "read_observations"),
        (cloud.gateway_a_id, "gateway", "service", "read_identity"),
        ("kofi", "key_officer", "rotation", "read_key"),
        ("ana", "hq_admin", "erasure", "erase"),
    ]
    assert all(datetime.fromisoformat(e["at"]) >= start for e in mine["entries"])

    # Paging and the since filter over everyone's rows.
    everyone: list[dict[str, Any]] = []
    after = 0
    while True:
        page = cloud.auditor.get("/v1/hq/audit", params={"after": after, "limit": 2}).json()
        everyone += page["entries"]
        after = page["next_cursor"]
        if not page["more"]:
            break
    assert len(everyone) == 5 + 2  # the other guest: its pull and its rotation listing
    assert [e["id"] for e in everyone] == sorted(e["id"] for e in everyone)
    last = datetime.fromisoformat(everyone[-1]["at"])
    recent = cloud.auditor.get(
        "/v1/hq/audit", params={"since": (last + timedelta(microseconds=1)).isoformat()}
    )
    assert recent.status_code == 200
    assert recent.json()["entries"] == []
    naive = cloud.auditor.get("/v1/hq/audit", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert "no UTC offset" in naive.json()["detail"]


# --- storage holds no plaintext ----------------------------------------------------------


def without_purpose(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request without the client's default X-Purpose header."""
    request = client.build_request(method, url, **kwargs)
    del request.headers["x-purpose"]
    return client.send(request)


def _pg_dump(cluster: PostgresCluster, url: str) -> bytes:
    dbname = url.rsplit("/", 1)[1]
    command = [
        str(cluster.bindir / "pg_dump"),
        "-h", cluster.host, "-p", str(cluster.port), "-U", cluster.user, "-d", dbname,
    ]  # fmt: skip
    if os.geteuid() == 0:
        command = ["runuser", "-u", SYSTEM_USER, "--", *command]
    return subprocess.run(command, cwd="/", capture_output=True, check=True, timeout=60).stdout


def _sqlite_bytes(cloud: Cloud) -> bytes:
    """Everything the SQLite database holds: its file, the WAL and the shared memory."""
    database = cloud.engine.url.database
    assert database is not None
    path = Path(database)
    return b"".join(each.read_bytes() for each in sorted(path.parent.glob(path.name + "*")))


def test_storage_holds_no_plaintext(
    cloud: Cloud, database_url: str, request: pytest.FixtureRequest
) -> None:
    guest = pseudonym_of(LOYALTY_ID)
    cloud.enrol(guest)
    sealed = [
        cloud.keys.seal(guest, {"key": "food.avoid", "value": PREFERENCE}, PROPERTY_A),
        cloud.keys.seal(guest, {"key": "guest.name", "value": NAME}, PROPERTY_A),
        cloud.keys.seal(guest, {"key": "loyalty", "value": LOYALTY_ID}, PROPERTY_A),
    ]
    assert cloud.push(sealed).status_code == 200
    assert (
        cloud.gateway_a.put(
            f"/v1/guests/{guest}/identity", json=cloud.keys.seal_identity(guest)
        ).status_code
        == 201
    )
    cloud.gateway_b.post("/v1/pull", json={"cursors": {guest: 0}})  # an audit row too

    if cloud.engine.dialect.name == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        stored = _pg_dump(cluster, database_url)
    else:
        stored = _sqlite_bytes(cloud)
    # The grep would see them: the pseudonym is there, and so is the ciphertext (raw in
    # SQLite's file, hex in pg_dump's bytea).
    assert guest.encode() in stored
    ciphertext = base64.b64decode(sealed[0]["ciphertext"])
    assert ciphertext in stored or ciphertext.hex().encode() in stored
    for plaintext in (PREFERENCE, NAME, LOYALTY_ID):
        raw = plaintext.encode()
        for form in (raw, raw.lower(), raw.hex().encode(), base64.b64encode(raw)):
            assert form not in stored, f"{plaintext!r} is stored ({form!r})"


# --- outages and concurrency -------------------------------------------------------------


def test_an_outage_loses_and_duplicates_nothing(
    cloud: Cloud, database_url: str, serve_app: ServeApp
) -> None:
    """A gateway's outbox keeps each batch until it gets an answer, and sends it again
    after an outage: whatever the cloud stored before it went down is then a no-op."""
    guest = pseudonym_of("O-1")
    cloud.enrol(guest)
    sealed = [cloud.keys.seal(guest, {"i": i}, PROPERTY_A) for i in range(40)]
    token = cloud.gateway_a.headers["authorization"]
    outbox = [sealed[i : i + 10] for i in range(0, 40, 10)]

    with (
        serve_app(create_app(_settings(database_url))) as base,
        http_client(base, Authorization=token) as gateway,
    ):
        assert gateway.post("/v1/observations", json={"observations": outbox[0]}).status_code == 200
        # Stored, but the answer is lost on the way back: the outbox still holds it.
        assert gateway.post("/v1/observations", json={"observations": outbox[1]}).status_code == 200
    with pytest.raises(httpx.ConnectError):  # the cloud is down
        httpx.post(f"{base}/v1/observations", json={"observations": outbox[2]}, timeout=5)

    # Back up (a fresh instance on the same database): the outbox is sent again, whole.
    with (
        serve_app(create_app(_settings(database_url))) as base,
        http_client(base, Authorization=token) as gateway,
    ):
        results = [
            gateway.post("/v1/observations", json={"observations": batch}).json()
            for batch in outbox[1:]
        ]
        page = gateway.get(f"/v1/guests/{guest}/observations", headers={"X-Purpose": "sync"})
    assert results == [
        {"accepted": 0, "duplicates": 10},
        {"accepted": 10, "duplicates": 0},
        {"accepted": 10, "duplicates": 0},
    ]
    assert [obs["id"] for obs in page.json()["observations"]] == [obs["id"] for obs in sealed]
    assert cloud.scalar("SELECT count(*) FROM observations") == 40
    assert cloud.scalar("SELECT count(DISTINCT id) FROM observations") == 40


def test_concurrent_overlapping_pushes_store_each_observation_once(cloud: Cloud) -> None:
    guests = [pseudonym_of(f"C-{i}") for i in range(4)]
    for guest in guests:
        cloud.enrol(guest)
    sealed = [cloud.keys.seal(guests[i % 4], {"i": i}, PROPERTY_A) for i in range(200)]
    # Four workers push overlapping windows of the same outbox at the same time.
    windows = [sealed[i * 40 : i * 40 + 80] for i in range(4)]
    results: list[dict[str, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(batch: list[dict[str, Any]]) -> None:
        with http_client(cloud.base, **dict(cloud.gateway_a.headers)) as client:
            for start in range(0, len(batch), 20):
                answer = client.post(
                    "/v1/observations", json={"observations": batch[start : start + 20]}
                )
                with lock:
                    if answer.status_code == 200:
                        results.append(answer.json())
                    else:
                        errors.append(answer.text)

    threads = [threading.Thread(target=worker, args=(w,)) for w in windows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r["accepted"] for r in results) == 200
    assert sum(r["accepted"] + r["duplicates"] for r in results) == 320
    assert cloud.scalar("SELECT count(*) FROM observations") == 200
    # Each guest's cursor order is the order a reader sees: nothing sorts before a cursor.
    for guest in guests:
        page = cloud.gateway_a.get(f"/v1/guests/{guest}/observations").json()
        assert len(page["observations"]) == 50


# --- health, metrics, schema -------------------------------------------------------------


def test_health_and_metrics(cloud: Cloud) -> None:
    health = httpx.get(f"{cloud.base}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["database"] == cloud.engine.dialect.name
    guest = pseudonym_of("M-1")
    cloud.enrol(guest)
    cloud.push([cloud.keys.seal(guest, {}, PROPERTY_A)])
    cloud.push([cloud.keys.seal(guest, {}, PROPERTY_B)])  # 403
    metrics = httpx.get(f"{cloud.base}/metrics", timeout=10).text
    assert 'staysync_cloud_observations_pushed_total{result="accepted"} 1.0' in metrics
    assert (
        'staysync_cloud_responses_total{method="POST",route="/v1/observations",status="403"} 1.0'
        in metrics
    )
    assert (
        'staysync_cloud_request_seconds_count{method="PUT",route="/v1/guests/{pseudonym}/key"} 1.0'
        in metrics
    )


def test_migrations_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from cloud.db import check_schema, schema_revision
    from cloud.errors import SchemaOutOfDate
    from cloud.models import Base

    engine = make_engine(database_url)
    try:
        with pytest.raises(SchemaOutOfDate, match="staysync cloud migrate"):
            check_schema(engine)
        migrate(engine, "0001")
        with engine.begin() as connection:  # a guest erased before revision 0002
            connection.execute(
                text(
                    "INSERT INTO guests (pseudonym, created_at, erased_at) VALUES ('old', :at, :at)"
                ),
                {"at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        migrate(engine)
        migrate(engine)  # at head: nothing to do
        assert schema_revision(engine) == "0002"
        with engine.connect() as connection:
            erased = connection.execute(
                text("SELECT erased_key_version, last_erased_at IS NOT NULL FROM guests")
            ).one()
        assert tuple(erased) == (1, True)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
