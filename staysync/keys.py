"""`staysync keys rotate`: move every guest's data key to a new chain-key version.

Run where the chain key is held (HQ's key officer, or a gateway): the cloud never holds
the chain key, so it cannot re-wrap anything itself. The command adds a version to the
key file (saved before anything is wrapped under it), asks the cloud to start a
rotation, then pages through the wrapped keys still at the old version, re-wraps each
under the new one and sends them back, in batches. No observation is re-encrypted:
only the small wrapped keys change. Interrupted, it resumes where it stopped: run it
again (keys already re-wrapped are no longer listed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
import typer
from pydantic import BaseModel, ConfigDict

from shared.crypto import ChainKeyring, CryptoError, require_production_keys, rewrap
from shared.sync import MAX_BATCH, WrappedKeyBatch, WrappedKeyPage

__all__ = ["register", "rotate"]

REQUEST_TIMEOUT_S = 30.0


class _Rotation(BaseModel):
    """The part of the cloud's rotation status this command needs."""

    model_config = ConfigDict(extra="ignore")

    from_version: int
    to_version: int
    total_keys: int
    rewrapped: int


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="Chain-key administration, run where the chain key is held.")
    keys.command("rotate")(rotate_command)
    app.add_typer(keys, name="keys")


def rotate_command(
    cloud: Annotated[str, typer.Option(help="the cloud's base URL")],
    keyring: Annotated[Path, typer.Option(help="the chain key file")],
    token: Annotated[
        str, typer.Option(envvar="STAYSYNC_KEY_OFFICER_TOKEN", help="a key officer's token")
    ],
    environment: Annotated[str, typer.Option(help="development or production")] = "production",
) -> None:
    """Re-wrap every guest's data key under a new chain-key version."""
    try:
        with httpx.Client(
            base_url=cloud,
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT_S,
        ) as http:
            done = rotate(http, keyring, environment, echo=typer.echo)
    except (CryptoError, RotationFailed) as exc:
        typer.echo(f"rotation stopped: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"rotated {done.rewrapped} of {done.total_keys} keys to version {done.to_version}")


class RotationFailed(Exception):
    """The cloud refused a step; the message says which and why."""


def rotate(
    http: httpx.Client,
    keyring_path: Path,
    environment: str,
    echo: Callable[[str], object] | None = None,
) -> _Rotation:
    """Run (or resume) a rotation to its end; returns the cloud's final count."""
    say = echo or (lambda _: None)
    keyring = ChainKeyring.load(keyring_path)
    require_production_keys(keyring, environment)
    current = _call(http, "GET", "/v1/hq/rotations/current", allow_missing=True)
    if current is None:
        # Saved before anything is wrapped under it: a crash must not strand keys.
        keyring = keyring.with_new_version()
        keyring.save(keyring_path)
        body = {"from_version": keyring.current_version - 1, "to_version": keyring.current_version}
        current = _call(http, "POST", "/v1/hq/rotations", json=body)
        say(f"started rotation {body['from_version']} → {body['to_version']}")
    assert current is not None
    rotation = _Rotation.model_validate(current)
    if rotation.to_version not in keyring.versions:
        raise RotationFailed(
            f"the key file lacks chain-key version {rotation.to_version}, which the running "
            "rotation moves to: restore the key file that started it"
        )
    while True:
        page = WrappedKeyPage.model_validate(
            _call(http, "GET", "/v1/hq/rotations/current/keys", params={"limit": MAX_BATCH})
        )
        if not page.keys:
            break
        batch = WrappedKeyBatch(keys=[rewrap(k, keyring, rotation.to_version) for k in page.keys])
        progress = _Rotation.model_validate(
            _call(http, "PUT", "/v1/hq/rotations/current/keys", content=batch.model_dump_json())
        )
        say(f"re-wrapped {progress.rewrapped} of {progress.total_keys}")
    return _Rotation.model_validate(_call(http, "POST", "/v1/hq/rotations/current/finish"))


def _call(
    http: httpx.Client,
    method: str,
    path: str,
    *,
    allow_missing: bool = False,
    **kwargs: object,
) -> dict[str, object] | None:
    headers = {"Content-Type": "application/json"} if "content" in kwargs else None
    try:
        response = http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise RotationFailed(f"{method} {path}: {exc}") from exc
    if allow_missing and response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise RotationFailed(f"{method} {path}: {response.status_code} {response.text[:300]}")
    result: dict[str, object] = response.json()
    return result
