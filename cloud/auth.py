"""Who is calling: a property's gateway (token in the database) or an HQ user (settings).

Gateway tokens are ``<gateway id>.<secret>`` with a 32-byte random secret. Only the
secret's SHA-256 is stored, so a database dump yields no usable token; the id part lets
the lookup go by primary key and the hashes be compared in constant time. A fast hash is
enough here: the secret is random, not a password, so there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from .errors import NotAuthenticated, NotFound
from .models import Gateway
from .settings import HqPrincipal, HqRole
from .sqltypes import utcnow

__all__ = [
    "GATEWAY_ROLE",
    "GatewayTokenCache",
    "HqDirectory",
    "Principal",
    "authenticate_gateway",
    "issue_gateway_token",
    "revoke_gateway",
]

GATEWAY_ROLE = "gateway"
_GATEWAYS: Table = Gateway.__table__  # type: ignore[assignment]
# Built once: every request runs it (Core columns, no ORM layer).
_GATEWAY = select(
    _GATEWAYS.c.id, _GATEWAYS.c.property_id, _GATEWAYS.c.token_hash, _GATEWAYS.c.revoked_at
).where(_GATEWAYS.c.id == bindparam("id"))
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request, as the audit log names it."""

    actor: str  # gateway id or HQ user name
    role: str  # "gateway" or an HqRole value
    property_id: str | None = None  # gateways only: the property its token is scoped to

    @property
    def is_gateway(self) -> bool:
        return self.role == GATEWAY_ROLE


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class HqDirectory:
    """HQ tokens from the settings, kept as digests and compared in constant time."""

    def __init__(self, principals: Iterable[HqPrincipal]) -> None:
        self._entries = [
            (_digest(p.token.get_secret_value()), Principal(p.user, p.role.value))
            for p in principals
        ]

    def lookup(self, token: str) -> Principal | None:
        digest = _digest(token)
        found = None
        # Every entry is compared, so the time taken does not tell which one matched.
        for expected, principal in self._entries:
            if hmac.compare_digest(digest, expected):
                found = principal
        return found

    def roles(self) -> set[HqRole]:
        return {HqRole(p.role) for _, p in self._entries}


class GatewayTokenCache:
    """Gateway tokens verified in the last ``ttl_s`` seconds, by digest, so that most
    requests authenticate without a database round trip. The price: a revoked token
    keeps working for up to ``ttl_s``. A chain has one gateway per property, so the cache
    stays small; ``max_entries`` bounds it anyway. ``ttl_s=0`` turns it off."""

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()  # requests run in several threads

    def get(self, token: str) -> Principal | None:
        if self.ttl_s <= 0:
            return None
        digest = _digest(token)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # crude, and rare: at most one lookup per gateway
            self._entries[_digest(token)] = (self._clock() + self.ttl_s, principal)


def authenticate_gateway(session: Session, token: str) -> Principal | None:
    """The gateway the token belongs to; None if the token is not a gateway token.

    Raises NotAuthenticated for a revoked gateway, so its operator learns why.
    """
    gateway_id, dot, secret = token.partition(".")
    if not dot or not gateway_id or not secret:
        return None
    gateway = session.execute(_GATEWAY, {"id": gateway_id}).first()
    if gateway is None:
        # Hash anyway, so an unknown id costs the same time as a wrong secret.
        hmac.compare_digest(_digest(secret), bytes(SECRET_BYTES))
        return None
    if not hmac.compare_digest(_digest(secret), gateway.token_hash):
        return None
    if gateway.revoked_at is not None:
        raise NotAuthenticated(
            f"gateway {gateway.id} was revoked at {gateway.revoked_at.isoformat()}: "
            "ask HQ for a new token (`staysync cloud gateway-token`)"
        )
    return Principal(gateway.id, GATEWAY_ROLE, gateway.property_id)


def issue_gateway_token(session: Session, property_id: str) -> tuple[Gateway, str]:
    """Register a new gateway for the property; the token is returned once, never stored."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    gateway = Gateway(
        id=f"gw_{secrets.token_hex(8)}",
        property_id=property_id,
        token_hash=_digest(secret),
        created_at=utcnow(),
    )
    session.add(gateway)
    session.flush()
    return gateway, f"{gateway.id}.{secret}"


def revoke_gateway(session: Session, gateway_id: str, at: datetime | None = None) -> Gateway:
    gateway = session.execute(
        select(Gateway).where(Gateway.id == gateway_id).with_for_update()
    ).scalar_one_or_none()
    if gateway is None:
        raise NotFound(f"no gateway {gateway_id!r}")
    if gateway.revoked_at is None:
        gateway.revoked_at = at or utcnow()
    return gateway
