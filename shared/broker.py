"""Where the property's MQTT broker is: ``mqtt://[user[:password]@]host[:port]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_PORT", "BrokerAddress"]

DEFAULT_PORT = 1883


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    # Kept out of repr so that a logged address never carries the secret.
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("broker host must not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"broker port {self.port} is not in 1-65535")

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme != "mqtt":
            # The URL is not repeated: it may carry a password.
            raise ValueError("the broker URL must start with mqtt:// (TLS is set up apart)")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise ValueError("the broker URL has a bad port") from exc
        return cls(
            host=parts.hostname or "",
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"mqtt://{user}{self.host}:{self.port}"
