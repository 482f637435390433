"""The cloud's settings: one typed object, from the environment or built by the caller."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MIN_PRODUCTION_TOKEN_CHARS", "CloudSettings", "HqPrincipal", "HqRole"]

# A production HQ token must carry at least as much entropy as a gateway token
# (secrets.token_urlsafe(32) is 43 characters).
MIN_PRODUCTION_TOKEN_CHARS = 32


class HqRole(StrEnum):
    """HQ roles, least privilege: each endpoint admits exactly one of them."""

    HQ_ADMIN = "hq_admin"  # erases guests
    KEY_OFFICER = "key_officer"  # runs chain-key rotations
    AUDITOR = "auditor"  # reads the audit log


class HqPrincipal(BaseModel):
    """One HQ user's bearer token and role (a person with two roles gets two tokens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = Field(pattern=r"^[A-Za-z0-9_.@\-]{1,64}$")
    role: HqRole
    token: SecretStr = Field(min_length=16)


class CloudSettings(BaseSettings):
    """Read from ``STAYSYNC_CLOUD_*`` variables; tests and the CLI pass their own.

    ``STAYSYNC_CLOUD_HQ_PRINCIPALS`` is JSON:
    ``[{"user": "ana", "role": "hq_admin", "token": "..."}]``.
    """

    model_config = SettingsConfigDict(env_prefix="STAYSYNC_CLOUD_", frozen=True, extra="forbid")

    environment: Literal["development", "production"] = "development"
    # SQLite by default (demo, tests); PostgreSQL by URL: postgresql+psycopg://...
    database_url: str = "sqlite:///var/cloud/staysync.db"
    http_host: str = "127.0.0.1"
    http_port: int = 8090
    hq_principals: tuple[HqPrincipal, ...] = ()
    # Run the Alembic migrations at start-up instead of refusing an out-of-date schema.
    # Convenient for the demo; production migrates as a separate deployment step.
    migrate_on_start: bool = False

    # Pull sizing: one guest's page holds at most pull_page_limit observations, and one
    # pull response at most pull_max_observations (the per-guest limit shrinks when a
    # gateway asks for many guests at once; `more` tells it to come back).
    pull_page_limit: int = Field(default=500, ge=1, le=10_000)
    pull_max_observations: int = Field(default=20_000, ge=1)
    db_pool_size: int = Field(default=10, ge=1)
    # A verified gateway token is trusted this long without asking the database again,
    # so revoking a gateway takes effect within this time. 0: check on every request.
    gateway_token_cache_s: float = Field(default=10.0, ge=0)
    # A full batch (1,000 observations of a few hundred bytes, base64) is ~1 MiB.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # SQLite: how long a writer waits for the database lock before failing.
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> CloudSettings:
        tokens = [p.token.get_secret_value() for p in self.hq_principals]
        if len(set(tokens)) != len(tokens):
            raise ValueError("two HQ principals share a token: each needs its own")
        if self.environment == "production":
            if not any(p.role is HqRole.HQ_ADMIN for p in self.hq_principals):
                raise ValueError(
                    "STAYSYNC_CLOUD_HQ_PRINCIPALS must name an hq_admin in production "
                    "(erasure requests cannot wait for a redeploy)"
                )
            short = [
                p.user for p in self.hq_principals if len(p.token) < MIN_PRODUCTION_TOKEN_CHARS
            ]
            if short:
                raise ValueError(
                    f"HQ tokens of {', '.join(short)} are shorter than "
                    f"{MIN_PRODUCTION_TOKEN_CHARS} characters: not allowed in production"
                )
        return self
