"""The cloud's settings and its `staysync cloud` commands, on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from cloud.api import create_app
from cloud.auth import GATEWAY_ROLE, GatewayTokenCache, Principal
from cloud.cli import register
from cloud.errors import SchemaOutOfDate
from cloud.settings import CloudSettings, HqPrincipal, HqRole
from tests.fixtures.http_server import ServeApp

LONG = "x" * 40


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """A stand-in for `staysync`, which registers the group the same way."""

    return app


def test_settings_refuse_weak_production_secrets() -> None:
    admin = HqPrincipal(user="ana", role=HqRole.HQ_ADMIN, token=LONG)
    CloudSettings(environment="production", hq_principals=(admin,))
    with pytest.raises(ValidationError, match="must name an hq_admin in production"):
        CloudSettings(environment="production")
    auditor = HqPrincipal(user="aude", role=HqRole.AUDITOR, token="short-but-16-chars")
    with pytest.raises(ValidationError, match="HQ tokens of aude are shorter than 32"):
        CloudSettings(environment="production", hq_principals=(admin, auditor))
    twin = HqPrincipal(user="kofi", role=HqRole.KEY_OFFICER, token=LONG)
    with pytest.raises(ValidationError, match="share a token"):
        CloudSettings(hq_principals=(admin, twin))
    # Development accepts no HQ principal at all: HQ endpoints then answer 401.
    assert CloudSettings().hq_principals == ()


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAYSYNC_CLOUD_DATABASE_URL", "postgresql+psycopg://db/vault")
    monkeypatch.setenv(
        "STAYSYNC_CLOUD_HQ_PRINCIPALS",
        f'[{{"user": "ana", "role": "hq_admin", "token": "{LONG}"}}]',
    )
    settings = CloudSettings()
    assert settings.database_url == "postgresql+psycopg://db/vault"
    assert settings.hq_principals[0].role is HqRole.HQ_ADMIN


def test_migrate_issue_token_and_revoke(tmp_path: Path, serve_app: ServeApp) -> None:
    url = f"sqlite:///{tmp_path / 'cloud' / 'vault.db'}"
    runner = CliRunner()
    app = _app()

    refused = runner.invoke(
        app, ["cloud", "gateway-token", "--property", "h1", "--database-url", url]
    )
    assert refused.exit_code == 1
    assert "run `staysync cloud migrate` first" in refused.stderr

    migrated = runner.invoke(app, ["cloud", "migrate", "--database-url", url])
    assert migrated.exit_code == 0, migrated.output
    again = runner.invoke(app, ["cloud", "migrate", "--database-url", url])
    assert again.exit_code == 0

    bad = runner.invoke(app, ["cloud", "gateway-token", "--property", "a/b", "--database-url", url])
    assert bad.exit_code == 1
    assert "not a property id" in bad.stderr

    issued = runner.invoke(
        app, ["cloud", "gateway-token", "--property", "h1", "--database-url", url]
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()  # the token alone on stdout, the words on stderr
    gateway_id = token.partition(".")[0]
    assert gateway_id in issued.stderr

    settings = CloudSettings(database_url=url, gateway_token_cache_s=0)
    with serve_app(create_app(settings)) as base:
        auth = {"Authorization": f"Bearer {token}", "X-Purpose": "sync"}
        assert httpx.post(f"{base}/v1/pull", json={"cursors": {}}, headers=auth).status_code == 200
        revoked = runner.invoke(app, ["cloud", "gateway-revoke", gateway_id, "--database-url", url])
        assert revoked.exit_code == 0, revoked.output
        assert httpx.post(f"{base}/v1/pull", json={"cursors": {}}, headers=auth).status_code == 401

    unknown = runner.invoke(app, ["cloud", "gateway-revoke", "gw_nope", "--database-url", url])
    assert unknown.exit_code == 1
    assert "no gateway 'gw_nope'" in unknown.stderr


def test_verified_gateway_tokens_are_cached_for_a_while() -> None:
    now = [0.0]
    cache = GatewayTokenCache(10.0, max_entries=2, clock=lambda: now[0])
    gateway = Principal("gw_1", GATEWAY_ROLE, "h1")
    assert cache.get("gw_1.secret") is None
    cache.put("gw_1.secret", gateway)
    assert cache.get("gw_1.secret") == gateway
    assert cache.get("gw_1.other") is None
    now[0] = 10.0  # a revoked token is refused again once its entry expires
    assert cache.get("gw_1.secret") is None
    for n in range(3):  # bounded
        cache.put(f"gw_{n}.s", gateway)
    assert sum(cache.get(f"gw_{n}.s") is not None for n in range(3)) <= 2
    off = GatewayTokenCache(0)
    off.put("gw_1.secret", gateway)
    assert off.get("gw_1.secret") is None


async def test_the_app_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(CloudSettings(database_url=f"sqlite:///{tmp_path / 'vault.db'}"))
    with pytest.raises(SchemaOutOfDate, match="run `staysync cloud migrate` first"):
        async with app.router.lifespan_context(app):
            pass


def test_serve_can_migrate_at_start(tmp_path: Path, serve_app: ServeApp) -> None:
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    settings = CloudSettings(database_url=url, migrate_on_start=True)
    with serve_app(create_app(settings)) as base:
        health = httpx.get(f"{base}/health").json()
    assert health["status"] == "ok"
    assert health["schema_revision"] == health["schema_head"]
