"""The vault's tables (SQLAlchemy 2, typed ORM). The Alembic revisions create them.

Nothing here can hold a plaintext preference, a name or a loyalty id: guests are known by
pseudonym, observations and identities are ciphertext, data keys are wrapped by a chain
key that the cloud never holds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .sqltypes import BigSerial, UtcDateTime, utcnow

__all__ = [
    "AuditEntry",
    "Base",
    "Gateway",
    "Guest",
    "IdentityRow",
    "Observation",
    "Rotation",
    "WrappedKeyRow",
]

PSEUDONYM = 43
NAME = 64


class Base(DeclarativeBase):
    # Named constraints: Alembic can then alter or drop them on both engines.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Gateway(Base):
    """A property's gateway; it authenticates with ``<id>.<secret>``, the secret stored as
    its SHA-256 only."""

    __tablename__ = "gateways"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    property_id: Mapped[str] = mapped_column(String(NAME), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Guest(Base):
    """A pseudonym the vault knows; after erasure only this tombstone remains."""

    __tablename__ = "guests"

    pseudonym: Mapped[str] = mapped_column(String(PSEUDONYM), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set while the guest is erased; cleared when the guest enrols again (a new profile).
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Kept across a re-enrolment: the last erasure, and the highest data-key version that
    # the erased profiles used (at least 1). Keys and observations at or below it belong
    # to an erased profile and are refused (410) for good.
    last_erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    erased_key_version: Mapped[int | None] = mapped_column(Integer)


class WrappedKeyRow(Base):
    """A guest's data key (one row per data-key version) wrapped by the chain key."""

    __tablename__ = "wrapped_keys"
    __table_args__ = (
        UniqueConstraint("pseudonym", "data_key_version"),
        # Rotation lists the keys still at the old chain-key version, by id.
        Index(None, "chain_key_version", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigSerial, Identity(), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(ForeignKey("guests.pseudonym"))
    data_key_version: Mapped[int] = mapped_column(Integer)
    chain_key_id: Mapped[str] = mapped_column(String(NAME))
    chain_key_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Observation(Base):
    """One sealed observation; ``seq`` is the cursor of a guest's pages. Never updated."""

    __tablename__ = "observations"
    __table_args__ = (
        Index(None, "pseudonym", "seq"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(BigSerial, Identity(), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    pseudonym: Mapped[str] = mapped_column(ForeignKey("guests.pseudonym"))
    property_id: Mapped[str] = mapped_column(String(NAME))
    data_key_version: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class IdentityRow(Base):
    """Name and contact, sealed, kept apart from the observations."""

    __tablename__ = "identities"

    pseudonym: Mapped[str] = mapped_column(ForeignKey("guests.pseudonym"), primary_key=True)
    data_key_version: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEntry(Base):
    """Who read or changed which guest's profile, when, and for what purpose.

    No foreign key to guests: the trail of an erased guest outlives its data.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "pseudonym", "id"),
        Index(None, "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigSerial, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(NAME))
    role: Mapped[str] = mapped_column(String(32))
    pseudonym: Mapped[str | None] = mapped_column(String(PSEUDONYM))
    purpose: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))


class Rotation(Base):
    """A chain-key rotation: the key officer re-wraps every data key, the vault counts."""

    __tablename__ = "rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    started_by: Mapped[str] = mapped_column(String(NAME))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # True while running, NULL once finished: the unique constraint then admits one
    # running rotation at a time, on both engines (NULLs are distinct).
    active: Mapped[bool | None] = mapped_column(unique=True, default=True)
    total_keys: Mapped[int] = mapped_column(Integer)
    rewrapped: Mapped[int] = mapped_column(Integer, default=0)
    last_key_id: Mapped[int] = mapped_column(BigInteger, default=0)
