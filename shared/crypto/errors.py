"""The exceptions of `shared.crypto`: one root, one subclass per cause.

Messages name keys by id and version only, never by their bytes, so any of these may be
logged.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "CryptoError",
    "DemoKeyRefused",
    "KeyFileError",
    "UnknownKeyVersion",
]


class CryptoError(Exception):
    """Root of every error `shared.crypto` raises on purpose."""


class AuthenticationFailed(CryptoError):
    """A ciphertext or wrapped key failed GCM authentication: tampered with, moved to
    another guest or id, or sealed under another key. Nothing was decrypted."""


class UnknownKeyVersion(CryptoError):
    """The key a ciphertext names (chain key id and version, or data-key version) is not
    the one given or not held."""


class DemoKeyRefused(CryptoError):
    """A demo keyring, generated at first run, is used outside development."""


class KeyFileError(CryptoError):
    """The chain key file is missing, unreadable or malformed, or would be overwritten."""
