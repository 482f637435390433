"""Dependencies shared by the routes: database sessions, the caller, the declared purpose."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from cloud.audit import GATEWAY_PURPOSES, Purpose
from cloud.auth import GatewayTokenCache, HqDirectory, Principal, authenticate_gateway
from cloud.db import Database
from cloud.errors import InvalidRequest, NotAuthenticated, NotPermitted
from cloud.metrics import CloudMetrics
from cloud.settings import CloudSettings, HqRole
from cloud.vault import PullLimits
from shared.sync import Pseudonym

__all__ = [
    "PSEUDONYM_PATTERN",
    "Auditor",
    "DatabaseDep",
    "GatewayDep",
    "GatewayPurpose",
    "GatewayRead",
    "GatewayReadDep",
    "HqAdmin",
    "KeyOfficer",
    "LimitsDep",
    "MetricsDep",
    "PseudonymPath",
    "SessionDep",
    "SettingsDep",
    "SnapshotDep",
]

_bearer = HTTPBearer(auto_error=False)
# One source for the pattern: shared.sync.
PSEUDONYM_PATTERN: str = typing.get_args(Pseudonym)[1].pattern

PseudonymPath = Annotated[
    str, Path(pattern=PSEUDONYM_PATTERN, description="the guest's pseudonym (43 base64url)")
]


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in
# its thread pool, and a request would pay a thread hand-off for each one.
async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_settings(request: Request) -> CloudSettings:
    settings: CloudSettings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> CloudMetrics:
    metrics: CloudMetrics = request.app.state.metrics
    return metrics


async def get_hq(request: Request) -> HqDirectory:
    hq: HqDirectory = request.app.state.hq
    return hq


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[CloudSettings, Depends(get_settings)]
MetricsDep = Annotated[CloudMetrics, Depends(get_metrics)]
HqDep = Annotated[HqDirectory, Depends(get_hq)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _scope(sessions: sessionmaker[Session]) -> AsyncIterator[Session]:
    # Async, so a request does not hop threads to open and close its session: opening
    # does no I/O, nor does closing once the route committed (the connection is already
    # back in the pool). Only an uncommitted session (a failed request) needs a
    # rollback, a round trip, which goes to the thread pool.
    session = sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for writes (READ COMMITTED on PostgreSQL); the route commits."""
    database: Database = request.app.state.database
    async for session in _scope(database.sessions):
        yield session


async def get_snapshot(request: Request) -> AsyncIterator[Session]:
    """A session for reads: one snapshot for the whole request on PostgreSQL."""
    database: Database = request.app.state.database
    async for session in _scope(database.snapshots):
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SnapshotDep = Annotated[Session, Depends(get_snapshot)]


async def get_limits(request: Request) -> PullLimits:
    settings: CloudSettings = request.app.state.settings
    return PullLimits(settings.pull_page_limit, settings.pull_max_observations)


LimitsDep = Annotated[PullLimits, Depends(get_limits)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("a bearer token is required (Authorization: Bearer <token>)")
    return credentials.credentials


def _lookup_gateway(database: Database, token: str) -> Principal | None:
    with database.sessions() as session:
        return authenticate_gateway(session, token)


async def get_gateway(request: Request, credentials: Credentials) -> Principal:
    """The calling gateway. Async: a token verified recently is answered from the cache
    without a database round trip or a thread hand-off; a new one is looked up in the
    thread pool."""
    token = _token(credentials)
    staff = request.app.state.hq.lookup(token)
    if staff is not None:
        raise NotPermitted(
            f"this endpoint serves gateways; {staff.actor} holds an HQ token ({staff.role})"
        )
    cache: GatewayTokenCache = request.app.state.gateway_tokens
    gateway = cache.get(token)
    if gateway is None:
        gateway = await run_in_threadpool(_lookup_gateway, request.app.state.database, token)
        if gateway is None:
            raise NotAuthenticated("unknown gateway token")
        cache.put(token, gateway)
    return gateway


GatewayDep = Annotated[Principal, Depends(get_gateway)]


def _hq_dependency(role: HqRole) -> Callable[..., Principal]:
    def dependency(credentials: Credentials, hq: HqDep, database: DatabaseDep) -> Principal:
        token = _token(credentials)
        staff = hq.lookup(token)
        if staff is None:
            with database.sessions() as session:
                if authenticate_gateway(session, token) is not None:
                    raise NotPermitted("gateway tokens cannot use HQ endpoints")
            raise NotAuthenticated("unknown HQ token")
        if staff.role != role:
            raise NotPermitted(
                f"this endpoint needs the {role.value} role; {staff.actor} has {staff.role}"
            )
        return staff

    return dependency


HqAdmin = Annotated[Principal, Depends(_hq_dependency(HqRole.HQ_ADMIN))]
KeyOfficer = Annotated[Principal, Depends(_hq_dependency(HqRole.KEY_OFFICER))]
Auditor = Annotated[Principal, Depends(_hq_dependency(HqRole.AUDITOR))]


async def get_gateway_purpose(
    x_purpose: Annotated[Purpose | None, Header(description="why the profile is read")] = None,
    purpose: Annotated[Purpose | None, Query(description="instead of X-Purpose")] = None,
) -> Purpose:
    chosen = x_purpose or purpose
    allowed = ", ".join(sorted(GATEWAY_PURPOSES))
    if chosen is None:
        raise InvalidRequest(
            f"say why the profile is read: an X-Purpose header (or ?purpose=) of {allowed}"
        )
    if chosen not in GATEWAY_PURPOSES:
        raise InvalidRequest(f"purpose {chosen.value!r} is not a gateway's; use one of {allowed}")
    return chosen


GatewayPurpose = Annotated[Purpose, Depends(get_gateway_purpose)]


@dataclass(frozen=True, slots=True)
class GatewayRead:
    """Everything a gateway's profile read needs, from one dependency: the hot read
    routes take this instead of five, fewer for FastAPI to solve on every request. The
    checks are the same: the token first (401/403), then the purpose."""

    gateway: Principal
    purpose: Purpose
    database: Database
    limits: PullLimits
    metrics: CloudMetrics


async def get_gateway_read(
    request: Request,
    credentials: Credentials,
    x_purpose: Annotated[Purpose | None, Header(description="why the profile is read")] = None,
    purpose: Annotated[Purpose | None, Query(description="instead of X-Purpose")] = None,
) -> GatewayRead:
    gateway = await get_gateway(request, credentials)
    chosen = await get_gateway_purpose(x_purpose, purpose)
    state = request.app.state
    settings: CloudSettings = state.settings
    return GatewayRead(
        gateway=gateway,
        purpose=chosen,
        database=state.database,
        limits=PullLimits(settings.pull_page_limit, settings.pull_max_observations),
        metrics=state.metrics,
    )


GatewayReadDep = Annotated[GatewayRead, Depends(get_gateway_read)]
