"""`staysync edge`: run one property's gateway with its HTTP API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from shared.clock import WallClock

from .api import create_app
from .dispatch.roster import new_handset_token
from .settings import EdgeSettings


def register(app: typer.Typer) -> None:
    @app.command("edge")
    def edge(
        property_id: Annotated[str | None, typer.Option("--property", help="property id")] = None,
        broker: Annotated[
            str | None, typer.Option(help="mqtt://host:port of the property's broker")
        ] = None,
        rooms: Annotated[int | None, typer.Option(help="rooms of a generated layout")] = None,
        layout: Annotated[Path | None, typer.Option(help="layout JSON file")] = None,
        data_dir: Annotated[
            Path | None, typer.Option(help="where the gateway keeps its store")
        ] = None,
        host: Annotated[str | None, typer.Option(help="HTTP listen address")] = None,
        port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    ) -> None:
        """Run the gateway: twin the property's rooms and serve the API.

        Settings come from STAYSYNC_EDGE_* variables; options given here win.
        """
        overrides: dict[str, Any] = {
            "property_id": property_id,
            "broker_url": broker,
            "room_count": rooms,
            "layout_file": layout,
            "data_dir": data_dir,
            "http_host": host,
            "http_port": port,
        }
        settings = EdgeSettings(**{k: v for k, v in overrides.items() if v is not None})
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        uvicorn.run(
            create_app(settings, WallClock()),
            host=settings.http_host,
            port=settings.http_port,
            log_level="info",
        )

    @app.command("handset-token")
    def handset_token(
        staff_id: Annotated[str, typer.Option("--staff-id", help="the person it signs in")],
    ) -> None:
        """Make a handset token: give the token to the person's handset, and put the
        digest in their roster entry as "token_sha256" (the roster never holds the token)."""
        token, digest = new_handset_token()
        typer.echo(f"handset token for {staff_id} (shown once): {token}")
        typer.echo(f'roster entry: "id": "{staff_id}", "token_sha256": "{digest}"')
