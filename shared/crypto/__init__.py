"""Envelope encryption for guest profiles: the cloud only ever sees ciphertext.

From the outside in:

* The **chain keyring** (`ChainKeyring`), held by key holders only (the gateways and
  HQ's key officer, never the cloud): key-encryption keys by version, plus a separate
  secret for pseudonyms. `open_keyring` loads it at start-up, generating a demo keyring
  on a development machine's first run and refusing one anywhere else.
* A guest appears to the cloud as a **pseudonym** (`pseudonym`), an HMAC of the
  loyalty id.
* Each guest has a **data key** (`DataKey`), which leaves the edge only wrapped by the
  chain key (`wrap`, `unwrap`; `rewrap` for rotation) as a `shared.sync.WrappedKey`.
* Every observation and the guest's identity are **sealed** under the data key
  (`seal_observation`, `seal_identity`) into `shared.sync` models.

Erasure destroys the guest's wrapped key wherever it is stored (crypto-shredding);
rotation re-wraps data keys under a new KEK version without touching sealed data.
"""

from shared.crypto.envelope import (
    NONCE_BYTES,
    TAG_BYTES,
    DataKey,
    open_identity,
    open_observation,
    rewrap,
    seal_identity,
    seal_observation,
    unwrap,
    wrap,
)
from shared.crypto.errors import (
    AuthenticationFailed,
    CryptoError,
    DemoKeyRefused,
    KeyFileError,
    UnknownKeyVersion,
)
from shared.crypto.keyring import (
    DEVELOPMENT,
    KEY_BYTES,
    ChainKeyring,
    open_keyring,
    pseudonym,
    require_production_keys,
)

__all__ = [
    "DEVELOPMENT",
    "KEY_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "AuthenticationFailed",
    "ChainKeyring",
    "CryptoError",
    "DataKey",
    "DemoKeyRefused",
    "KeyFileError",
    "UnknownKeyVersion",
    "open_identity",
    "open_keyring",
    "open_observation",
    "pseudonym",
    "require_production_keys",
    "rewrap",
    "seal_identity",
    "seal_observation",
    "unwrap",
    "wrap",
]
