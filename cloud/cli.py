"""`staysync cloud ...`: serve the vault, migrate its database, issue gateway tokens.

Settings come from ``STAYSYNC_CLOUD_*`` variables; options given here win.
"""

from __future__ import annotations

import logging
import re
import typing
from typing import Annotated, Any

import typer

from shared.sync import PropertyId

from .auth import issue_gateway_token, revoke_gateway
from .db import Database, check_schema, make_engine, migrate
from .errors import CloudError
from .settings import CloudSettings

__all__ = ["register"]

log = logging.getLogger(__name__)

_PROPERTY_PATTERN = re.compile(typing.get_args(PropertyId)[1].pattern)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path or postgresql+psycopg://... (default: STAYSYNC_CLOUD_DATABASE_URL)",
    ),
]


def _settings(**overrides: Any) -> CloudSettings:
    return CloudSettings(**{k: v for k, v in overrides.items() if v is not None})


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def serve(
    database_url: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(help="HTTP listen address")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    run_migrations: Annotated[
        bool, typer.Option("--migrate", help="migrate the database before serving")
    ] = False,
) -> None:
    """Serve the sync and HQ APIs."""
    import uvicorn  # noqa: PLC0415 - only `serve` needs the server

    from .api import create_app  # noqa: PLC0415 - keeps `gateway-token` light

    settings = _settings(
        database_url=database_url,
        http_host=host,
        http_port=port,
        migrate_on_start=run_migrations or None,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
    )


def migrate_command(database_url: DatabaseOption = None) -> None:
    """Create or upgrade the vault's schema (Alembic); safe to run again."""
    settings = _settings(database_url=database_url)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        check_schema(engine)
    finally:
        engine.dispose()
    typer.echo(f"schema up to date on {engine.url.render_as_string(hide_password=True)}")


def gateway_token(
    property_id: Annotated[str, typer.Option("--property", help="the property the gateway serves")],
    database_url: DatabaseOption = None,
) -> None:
    """Register a gateway for a property and print its token (shown only this once)."""
    if not _PROPERTY_PATTERN.fullmatch(property_id):
        raise _fail(ValueError(f"{property_id!r} is not a property id ({_PROPERTY_PATTERN})"))
    settings = _settings(database_url=database_url)
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine)
        with Database.of(engine).session() as session:
            gateway, token = issue_gateway_token(session, property_id)
            session.commit()
    except CloudError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"gateway {gateway.id} for property {property_id}; its token follows "
        "(stored only as a hash: keep it now)",
        err=True,
    )
    typer.echo(token)


def gateway_revoke(
    gateway_id: Annotated[str, typer.Argument(help="the gateway id (gw_...)")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a gateway's token; its next request is refused."""
    settings = _settings(database_url=database_url)
    engine = make_engine(settings.database_url)
    try:
        with Database.of(engine).session() as session:
            gateway = revoke_gateway(session, gateway_id)
            session.commit()
    except CloudError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    assert gateway.revoked_at is not None
    typer.echo(f"gateway {gateway.id} revoked at {gateway.revoked_at.isoformat()}")


def register(app: typer.Typer) -> None:
    cloud = typer.Typer(
        no_args_is_help=True, help="The chain cloud: encrypted profile vault, sync and HQ APIs."
    )
    cloud.command("serve")(serve)
    cloud.command("migrate")(migrate_command)
    cloud.command("gateway-token")(gateway_token)
    cloud.command("gateway-revoke")(gateway_revoke)
    app.add_typer(cloud, name="cloud")
