"""The cloud's FastAPI application; the database engine lives inside the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from cloud.auth import GatewayTokenCache, HqDirectory
from cloud.db import Database, check_schema, head_revision, make_engine, migrate
from cloud.errors import (
    CloudError,
    Conflict,
    GuestErased,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    SchemaOutOfDate,
)
from cloud.metrics import CloudMetrics, RequestMetricsMiddleware
from cloud.settings import CloudSettings

from .routes import health, hq, keys, sync

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_STATUS: dict[type[CloudError], int] = {
    NotAuthenticated: status.HTTP_401_UNAUTHORIZED,
    NotPermitted: status.HTTP_403_FORBIDDEN,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    GuestErased: status.HTTP_410_GONE,
    InvalidRequest: status.HTTP_422_UNPROCESSABLE_CONTENT,
    SchemaOutOfDate: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def _open_database(settings: CloudSettings) -> Database:
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    try:
        if settings.migrate_on_start:
            migrate(engine)
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    autocommit = None
    if engine.dialect.name == "postgresql":
        autocommit = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, autocommit=True
        )
    return Database.of(engine, autocommit=autocommit)


def _describe(errors: Any) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def create_app(settings: CloudSettings) -> FastAPI:
    metrics = CloudMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Migrations and the schema check are blocking I/O: off the event loop.
        database = await anyio.to_thread.run_sync(_open_database, settings)
        app.state.database = database
        log.info("cloud vault on %s", database.dialect)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(database.dispose)

    app = FastAPI(title="StaySync cloud", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.hq = HqDirectory(settings.hq_principals)
    app.state.gateway_tokens = GatewayTokenCache(settings.gateway_token_cache_s)
    app.state.schema_head = head_revision()  # read from the migration scripts once
    app.add_middleware(
        RequestMetricsMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes
    )

    @app.exception_handler(CloudError)
    async def _cloud_error(request: Request, exc: CloudError) -> JSONResponse:
        code = next(
            (code for kind, code in _STATUS.items() if isinstance(exc, kind)),
            status.HTTP_400_BAD_REQUEST,
        )
        body: dict[str, Any] = {"detail": str(exc)}
        headers = None
        if isinstance(exc, GuestErased):
            body["pseudonym"] = exc.pseudonym
            body["erased_at"] = exc.erased_at.isoformat()
            if exc.erased_key_version is not None:
                body["erased_key_version"] = exc.erased_key_version
        if isinstance(exc, NotAuthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(body, status_code=code, headers=headers)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return JSONResponse(
            {"detail": "the vault's database is unavailable; retry shortly"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence naming each bad field, plus the structured list; the
        # offending input is not echoed back (it may be a large ciphertext).
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            {"detail": f"invalid request: {_describe(errors)}", "errors": jsonable_encoder(errors)},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    app.include_router(health.router)
    app.include_router(sync.router)
    app.include_router(keys.router)
    app.include_router(hq.router)
    return app
