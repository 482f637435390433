"""Stored rows to the wire models of `shared.sync`, and the checks the vault can make
on sealed values without opening them.

`model_construct`: the rows were validated on their way in, and re-validating every
stored observation on every read would cost more than the query that found it.
"""

from __future__ import annotations

from typing import Any

from shared.sync import SealedObservation, WrappedKey

from .errors import InvalidRequest

__all__ = ["check_sealed", "check_wrapped", "sealed_observation", "wrapped_key"]


def sealed_observation(row: Any) -> SealedObservation:
    """From an `Observation` or a result row with the same columns."""
    return SealedObservation.model_construct(
        id=row.id,
        pseudonym=row.pseudonym,
        property_id=row.property_id,
        data_key_version=row.data_key_version,
        nonce=bytes(row.nonce),
        ciphertext=bytes(row.ciphertext),
    )


def wrapped_key(row: Any) -> WrappedKey:
    """From a `WrappedKeyRow` or a result row with the same columns."""
    return WrappedKey.model_construct(
        pseudonym=row.pseudonym,
        data_key_version=row.data_key_version,
        chain_key_id=row.chain_key_id,
        chain_key_version=row.chain_key_version,
        wrapped=bytes(row.wrapped),
    )


# AES-256-GCM as the edge seals (shared.crypto): a 96-bit nonce, a 128-bit tag at the end
# of the ciphertext. The vault cannot open anything, but it can refuse what nobody could.
NONCE_BYTES = 12
TAG_BYTES = 16


def check_sealed(what: str, nonce: bytes, ciphertext: bytes) -> None:
    if len(nonce) != NONCE_BYTES:
        raise InvalidRequest(f"{what}: the nonce must be {NONCE_BYTES} bytes, got {len(nonce)}")
    if len(ciphertext) < TAG_BYTES:
        raise InvalidRequest(
            f"{what}: the ciphertext is {len(ciphertext)} bytes, shorter than a GCM tag "
            f"({TAG_BYTES})"
        )


# The shortest output of any key wrap worth the name (RFC 5649's minimum; AES-GCM's tag
# alone). How the edge wraps is its business: shared.crypto uses nonce || AES-GCM.
MIN_WRAPPED_BYTES = 16


def check_wrapped(key: WrappedKey) -> None:
    size = len(key.wrapped)
    if size < MIN_WRAPPED_BYTES:
        raise InvalidRequest(
            f"the wrapped key of guest {key.pseudonym} is {size} bytes: too short to be a "
            f"wrapped data key (at least {MIN_WRAPPED_BYTES})"
        )
