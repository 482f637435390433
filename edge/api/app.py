"""The gateway's FastAPI application; the gateway runs inside the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from edge.arrival.service import PmsRefused, UnknownStay
from edge.dispatch.errors import (
    DuplicateRequest,
    InvalidTask,
    InvalidTransition,
    NotAssignee,
    UnknownStaff,
    UnknownTask,
)
from edge.errors import (
    EdgeError,
    InvalidCommand,
    NotConnected,
    Overloaded,
    UnknownCommand,
    UnknownDevice,
    UnknownRoom,
)
from edge.gateway import Gateway
from edge.settings import EdgeSettings
from edge.store import StoreError
from shared.clock import Clock
from shared.layout import PropertyLayout

from .routes import commands, events, pms, rooms, staff, system, tasks

log = logging.getLogger(__name__)

_STATUS: dict[type[EdgeError], int] = {
    UnknownRoom: status.HTTP_404_NOT_FOUND,
    UnknownDevice: status.HTTP_404_NOT_FOUND,
    UnknownCommand: status.HTTP_404_NOT_FOUND,
    InvalidCommand: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotConnected: status.HTTP_503_SERVICE_UNAVAILABLE,
    Overloaded: status.HTTP_503_SERVICE_UNAVAILABLE,
    UnknownTask: status.HTTP_404_NOT_FOUND,
    UnknownStaff: status.HTTP_404_NOT_FOUND,
    InvalidTask: status.HTTP_422_UNPROCESSABLE_CONTENT,
    InvalidTransition: status.HTTP_409_CONFLICT,
    NotAssignee: status.HTTP_409_CONFLICT,
    DuplicateRequest: status.HTTP_409_CONFLICT,
    PmsRefused: status.HTTP_409_CONFLICT,
    UnknownStay: status.HTTP_404_NOT_FOUND,
}


def create_app(
    settings: EdgeSettings, clock: Clock, *, layout: PropertyLayout | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Gateway(settings, clock, layout=layout) as gateway:
            app.state.gateway = gateway
            yield

    app = FastAPI(
        title=f"StaySync gateway {settings.property_id}",
        version="0.1.0",
        lifespan=lifespan,
    )

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
        # The detail names paths and OS errors: for the log, not for the caller.
        log.error("store error serving %s: %s", request.url.path, exc)
        return JSONResponse(
            {"detail": "the gateway cannot save right now; retry later"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    @app.exception_handler(EdgeError)
    async def _edge_error(request: Request, exc: EdgeError) -> JSONResponse:
        code = next(
            (code for kind, code in _STATUS.items() if isinstance(exc, kind)),
            status.HTTP_400_BAD_REQUEST,
        )
        return JSONResponse({"detail": str(exc)}, status_code=code)

    app.include_router(system.router)
    app.include_router(rooms.router)
    app.include_router(commands.router)
    app.include_router(tasks.router)
    app.include_router(staff.router)
    app.include_router(pms.router)
    app.include_router(events.router)
    return app
