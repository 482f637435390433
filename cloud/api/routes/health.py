"""Health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cloud.api.deps import DatabaseDep, MetricsDep
from cloud.db import schema_revision

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str  # ok | degraded
    database: str  # sqlite | postgresql
    database_reachable: bool
    schema_revision: str | None
    schema_head: str


@router.get("/health")
def health(database: DatabaseDep, request: Request, response: Response) -> Health:
    revision = None
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = schema_revision(database.engine)
        reachable = True
    except SQLAlchemyError:
        reachable = False
    head: str = request.app.state.schema_head
    ok = reachable and revision == head
    if not ok:
        response.status_code = 503
    return Health(
        status="ok" if ok else "degraded",
        database=database.dialect,
        database_reachable=reachable,
        schema_revision=revision,
        schema_head=head,
    )


@router.get("/metrics")
def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
