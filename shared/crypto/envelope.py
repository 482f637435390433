"""Guests' data keys, wrapped by the chain key, and what they seal: observations, identity.

All three use AES-256-GCM with a fresh random 96-bit nonce per call. Random nonces are
safe while one key seals fewer than 2^32 messages (NIST SP 800-38D, 8.3): a guest's data
key seals a few hundred observations in a lifetime, and a KEK version wraps each guest's
key once per rotation, so both stay many orders of magnitude below.

What each ciphertext is bound to (its associated data, see `_aad`):

* an observation: the pseudonym, the observation id, the recording property and the
  data-key version. Moved to another guest, replayed under another id, re-labelled with
  another property or version, it fails authentication.
* an identity: the pseudonym and the data-key version, under its own domain tag, so an
  identity is never accepted as an observation nor the reverse.
* a wrapped data key: the pseudonym, the data-key version, the chain key id and the KEK
  version. AES-GCM rather than RFC 5649 key wrap because key wrap takes no associated
  data: a wrapped key copied onto another guest's row would unwrap without complaint.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.crypto.errors import AuthenticationFailed, UnknownKeyVersion
from shared.crypto.keyring import KEY_BYTES, ChainKeyring
from shared.sync import SealedIdentity, SealedObservation, WrappedKey

__all__ = [
    "NONCE_BYTES",
    "TAG_BYTES",
    "DataKey",
    "open_identity",
    "open_observation",
    "rewrap",
    "seal_identity",
    "seal_observation",
    "unwrap",
    "wrap",
]

NONCE_BYTES = 12
TAG_BYTES = 16

# Domain tags, one per kind of ciphertext; "/1" is the AAD layout's version.
_OBSERVATION = "staysync/observation/1"
_IDENTITY = "staysync/identity/1"
_WRAPPED_KEY = "staysync/wrapped-key/1"


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class DataKey:
    """One guest's AES-256 key and its version (1 unless the guest was ever re-keyed)."""

    secret: bytes
    version: int = 1

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes")
        if self.version < 1:
            raise ValueError(f"data-key version must be >= 1, got {self.version}")

    @classmethod
    def generate(cls, version: int = 1) -> DataKey:
        return cls(secrets.token_bytes(KEY_BYTES), version)

    def __repr__(self) -> str:
        return f"DataKey(version={self.version})"  # never the bytes


# --- wrapping data keys under the chain key ----------------------------------------------


def wrap(
    data_key: DataKey, keyring: ChainKeyring, pseudonym: str, *, version: int | None = None
) -> WrappedKey:
    """Wrap a guest's data key under the keyring's current KEK (or KEK `version`).

    `WrappedKey.wrapped` is nonce (12 bytes) || AES-GCM ciphertext of the key || tag.
    """
    kek_version = keyring.current_version if version is None else version
    aad = _aad(_WRAPPED_KEY, pseudonym, data_key.version, keyring.key_id, kek_version)
    nonce, sealed = _seal(keyring.kek(kek_version), data_key.secret, aad)
    return WrappedKey(
        pseudonym=pseudonym,
        data_key_version=data_key.version,
        chain_key_id=keyring.key_id,
        chain_key_version=kek_version,
        wrapped=base64.b64encode(nonce + sealed),  # Base64Bytes decodes what it is given
    )


def unwrap(wrapped: WrappedKey, keyring: ChainKeyring) -> DataKey:
    """The data key inside `wrapped`.

    `UnknownKeyVersion` if it is under another chain key or a KEK version this keyring
    lacks; `AuthenticationFailed` if it was altered or moved to another pseudonym.
    """
    if wrapped.chain_key_id != keyring.key_id:
        raise UnknownKeyVersion(
            f"key of {wrapped.pseudonym} is wrapped under chain key "
            f"{wrapped.chain_key_id!r}; this keyring is {keyring.key_id!r}"
        )
    kek = keyring.kek(wrapped.chain_key_version)
    aad = _aad(
        _WRAPPED_KEY,
        wrapped.pseudonym,
        wrapped.data_key_version,
        wrapped.chain_key_id,
        wrapped.chain_key_version,
    )
    blob = wrapped.wrapped
    secret = _open(kek, blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad, what="wrapped key")
    if len(secret) != KEY_BYTES:  # authentic but not a key: only a buggy wrapper does that
        raise AuthenticationFailed(f"wrapped key of {wrapped.pseudonym} is not a data key")
    return DataKey(secret, wrapped.data_key_version)


