"""The edge ↔ cloud sync contract: what a gateway pushes and pulls, all of it sealed.

The cloud stores and serves these models and nothing more: it sees pseudonyms,
property ids, observation ids, key versions and ciphertext, never a preference's key or
value, nor a guest's name or loyalty id. Everything a person could read is inside
`ciphertext`, sealed on the edge with the guest's data key (see `shared.crypto`); the
guest's data key travels only wrapped by the chain key, which the cloud never holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "MAX_BATCH",
    "ErasureNotice",
    "ObservationPage",
    "Pseudonym",
    "PullRequest",
    "PullResponse",
    "PushResult",
    "SealedIdentity",
    "SealedObservation",
    "SealedObservationBatch",
    "WrappedKey",
    "WrappedKeyBatch",
    "WrappedKeyPage",
]

MAX_BATCH = 1_000  # observations (or keys) in one request

# base64url of HMAC-SHA256(chain pseudonym secret, loyalty id): 43 characters.
Pseudonym = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]
ObservationId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
PropertyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
KeyVersion = Annotated[int, Field(ge=1)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SealedObservation(_Wire):
    """One observation as the cloud stores it. AES-256-GCM: the associated data binds the
    pseudonym, the observation id and the data-key version, so a ciphertext cannot be
    moved to another guest or replayed under another id."""

    id: ObservationId
    pseudonym: Pseudonym
    property_id: PropertyId  # who recorded it: routing and audit, not a preference
    data_key_version: KeyVersion
    nonce: Base64Bytes = Field(description="12 bytes, base64")
    ciphertext: Base64Bytes = Field(description="sealed observation JSON + GCM tag, base64")


class SealedObservationBatch(_Wire):
    observations: Annotated[list[SealedObservation], Field(min_length=1, max_length=MAX_BATCH)]


class PushResult(_Wire):
    accepted: int  # new rows stored
    duplicates: int  # ids already stored: a replay, accepted as a no-op


class ObservationPage(_Wire):
    """A guest's observations after a cursor, oldest first."""

    pseudonym: Pseudonym
    observations: list[SealedObservation]
    next_cursor: int  # pass back as `after` for the next page
    more: bool


class PullRequest(_Wire):
    """The guests a gateway expects (its upcoming arrivals), with what it has of each."""

    # A cursor is an observation sequence number: a PostgreSQL bigint.
    cursors: Annotated[
        dict[Pseudonym, Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(max_length=MAX_BATCH)
    ]


class ErasureNotice(_Wire):
    """The guest's profile through `erased_key_version` was erased: purge everything of
    theirs under that data-key version or older. Sent while the erasure stands and, once
    the guest has come back under a newer version, still (a gateway that was away must
    purge the old profile and keep the new)."""

    pseudonym: Pseudonym
    erased_at: datetime
    erased_key_version: KeyVersion = 1


class PullResponse(_Wire):
    pages: list[ObservationPage]
    keys: list[WrappedKey]  # the current wrapped data key of each guest pulled
    erased: list[ErasureNotice]  # purge these from the edge cache


class WrappedKey(_Wire):
    """A guest's data key wrapped by the chain key: AES-256-GCM under the chain key's
    version, `wrapped` = nonce (12 bytes) || ciphertext || tag, with associated data that
    binds the pseudonym, the data-key version and the chain key's id and version (see
    `shared.crypto`). Wrapping is randomized: re-wrapping the same data key gives other
    bytes, so the cloud cannot, and need not, compare two wraps."""

    pseudonym: Pseudonym
    data_key_version: KeyVersion
    chain_key_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
    chain_key_version: KeyVersion
    wrapped: Base64Bytes


class WrappedKeyBatch(_Wire):
    keys: Annotated[list[WrappedKey], Field(min_length=1, max_length=MAX_BATCH)]


class WrappedKeyPage(_Wire):
    keys: list[WrappedKey]
    next_cursor: int
    more: bool


class SealedIdentity(_Wire):
    """Name and contact, sealed under the guest's data key; stored apart from observations."""

    pseudonym: Pseudonym
    data_key_version: KeyVersion
    nonce: Base64Bytes
    ciphertext: Base64Bytes


PullResponse.model_rebuild()
