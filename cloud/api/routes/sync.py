"""What gateways do: push observations, pull profiles, read a guest, keep identities."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from cloud import vault
from cloud.api.deps import (
    GatewayDep,
    GatewayPurpose,
    LimitsDep,
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


def _json(model: BaseModel) -> Response:
    """The hot read paths serialize once, in pydantic-core, straight to bytes: FastAPI's
    own path would validate the model again, build a dict and run json.dumps on it."""
    return Response(model.model_dump_json(), media_type="application/json")


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


@router.post("/pull", response_model=PullResponse)
def pull(
    request: PullRequest,
    gateway: GatewayDep,
    purpose: GatewayPurpose,
    session: SnapshotDep,
    limits: LimitsDep,
    metrics: MetricsDep,
) -> Response:
    """Each guest's observations after its cursor, their wrapped keys, erasure notices."""
    response = vault.pull(session, gateway, request, purpose, limits, utcnow())
    session.commit()
    metrics.profile_reads.labels(purpose.value).inc(len({k.pseudonym for k in response.keys}))
    return _json(response)


@router.get("/guests/{pseudonym}/observations", response_model=ObservationPage, responses=_ERASED)
def read_observations(
    pseudonym: PseudonymPath,
    gateway: GatewayDep,
    purpose: GatewayPurpose,
    session: SnapshotDep,
    limits: LimitsDep,
    metrics: MetricsDep,
    after: Annotated[int, Query(ge=0, description="the last seq already held")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    page_limit = min(limit or limits.page_limit, limits.page_limit)
    page = vault.read_page(session, gateway, pseudonym, after, page_limit, purpose, utcnow())
    session.commit()
    metrics.profile_reads.labels(purpose.value).inc()
    return _json(page)


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
