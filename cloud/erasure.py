"""Erasure by crypto-shredding: destroy the wrapped key, and the data with it.

Without its wrapped data key a guest's ciphertext cannot be read by anyone, the chain
key's holders included; the vault deletes the ciphertext rows too, so nothing of the
guest but a tombstone (pseudonym, erased_at) and the audit trail remains. The tombstone
makes later pulls answer 410 Gone, refuses later pushes, and tells every gateway to
purge its cached copy at its next sync (`PullResponse.erased`).

The tombstone also records the highest data-key version the erased profile used
(`erased_key_version`, at least 1). A guest who comes back and enrols again (a gateway
PUTs a wrapped key of a newer version: `vault.put_key`) starts a new, empty profile;
the erased one stays gone, and a key, observation or identity under an erased version,
from a gateway that still holds the old profile, is refused with 410 for good.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from . import audit
from .audit import Action, Purpose
from .auth import Principal
from .models import IdentityRow, Observation, WrappedKeyRow
from .vault import lock_guests

__all__ = ["ErasureReceipt", "erase"]


class ErasureReceipt(BaseModel):
    model_config = ConfigDict(frozen=True)

    pseudonym: str
    erased_at: datetime
    already_erased: bool
    keys_destroyed: int
    observations_deleted: int
    identity_deleted: bool
    erased_key_version: int  # a new profile needs a data key of a later version


def _delete(session: Session, entity: Any, pseudonym: str) -> int:
    result = session.execute(
        delete(entity)
        .where(entity.pseudonym == pseudonym)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


def erase(session: Session, admin: Principal, pseudonym: str, now: datetime) -> ErasureReceipt:
    """Erase a guest; idempotent. A pseudonym the vault never saw is tombstoned too, so
    a gateway that still holds the guest can neither push it nor keep its copy (its
    version-1 key is refused; a new profile starts at version 2)."""
    (guest,) = lock_guests(session, [pseudonym], create_at=now).values()
    if guest.erased_at is not None:
        return ErasureReceipt(
            pseudonym=pseudonym,
            erased_at=guest.erased_at,
            already_erased=True,
            keys_destroyed=0,
            observations_deleted=0,
            identity_deleted=False,
            erased_key_version=guest.erased_key_version or 1,
        )
    newest_key = session.execute(
        select(func.max(WrappedKeyRow.data_key_version)).where(WrappedKeyRow.pseudonym == pseudonym)
    ).scalar()
    erased_key_version = max(newest_key or 1, guest.erased_key_version or 1)
    keys = _delete(session, WrappedKeyRow, pseudonym)
    identity = _delete(session, IdentityRow, pseudonym)
    observations = _delete(session, Observation, pseudonym)
    guest.erased_at = now
    guest.last_erased_at = now
    guest.erased_key_version = erased_key_version
    audit.record(session, admin, Purpose.ERASURE, Action.ERASE, [pseudonym], now)
    session.flush()
    return ErasureReceipt(
        pseudonym=pseudonym,
        erased_at=now,
        already_erased=False,
        keys_destroyed=keys,
        observations_deleted=observations,
        identity_deleted=identity > 0,
        erased_key_version=erased_key_version,
    )
