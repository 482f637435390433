"""Handset sign-in: which person a handset token signs in, and revoking a lost handset.

The roster (`edge.dispatch.roster`) holds each handset token's SHA-256; a revocation is
kept in the gateway store by that digest, so it takes effect at once, survives
restarts, and a new token written to the roster for the same person works after the
next start. The tokens themselves are never stored or logged.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from edge.dispatch.roster import token_digest
from edge.persistence import GatewayStore
from edge.store import EdgeStore
from shared.clock import Clock

REVOKED = "revoked_handsets"


class Revocation(BaseModel):
    model_config = ConfigDict(frozen=True)

    staff_id: str
    revoked: bool  # False: the person had no active handset token to revoke
    at: float


class Handsets:
    def __init__(self, store: GatewayStore, digests: dict[str, str], clock: Clock) -> None:
        """`digests`: SHA-256 of each roster token → the person it signs in."""
        self._store = store
        self._clock = clock
        self._digests = dict(digests)
        self._revoked: set[str] = set()

    async def load(self) -> int:
        """Read the revocations; the number of roster tokens that are revoked."""
        docs = await self._store.run(lambda db: db.table(REVOKED).all())
        self._revoked = {doc["digest"] for doc in docs}
        return sum(1 for digest in self._digests if digest in self._revoked)

    def who(self, token: str) -> str | None:
        """The person `token` signs in, or None (unknown or revoked)."""
        return self.holder(token_digest(token)) if token else None

    def holder(self, digest: str) -> str | None:
        """The person the token with this SHA-256 signs in, or None (unknown or revoked)."""
        return None if digest in self._revoked else self._digests.get(digest)

    def signed_in(self, token: str) -> bool:
        return self.who(token) is not None

    async def revoke(self, staff_id: str) -> Revocation:
        """Revoke the person's roster token, durably before answering."""
        at = self._clock.now()
        digests = [
            d for d, who in self._digests.items() if who == staff_id and d not in self._revoked
        ]
        if digests:

            def write(db: EdgeStore) -> None:
                table = db.table(REVOKED)
                for digest in digests:
                    table.insert({"digest": digest, "staff_id": staff_id, "at": at})

            await self._store.run(write)
            self._revoked.update(digests)
        return Revocation(staff_id=staff_id, revoked=bool(digests), at=at)
