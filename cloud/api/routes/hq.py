"""HQ: erase a guest (hq_admin), follow a chain-key rotation (key_officer), read the
audit log (auditor). One role per endpoint: least privilege."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from cloud import audit, erasure, rotation
from cloud.api.deps import (
    PSEUDONYM_PATTERN,
    Auditor,
    HqAdmin,
    KeyOfficer,
    MetricsDep,
    PseudonymPath,
    SessionDep,
    SnapshotDep,
)
from cloud.audit import AuditPage
from cloud.erasure import ErasureReceipt
from cloud.errors import InvalidRequest
from cloud.rotation import RotationStart, RotationStatus
from cloud.sqltypes import utcnow
from shared.sync import MAX_BATCH, WrappedKeyBatch, WrappedKeyPage

router = APIRouter(prefix="/v1/hq", tags=["hq"])


@router.post("/guests/{pseudonym}/erase")
def erase_guest(
    pseudonym: PseudonymPath, admin: HqAdmin, session: SessionDep, metrics: MetricsDep
) -> ErasureReceipt:
    """Crypto-shred the guest: wrapped keys, identity and ciphertext go; pulls answer 410
    and gateways are told to purge. Erasing again answers the first erasure's receipt."""
    receipt = erasure.erase(session, admin, pseudonym, utcnow())
    session.commit()
    if not receipt.already_erased:
        metrics.erasures.inc()
    return receipt


@router.get("/audit")
def read_audit(
    auditor: Auditor,
    session: SnapshotDep,
    pseudonym: Annotated[str | None, Query(pattern=PSEUDONYM_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 with offset")] = None,
    after: Annotated[int, Query(ge=0, description="next_cursor of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 100,
) -> AuditPage:
    if since is not None and since.tzinfo is None:
        raise InvalidRequest(f"since={since.isoformat()} has no UTC offset: add one (e.g. Z)")
    return audit.query(session, pseudonym=pseudonym, since=since, after=after, limit=limit)


@router.post("/rotations", status_code=status.HTTP_201_CREATED)
def start_rotation(
    request: RotationStart, officer: KeyOfficer, session: SessionDep
) -> RotationStatus:
    """Begin moving every wrapped key from one chain-key version to the next."""
    started = rotation.start(session, officer, request, utcnow())
    session.commit()
    return started


@router.get("/rotations/current")
def current_rotation(officer: KeyOfficer, session: SnapshotDep) -> RotationStatus:
    return rotation.status(session, rotation.current(session))


@router.get("/rotations/current/keys")
def keys_to_rewrap(
    officer: KeyOfficer,
    session: SnapshotDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = MAX_BATCH,
) -> WrappedKeyPage:
    """Wrapped keys still under the old chain-key version (re-wrapped ones drop out, so
    an interrupted run resumes by listing from 0 again)."""
    page = rotation.list_keys(session, officer, after, limit, utcnow())
    session.commit()
    return page


@router.put("/rotations/current/keys")
def put_rewrapped_keys(
    batch: WrappedKeyBatch, officer: KeyOfficer, session: SessionDep, metrics: MetricsDep
) -> RotationStatus:
    """Replace keys by their re-wrapped form; idempotent, progress is counted."""
    before = rotation.current(session).rewrapped
    progress = rotation.rewrap(session, officer, batch, utcnow())
    session.commit()
    metrics.keys_rewrapped.inc(progress.rewrapped - before)
    return progress


@router.post("/rotations/current/finish")
def finish_rotation(officer: KeyOfficer, session: SessionDep) -> RotationStatus:
    """Close the rotation; refused while any key is still at the old version."""
    finished = rotation.finish(session, utcnow())
    session.commit()
    return finished
