"""Chain-key rotation, as the vault sees it: it stores and counts, the key officer works.

The chain key never reaches the cloud, so the re-wrapping happens where it is held
(``staysync keys rotate`` at HQ's key officer): it starts a rotation, lists the wrapped
keys still under the old chain-key version, unwraps and re-wraps them locally and puts
them back, batch by batch. Re-wrapped keys leave the listing, so an interrupted run
resumes by listing again. Only ``wrapped_keys`` rows change: every observation stays
sealed under its guest's data key, which a rotation does not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.sync import WrappedKey, WrappedKeyBatch, WrappedKeyPage

from . import audit
from .audit import Action, Purpose
from .auth import Principal
from .errors import InvalidRequest, NotFound, RotationConflict
from .models import Guest, Rotation, WrappedKeyRow
from .wire import check_wrapped, wrapped_key

__all__ = [
    "RotationStart",
    "RotationStatus",
    "active",
    "apply_rewrap",
    "finish",
    "list_keys",
    "rewrap",
    "start",
    "status",
    "versions_in_use",
]


class RotationStart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    from_version: int = Field(ge=1)
    to_version: int = Field(ge=1)

    @model_validator(mode="after")
    def _forward(self) -> RotationStart:
        if self.to_version <= self.from_version:
            raise ValueError(
                f"to_version ({self.to_version}) must be greater than from_version "
                f"({self.from_version})"
            )
        return self


class RotationStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    from_version: int
    to_version: int
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    total_keys: int = Field(description="keys at from_version when the rotation started")
    rewrapped: int
    remaining: int = Field(description="keys still at from_version now")
    last_key_id: int = Field(description="highest key id re-wrapped so far")


def active(session: Session, *, lock: bool = False) -> Rotation | None:
    stmt = select(Rotation).where(Rotation.active.is_(True))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.execute(stmt).scalar_one_or_none()


def _current_version(session: Session) -> int | None:
    """The chain-key version the last finished rotation moved to, if any."""
    return session.execute(
        select(Rotation.to_version)
        .where(Rotation.finished_at.is_not(None))
        .order_by(Rotation.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def versions_in_use(session: Session, running: Rotation | None) -> set[int]:
    """Chain-key versions a new wrapped key may use; empty: any (no rotation yet)."""
    if running is not None:
        return {running.from_version, running.to_version}
    current = _current_version(session)
    return set() if current is None else {current}


def _remaining(session: Session, rotation: Rotation) -> int:
    return session.execute(
        select(func.count())
        .select_from(WrappedKeyRow)
        .where(WrappedKeyRow.chain_key_version == rotation.from_version)
    ).scalar_one()


def status(session: Session, rotation: Rotation) -> RotationStatus:
    remaining = 0 if rotation.finished_at is not None else _remaining(session, rotation)
    return RotationStatus(
        id=rotation.id,
        from_version=rotation.from_version,
        to_version=rotation.to_version,
        started_by=rotation.started_by,
        started_at=rotation.started_at,
        finished_at=rotation.finished_at,
        total_keys=rotation.total_keys,
        rewrapped=rotation.rewrapped,
        remaining=remaining,
        last_key_id=rotation.last_key_id,
    )


def current(session: Session, *, lock: bool = False) -> Rotation:
    running = active(session, lock=lock)
    if running is None:
        raise NotFound("no chain-key rotation is running (POST /v1/hq/rotations starts one)")
    return running


def start(
    session: Session, officer: Principal, request: RotationStart, now: datetime
) -> RotationStatus:
    running = active(session)
    if running is not None:
        raise RotationConflict(
            f"rotation {running.id} from chain-key version {running.from_version} to "
            f"{running.to_version} is running since {running.started_at.isoformat()}: "
            "finish it first"
        )
    in_use = _current_version(session)
    if in_use is not None and request.from_version != in_use:
        raise RotationConflict(
            f"the chain key is at version {in_use}, not {request.from_version}: "
            f"rotate from {in_use}"
        )
    rotation = Rotation(
        from_version=request.from_version,
        to_version=request.to_version,
        started_by=officer.actor,
        started_at=now,
        active=True,
        total_keys=0,
        rewrapped=0,
        last_key_id=0,
    )
    rotation.total_keys = _remaining(session, rotation)
    session.add(rotation)
    try:
        session.flush()
    except IntegrityError as exc:  # another officer started one at the same moment
        raise RotationConflict("another rotation was started at the same time") from exc
    return status(session, rotation)


def list_keys(
    session: Session, officer: Principal, after: int, limit: int, now: datetime
) -> WrappedKeyPage:
    """Keys still under the old chain-key version, by id; each listing is audited."""
    rotation = current(session)
    rows = list(
        session.execute(
            select(WrappedKeyRow)
            .where(
                WrappedKeyRow.chain_key_version == rotation.from_version,
                WrappedKeyRow.id > after,
            )
            .order_by(WrappedKeyRow.id)
            .limit(limit + 1)
        ).scalars()
    )
    page = rows[:limit]
    audit.record(
        session, officer, Purpose.ROTATION, Action.READ_KEY, [r.pseudonym for r in page], now
    )
    return WrappedKeyPage(
        keys=[wrapped_key(row) for row in page],
        next_cursor=page[-1].id if page else after,
        more=len(rows) > limit,
    )


def apply_rewrap(
    session: Session,
    rotation: Rotation,
    pairs: Sequence[tuple[WrappedKeyRow, WrappedKey]],
    now: datetime,
) -> None:
    """Replace old-version keys by their re-wrapped form and count them."""
    for row, key in pairs:
        row.chain_key_id = key.chain_key_id
        row.chain_key_version = key.chain_key_version
        row.wrapped = key.wrapped
        row.updated_at = now
    if pairs:
        locked = session.execute(
            select(Rotation)
            .where(Rotation.id == rotation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        locked.rewrapped += len(pairs)
        locked.last_key_id = max(locked.last_key_id, *(row.id for row, _ in pairs))
    session.flush()


def rewrap(
    session: Session, officer: Principal, batch: WrappedKeyBatch, now: datetime
) -> RotationStatus:
    """Put back re-wrapped keys. Idempotent: a key already re-wrapped is skipped, and a key
    whose guest was erased meanwhile is dropped (there is nothing to keep)."""
    rotation = current(session, lock=True)
    for key in batch.keys:
        check_wrapped(key)
        if key.chain_key_version != rotation.to_version:
            raise InvalidRequest(
                f"the key of guest {key.pseudonym} is wrapped under chain-key version "
                f"{key.chain_key_version}; rotation {rotation.id} re-wraps to "
                f"{rotation.to_version}"
            )
    wanted = {(key.pseudonym, key.data_key_version): key for key in batch.keys}
    rows = {
        (row.pseudonym, row.data_key_version): row
        for row in session.execute(
            select(WrappedKeyRow)
            .where(tuple_(WrappedKeyRow.pseudonym, WrappedKeyRow.data_key_version).in_(wanted))
            .order_by(WrappedKeyRow.id)
            .with_for_update()
        ).scalars()
    }
    missing = [pair for pair in wanted if pair not in rows]
    if missing:
        erased = set(
            session.execute(
                select(Guest.pseudonym).where(
                    Guest.pseudonym.in_({p for p, _ in missing}), Guest.erased_at.is_not(None)
                )
            ).scalars()
        )
        for pseudonym, version in missing:
            if pseudonym not in erased:
                raise NotFound(
                    f"guest {pseudonym} has no wrapped key at data-key version {version} to re-wrap"
                )
    # A key already at the new version is left as it is, whatever bytes came: wrapping
    # is not deterministic (shared.crypto seals with a random nonce), so a batch wrapped
    # again after a lost answer differs from the stored one; the first one stored wins.
    changes = [
        (row, wanted[pair])
        for pair, row in rows.items()
        if row.chain_key_version == rotation.from_version
    ]
    apply_rewrap(session, rotation, changes, now)
    return status(session, rotation)


def finish(session: Session, now: datetime) -> RotationStatus:
    rotation = current(session, lock=True)
    remaining = _remaining(session, rotation)
    if remaining:
        raise RotationConflict(
            f"{remaining} wrapped key(s) are still at chain-key version "
            f"{rotation.from_version}: re-wrap them first (GET /v1/hq/rotations/current/keys)"
        )
    rotation.finished_at = now
    rotation.active = None
    session.flush()
    return status(session, rotation)
