"""What gateways do: push observations, pull profiles, read a guest, keep identities."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from cloud import pgread, vault
from cloud.api.deps import (
    GatewayDep,
    GatewayPurpose,
    GatewayRead,
    GatewayReadDep,
    MetricsDep,
    PseudonymPath,
    SessionDep,
    SnapshotDep,
)
from cloud.sqltypes import utcnow
from shared.sync import (
    ObservationPage,
    PullRequest,
    PullResponse,
    PushResult,
    SealedIdentity,
    SealedObservationBatch,
)

router = APIRouter(prefix="/v1", tags=["sync"])

_ERASED: dict[int | str, dict[str, Any]] = {
    410: {"description": "the guest was erased: purge the cached copy"}
}


@router.post(
    "/observations",
    responses={
        403: {"description": "an observation of another property"},
        409: {"description": "an id stored with other content, or no wrapped key yet"},
        **_ERASED,
    },
)
def push_observations(
    batch: SealedObservationBatch,
    gateway: GatewayDep,
    session: SessionDep,
    metrics: MetricsDep,
) -> PushResult:
    """Store a batch; observations already stored (by id) are counted, not stored again."""
    result = vault.push(session, gateway, batch, utcnow())
    session.commit()
    metrics.observations.labels("accepted").inc(result.accepted)
    metrics.observations.labels("duplicate").inc(result.duplicates)
    return result


def _pull(read: GatewayRead, request: PullRequest) -> tuple[bytes, int]:
    """The serialized `PullResponse` and the number of guests served."""
    if read.database.autocommit is not None:  # PostgreSQL: one statement
        body = pgread.pull(
            read.database.autocommit,
            read.gateway,
            request.cursors,
            read.purpose,
            read.limits,
            utcnow(),
        )
        return body.json, body.served
    with read.database.snapshots() as session:
        response = vault.pull(session, read.gateway, request, read.purpose, read.limits, utcnow())
        session.commit()
    return response.model_dump_json().encode(), len({k.pseudonym for k in response.keys})


@router.post("/pull", response_model=PullResponse)
def pull(request: PullRequest, read: GatewayReadDep) -> Response:
    """Each guest's observations after its cursor, their wrapped keys, erasure notices.

    Serialized once, straight to bytes (the `PullResponse` shape): FastAPI's own path
    would validate the model again, build a dict and run json.dumps on it."""
    body, served = _pull(read, request)
    read.metrics.profile_reads.labels(read.purpose.value).inc(served)
    return Response(body, media_type="application/json")


@router.get("/guests/{pseudonym}/observations", response_model=ObservationPage, responses=_ERASED)
def read_observations(
    pseudonym: PseudonymPath,
    read: GatewayReadDep,
    after: Annotated[int, Query(ge=0, description="the last seq already held")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    """One guest's page after the cursor; 404 unknown, 410 erased."""
    page_limit = min(limit or read.limits.page_limit, read.limits.page_limit)
    now = utcnow()
    if read.database.autocommit is not None:  # PostgreSQL: one statement
        body = pgread.read_page(
            read.database.autocommit, read.gateway, pseudonym, after, page_limit, read.purpose, now
        )
    else:
        with read.database.snapshots() as session:
            page = vault.read_page(
                session, read.gateway, pseudonym, after, page_limit, read.purpose, now
            )
            session.commit()
        body = page.model_dump_json().encode()
    read.metrics.profile_reads.labels(read.purpose.value).inc()
    return Response(body, media_type="application/json")


@router.put(
    "/guests/{pseudonym}/identity",
    status_code=status.HTTP_200_OK,
    responses={201: {"description": "stored for the first time"}, **_ERASED},
)
def put_identity(
    pseudonym: PseudonymPath,
    identity: SealedIdentity,
    gateway: GatewayDep,
    session: SessionDep,
    response: Response,
) -> SealedIdentity:
    """Store or replace the guest's sealed name and contact."""
    created = vault.put_identity(session, gateway, pseudonym, identity, utcnow())
    session.commit()
    if created:
        response.status_code = status.HTTP_201_CREATED
    return identity


@router.get("/guests/{pseudonym}/identity", responses=_ERASED)
def read_identity(
    pseudonym: PseudonymPath,
    gateway: GatewayDep,
    purpose: GatewayPurpose,
    session: SnapshotDep,
    metrics: MetricsDep,
) -> SealedIdentity:
    identity = vault.read_identity(session, gateway, pseudonym, purpose, utcnow())
    session.commit()
    metrics.profile_reads.labels(purpose.value).inc()
    return identity