def rewrap(wrapped: WrappedKey, keyring: ChainKeyring, to_version: int | None = None) -> WrappedKey:
    """Rotation: the same data key wrapped under KEK `to_version` (default: current).

    Nothing sealed under the data key changes. Already under `to_version`: returned as is,
    so a rotation that stopped half-way can simply run again.
    """
    target = keyring.current_version if to_version is None else to_version
    if wrapped.chain_key_id == keyring.key_id and wrapped.chain_key_version == target:
        return wrapped
    return wrap(unwrap(wrapped, keyring), keyring, wrapped.pseudonym, version=target)


# --- sealing -----------------------------------------------------------------------------


def seal_observation(
    observation_json: bytes,
    *,
    observation_id: UUID | str,
    pseudonym: str,
    property_id: str,
    data_key: DataKey,
) -> SealedObservation:
    """Seal one observation's JSON for the cloud.

    `observation_id` is the observation's UUID (or its 32-digit hex); `property_id` is the
    property that recorded it. The envelope fields must be the observation's own: they are
    what the cloud indexes by and what the AAD binds, and the reader trusts them.
    """
    obs_id = observation_id.hex if isinstance(observation_id, UUID) else observation_id
    aad = _observation_aad(pseudonym, obs_id, property_id, data_key.version)
    nonce, ciphertext = _seal(data_key.secret, observation_json, aad)
    return SealedObservation(
        id=obs_id,
        pseudonym=pseudonym,
        property_id=property_id,
        data_key_version=data_key.version,
        nonce=base64.b64encode(nonce),
        ciphertext=base64.b64encode(ciphertext),
    )


def open_observation(sealed: SealedObservation, data_key: DataKey) -> bytes:
    """The observation JSON, or `AuthenticationFailed` / `UnknownKeyVersion`."""
    _check_version(sealed.data_key_version, data_key, sealed.pseudonym)
    aad = _observation_aad(sealed.pseudonym, sealed.id, sealed.property_id, data_key.version)
    return _open(data_key.secret, sealed.nonce, sealed.ciphertext, aad, what="observation")


def seal_identity(identity_json: bytes, pseudonym: str, data_key: DataKey) -> SealedIdentity:
    """Seal a guest's name and contact, kept apart from the observations."""
    aad = _aad(_IDENTITY, pseudonym, data_key.version)
    nonce, ciphertext = _seal(data_key.secret, identity_json, aad)
    return SealedIdentity(
        pseudonym=pseudonym,
        data_key_version=data_key.version,
        nonce=base64.b64encode(nonce),
        ciphertext=base64.b64encode(ciphertext),
    )


def open_identity(sealed: SealedIdentity, data_key: DataKey) -> bytes:
    """The identity JSON, or `AuthenticationFailed` / `UnknownKeyVersion`."""
    _check_version(sealed.data_key_version, data_key, sealed.pseudonym)
    aad = _aad(_IDENTITY, sealed.pseudonym, data_key.version)
    return _open(data_key.secret, sealed.nonce, sealed.ciphertext, aad, what="identity")


# --- the primitives ----------------------------------------------------------------------


def _observation_aad(pseudonym: str, obs_id: str, property_id: str, version: int) -> bytes:
    # The property id is bound too: it is in the envelope for routing and audit, and
    # unbound the cloud could re-label who recorded an observation without detection.
    return _aad(_OBSERVATION, pseudonym, obs_id, property_id, version)


def _aad(domain: str, *fields: str | int) -> bytes:
    """Canonical associated data: the domain tag, then every field, each length-prefixed.

    Length prefixes make the encoding injective (("ab", "c") never equals ("a", "bc"));
    the domain tag comes first, so two kinds of ciphertext never share associated data
    even when their fields coincide. Integers are 8 bytes big-endian.
    """
    out = bytearray()
    for field in (domain, *fields):
        raw = field.to_bytes(8, "big") if isinstance(field, int) else field.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes, *, what: str) -> bytes:
    # Wrong lengths are refused here, not handed to the library (which would accept
    # other nonce sizes): they can only come from a damaged or forged record.
    if len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        raise AuthenticationFailed(f"{what}: malformed nonce or ciphertext")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise AuthenticationFailed(
            f"{what} failed authentication: altered, moved to another guest or id, "
            "or sealed under another key"
        ) from None


def _check_version(needed: int, data_key: DataKey, pseudonym: str) -> None:
    if needed != data_key.version:
        raise UnknownKeyVersion(
            f"sealed under data key v{needed} of {pseudonym}; given v{data_key.version}"
        )
