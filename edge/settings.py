"""The gateway's settings: one typed object, from the environment or built by the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.broker import BrokerAddress
from shared.layout import PropertyLayout

__all__ = ["EdgeSettings"]

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MIN_TOKEN_CHARS = 16


class EdgeSettings(BaseSettings):
    """Read from ``STAYSYNC_EDGE_*`` variables; tests and the demo pass their own."""

    # Errors never echo input: a mistyped setting may hold a password or a token.
    model_config = SettingsConfigDict(
        env_prefix="STAYSYNC_EDGE_", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    environment: Literal["development", "production"] = "development"
    property_id: str = Field(default="demo", pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    # Secret: it may carry the gateway's broker password (mqtt://user:password@host).
    broker_url: SecretStr = SecretStr("mqtt://127.0.0.1:1883")
    layout_file: Path | None = None
    room_count: int = Field(default=50, ge=1, le=10_000, description="rooms of a generated layout")
    data_dir: Path = Path("var/edge")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Bearer token for the operator API; required outside development.
    operator_token: SecretStr | None = None

    # Command delivery: first retry after command_retry_initial_s, doubling up to
    # command_retry_max_s, until command_timeout_s ends it as failed.
    command_timeout_s: float = Field(default=30.0, gt=0)
    command_retry_initial_s: float = Field(default=1.0, gt=0)
    command_retry_max_s: float = Field(default=8.0, gt=0)
    max_pending_commands: int = Field(default=10_000, ge=1)
    # The chain cloud; without a URL the gateway keeps profiles locally only.
    cloud_url: str | None = None
    cloud_token: SecretStr | None = None
    # The chain key (held by gateways, never by the cloud); a demo keyring is generated
    # here on first run in development and refused in production.
    keyring_file: Path | None = None  # default: <data_dir>/chain-keys.json
    profile_sync_interval_s: float = Field(default=30.0, gt=0)
    # Finished commands stay in the journal this long (for audit and status queries).
    command_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Broker link: reconnect backoff and MQTT keepalive.
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    keepalive_s: int = Field(default=30, ge=5)
    # The twin is persisted in batches: it is a cache of retained state, so a few
    # seconds of lag cost nothing after a crash (the broker re-sends it).
    twin_flush_interval_s: float = Field(default=2.0, gt=0)
    # Dispatch (edge.dispatch): the staff roster (JSON, see edge.dispatch.roster), how
    # often a dispatch round runs without an event, how long an assigned task waits for
    # its person to accept before it is re-dispatched, and after how long a device fault
    # seen by the twin opens an engineering task.
    staff_file: Path | None = None
    dispatch_interval_s: float = Field(default=30.0, gt=0)
    task_accept_timeout_s: float = Field(default=300.0, gt=0)
    fault_door_open_s: float = Field(default=600.0, gt=0)
    fault_hvac_s: float = Field(default=2700.0, gt=0)
    fault_offline_s: float = Field(default=600.0, gt=0)
    # Arrival (edge.arrival): the PMS integration's own bearer token (required in
    # production), the house comfort for a guest without a preference, the margin on the
    # learned pre-conditioning lead time, how often the planner runs, after how long an
    # empty room goes to eco, and the property's time zone (evening, local times).
    pms_token: SecretStr | None = None
    arrival_default_c: float = Field(default=22.0, ge=16.0, le=30.0)
    arrival_margin: float = Field(default=0.2, ge=0.0, le=2.0)
    arrival_tick_s: float = Field(default=60.0, gt=0)
    vacancy_eco_after_s: float = Field(default=1800.0, gt=0)
    # A booking of a room type has its recommended room held and readied this long
    # before its ETA (the PMS may assign rooms only at check-in).
    arrival_hold_ahead_s: float = Field(default=6 * 3600.0, gt=0, le=48 * 3600.0)
    # The band the thermostats hold in eco (configured on the devices; the gateway only
    # selects the mode): where a vacant room's drift stops, for the pre-conditioning plan.
    eco_low_c: float = Field(default=17.0, ge=5.0, le=35.0)
    eco_high_c: float = Field(default=28.0, ge=5.0, le=35.0)
    # ...and in standby, the unsold room's deeper setback (a checked-out, released or
    # not-yet-due room): only protects the building; safe because the room is brought
    # back at its learned lead time before the next guest. Must contain the eco band.
    standby_low_c: float = Field(default=12.0, ge=5.0, le=35.0)
    standby_high_c: float = Field(default=32.0, ge=5.0, le=40.0)
    time_zone: str = "UTC"

    @field_validator("broker_url")
    @classmethod
    def _broker_url_parses(cls, url: SecretStr) -> SecretStr:
        BrokerAddress.parse(url.get_secret_value())
        return url

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> EdgeSettings:
        if self.operator_token is None:
            if self.environment == "production":
                raise ValueError("STAYSYNC_EDGE_OPERATOR_TOKEN must be set in production")
            if self.http_host not in LOOPBACK:
                raise ValueError(
                    f"listening on {self.http_host} without STAYSYNC_EDGE_OPERATOR_TOKEN would "
                    "open the operator API to the network; set a token or listen on 127.0.0.1"
                )
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("time_zone must be an IANA zone such as Asia/Shanghai") from None
        return zone

    @field_validator("operator_token", "pms_token", "cloud_token")
    @classmethod
    def _strong_enough(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty variable in an env template must not become a token that an empty
        # Authorization header matches.
        if token is not None and len(token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"a token must have at least {MIN_TOKEN_CHARS} characters")
        return token

    @model_validator(mode="after")
    def _eco_band(self) -> EdgeSettings:
        if self.eco_low_c >= self.eco_high_c:
            raise ValueError("eco_low_c must be below eco_high_c")
        if not (self.standby_low_c <= self.eco_low_c and self.eco_high_c <= self.standby_high_c):
            raise ValueError(
                "the standby band (standby_low_c–standby_high_c) must contain the eco band"
            )
        return self

    @model_validator(mode="after")
    def _pms_needs_a_token(self) -> EdgeSettings:
        if self.pms_token is None and self.environment == "production":
            raise ValueError("STAYSYNC_EDGE_PMS_TOKEN must be set in production")
        return self

    @model_validator(mode="after")
    def _cloud_needs_a_token(self) -> EdgeSettings:
        if self.cloud_url is not None and self.cloud_token is None:
            raise ValueError("STAYSYNC_EDGE_CLOUD_TOKEN must be set when a cloud URL is")
        return self

    @property
    def keyring_path(self) -> Path:
        return self.keyring_file or self.data_dir / "chain-keys.json"

    @property
    def broker(self) -> BrokerAddress:
        return BrokerAddress.parse(self.broker_url.get_secret_value())

    def layout(self) -> PropertyLayout:
        if self.layout_file is not None:
            return PropertyLayout.model_validate_json(self.layout_file.read_bytes())
        return PropertyLayout.generate(self.property_id, self.room_count)
