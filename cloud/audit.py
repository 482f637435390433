"""The audit trail: every read of a profile, erasure and key access leaves a row.

Rows are written in the same transaction as the access they record, so there is no
access without its row: if the audit insert fails, the caller gets an error, not data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from .auth import Principal
from .models import AuditEntry

__all__ = [
    "GATEWAY_PURPOSES",
    "Action",
    "AuditPage",
    "AuditRecord",
    "Purpose",
    "query",
    "record",
]


_AUDIT_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
_INSERT = insert(_AUDIT_LOG)


class Purpose(StrEnum):
    """Why a profile was accessed; gateways declare it with ``X-Purpose``."""

    ARRIVAL = "arrival"  # an upcoming arrival: prepare the room
    SYNC = "sync"  # keeping the edge cache up to date
    SERVICE = "service"  # staff serving a guest in house
    ERASURE = "erasure"  # HQ erasing the guest
    ROTATION = "rotation"  # the key officer re-wrapping data keys
    ENROLMENT = "enrolment"  # an erased guest enrolling again (a new profile)


GATEWAY_PURPOSES = frozenset({Purpose.ARRIVAL, Purpose.SYNC, Purpose.SERVICE})


class Action(StrEnum):
    PULL = "pull"  # observations and wrapped keys in a pull
    READ_OBSERVATIONS = "read_observations"  # one guest's page
    READ_IDENTITY = "read_identity"
    ERASE = "erase"
    READ_KEY = "read_key"  # a wrapped key listed for rotation
    REENROL = "reenrol"  # an erased guest's new profile began (its first new key)


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    at: datetime
    actor: str
    role: str
    pseudonym: str | None
    purpose: str
    action: str


class AuditPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: list[AuditRecord]
    next_cursor: int
    more: bool


def record(
    session: Session,
    principal: Principal,
    purpose: Purpose,
    action: Action,
    pseudonyms: Iterable[str | None],
    at: datetime,
) -> int:
    rows = [
        {
            "at": at,
            "actor": principal.actor,
            "role": principal.role,
            "pseudonym": pseudonym,
            "purpose": purpose.value,
            "action": action.value,
        }
        for pseudonym in pseudonyms
    ]
    if rows:
        # Core, not the ORM's bulk insert: nothing needs the rows back as objects.
        session.execute(_INSERT, rows)
    return len(rows)


def query(
    session: Session,
    *,
    pseudonym: str | None,
    since: datetime | None,
    after: int,
    limit: int,
) -> AuditPage:
    stmt = select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id)
    if pseudonym is not None:
        stmt = stmt.where(AuditEntry.pseudonym == pseudonym)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    rows = list(session.execute(stmt.limit(limit + 1)).scalars())
    more = len(rows) > limit
    entries = [AuditRecord.model_validate(row) for row in rows[:limit]]
    return AuditPage(entries=entries, next_cursor=entries[-1].id if entries else after, more=more)
