"""The chain keyring, held only by key holders (gateways, HQ's key officer; never the cloud).

It holds key-encryption keys (KEKs) by version, which wrap the guests' data keys, and a
separate secret for pseudonyms. Keeping the pseudonym secret apart means a KEK rotation
does not change any guest's pseudonym (which would orphan every stored profile).

The key file is JSON with base64 keys::

    {"format": "staysync-chain-keyring/1", "key_id": "chain-2026", "demo": false,
     "current_version": 2, "versions": {"1": "...", "2": "..."}, "pseudonym_secret": "..."}

Losing it loses every profile, so it is only ever written whole: a temporary file created
0600, fsynced, then renamed over the old one.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from shared.crypto.errors import DemoKeyRefused, KeyFileError, UnknownKeyVersion

__all__ = [
    "DEVELOPMENT",
    "KEY_BYTES",
    "ChainKeyring",
    "open_keyring",
    "pseudonym",
    "require_production_keys",
]

_log = logging.getLogger(__name__)

KEY_BYTES = 32  # AES-256 KEKs, data keys and the HMAC-SHA256 pseudonym secret
DEVELOPMENT = "development"  # the only environment where a demo keyring is allowed
DEMO_KEY_ID = "demo"
_FORMAT = "staysync-chain-keyring/1"
_KEY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # as shared.sync.WrappedKey.chain_key_id


def pseudonym(loyalty_id: str, secret: bytes) -> str:
    """The guest's name for the cloud: base64url, unpadded, of HMAC-SHA256(secret, id).

    Always 43 characters (`shared.sync.Pseudonym`). The loyalty id is normalised first, so
    the same card typed at two front desks gives one pseudonym: Unicode NFKC (full-width
    digits become ASCII), surrounding whitespace stripped, then case-folded. Nothing
    inside the id is touched: whether "1234 5678" equals "12345678" is the loyalty
    program's rule, not ours. Changing this normalisation changes every pseudonym.
    """
    if len(secret) != KEY_BYTES:
        raise ValueError(f"the pseudonym secret must be {KEY_BYTES} bytes")
    normalised = unicodedata.normalize("NFKC", loyalty_id).strip().casefold()
    if not normalised:
        raise ValueError("empty loyalty id")
    digest = hmac.new(secret, normalised.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class ChainKeyring:
    """The chain's KEKs by version, the current version, and the pseudonym secret.

    Immutable: rotation makes a new keyring (`with_new_version`), which the key holder
    saves before wrapping anything under it.
    """

    key_id: str
    keks: Mapping[int, bytes]
    current_version: int
    pseudonym_secret: bytes
    demo: bool = False

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise ValueError(f"chain key id {self.key_id!r} is not 1-64 of [A-Za-z0-9_.-]")
        keks = dict(self.keks)
        for version, kek in keks.items():
            if version < 1 or len(kek) != KEY_BYTES:
                raise ValueError(f"KEK version {version} must be >= 1 and {KEY_BYTES} bytes")
        if self.current_version not in keks:
            raise ValueError(f"current version {self.current_version} has no KEK")
        if len(self.pseudonym_secret) != KEY_BYTES:
            raise ValueError(f"the pseudonym secret must be {KEY_BYTES} bytes")
        # A read-only copy: nobody can slip a KEK into a keyring after it was checked.
        object.__setattr__(self, "keks", MappingProxyType(keks))

    def __repr__(self) -> str:
        # Never the key bytes: a keyring may end up in a log line or a traceback.
        return (
            f"ChainKeyring(key_id={self.key_id!r}, versions={list(self.versions)}, "
            f"current_version={self.current_version}, demo={self.demo})"
        )

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self.keks))

    def kek(self, version: int) -> bytes:
        """The KEK of `version`; `UnknownKeyVersion` if it was never added or was retired."""
        try:
            return self.keks[version]
        except KeyError:
            raise UnknownKeyVersion(
                f"chain key {self.key_id!r} has no version {version} (has {list(self.versions)})"
            ) from None

    def pseudonym(self, loyalty_id: str) -> str:
        return pseudonym(loyalty_id, self.pseudonym_secret)

    # --- making and rotating -------------------------------------------------------------

    @classmethod
    def generate(cls, key_id: str, *, demo: bool = False) -> ChainKeyring:
        """A fresh keyring, version 1, from the OS's CSPRNG."""
        return cls(
            key_id=key_id,
            keks={1: secrets.token_bytes(KEY_BYTES)},
            current_version=1,
            pseudonym_secret=secrets.token_bytes(KEY_BYTES),
            demo=demo,
        )

    def with_new_version(self) -> ChainKeyring:
        """Rotation, step 1: a new KEK that becomes current; the old ones still unwrap.

        Save the result before wrapping anything under it, or those keys are lost.
        """
        version = max(self.keks) + 1
        keks = {**self.keks, version: secrets.token_bytes(KEY_BYTES)}
        return replace(self, keks=keks, current_version=version)

    def without_version(self, version: int) -> ChainKeyring:
        """Rotation, last step: retire a KEK once no stored key is wrapped under it."""
        if version == self.current_version:
            raise ValueError(f"version {version} is current; add a new version first")
        self.kek(version)  # raises UnknownKeyVersion
        return replace(self, keks={v: k for v, k in self.keks.items() if v != version})

    # --- the key file --------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> ChainKeyring:
        """Read a key file; `KeyFileError` names what is wrong without echoing any key."""
        try:
            mode = path.stat().st_mode
            raw = path.read_bytes()
        except FileNotFoundError:
            raise KeyFileError(f"no chain key file at {path}") from None
        except OSError as exc:
            raise KeyFileError(f"cannot read chain key file {path}: {exc.strerror}") from None
        if stat.S_IMODE(mode) & 0o077:
            _log.warning(
                "chain key file %s is open to group or others (mode %04o); it should be 0600",
                path,
                stat.S_IMODE(mode),
            )
        try:
            data = _KeyFile.model_validate_json(raw)
            return cls(
                key_id=data.key_id,
                keks={int(v): _b64decode(k) for v, k in data.versions.items()},
                current_version=data.current_version,
                pseudonym_secret=_b64decode(data.pseudonym_secret),
                demo=data.demo,
            )
        except ValidationError as exc:
            # pydantic's message quotes the input, which here is key material: keep only
            # where and what, and drop the chained exception (`from None`) for the same reason.
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise KeyFileError(f"chain key file {path} is malformed: {problems}") from None
        except (ValueError, binascii.Error) as exc:
            raise KeyFileError(f"chain key file {path} is malformed: {exc}") from None

    def save(self, path: Path) -> None:
        """Write the key file atomically with mode 0600, replacing any previous one."""
        try:
            _write_private(path, self._to_json(), replace=True)
        except OSError as exc:
            raise KeyFileError(f"cannot write chain key file {path}: {exc.strerror}") from exc

    @classmethod
    def generate_demo(cls, path: Path) -> ChainKeyring:
        """First run in development: a new keyring marked demo, written to `path` (0600).

        Never overwrites: replacing a keyring would shred every profile sealed under it.
        """
        try:
            return cls._create_demo(path)
        except FileExistsError:
            raise KeyFileError(f"{path} exists; refusing to overwrite a keyring") from None
        except OSError as exc:
            raise KeyFileError(f"cannot write chain key file {path}: {exc.strerror}") from exc

    @classmethod
    def _create_demo(cls, path: Path) -> ChainKeyring:
        keyring = cls.generate(DEMO_KEY_ID, demo=True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except FileExistsError:  # a file where the directory should be; not a lost race
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path.parent) from None
        _write_private(path, keyring._to_json(), replace=False)
        _log.warning("generated a DEMO chain keyring at %s: for development only", path)
        return keyring

    def _to_json(self) -> bytes:
        document = _KeyFile(
            format=_FORMAT,
            key_id=self.key_id,
            demo=self.demo,
            current_version=self.current_version,
            versions={str(v): _b64encode(self.keks[v]) for v in self.versions},
            pseudonym_secret=_b64encode(self.pseudonym_secret),
        )
        return document.model_dump_json(indent=2).encode() + b"\n"


