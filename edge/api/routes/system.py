"""Health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.api.deps import GatewayDep
from edge.api.schemas import Health

router = APIRouter(tags=["system"])


@router.get("/health")
async def health(gateway: GatewayDep) -> Health:
    twin = gateway.twin
    faults = [*gateway.faults, *gateway.tasks.faults, *gateway.arrivals.faults]
    return Health(
        status="ok" if gateway.link.connected and not faults else "degraded",
        faults=faults,
        property_id=gateway.property_id,
        broker_connected=gateway.link.connected,
        rooms=len(twin.rooms),
        rooms_online=twin.rooms_online,
        rooms_complete=twin.rooms_complete,
        commands_pending=gateway.commands.pending_count,
    )


@router.get("/metrics")
async def metrics(gateway: GatewayDep) -> Response:
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)