def require_production_keys(keyring: ChainKeyring, environment: str) -> None:
    """Refuse a demo keyring anywhere but development (`DemoKeyRefused`).

    Fails closed: any environment name other than exactly "development" counts as real.
    """
    if keyring.demo and environment != DEVELOPMENT:
        raise DemoKeyRefused(
            f"chain key {keyring.key_id!r} is a demo key generated at first run; refused in "
            f"{environment!r}: install the chain's key file"
        )


def open_keyring(path: Path, environment: str) -> ChainKeyring:
    """The keyring a starting service should use; what settings and start-up call.

    In development a missing file is created with a demo keyring. Elsewhere the file must
    exist (`KeyFileError`) and must not be a demo keyring (`DemoKeyRefused`).
    """
    if environment == DEVELOPMENT and not path.exists():
        try:
            return ChainKeyring._create_demo(path)
        except FileExistsError:
            pass  # another process made it first; use theirs
        except OSError as exc:
            raise KeyFileError(f"cannot write chain key file {path}: {exc.strerror}") from exc
    keyring = ChainKeyring.load(path)
    require_production_keys(keyring, environment)
    return keyring


class _KeyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["staysync-chain-keyring/1"]
    key_id: str
    demo: StrictBool  # required: a file that does not say is not assumed to be real
    current_version: int
    versions: dict[str, str]
    pseudonym_secret: str


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _write_private(path: Path, data: bytes, *, replace: bool) -> None:
    """Write `data` to `path` whole, readable by the owner only.

    The bytes go to a temporary file in the same directory, created 0600 (so the key is
    never on disk with wider permissions), written and fsynced, then moved into place and
    the directory fsynced: after a crash there is the old file or the new one, never a torn
    one. With ``replace=False`` an existing `path` is kept and `FileExistsError` raised
    (`os.link` refuses to overwrite, atomically, where a check-then-rename would race).
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask can only narrow 0600; make it exactly that
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
