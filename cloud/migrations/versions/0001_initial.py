"""The vault: gateways, guests, wrapped keys, observations, identities, audit, rotations.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sqltypes import BigSerial, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("property_id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gateways"),
    )
    op.create_index("ix_gateways_property_id", "gateways", ["property_id"])

    op.create_table(
        "guests",
        sa.Column("pseudonym", sa.String(43), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("erased_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pseudonym", name="pk_guests"),
    )

    op.create_table(
        "wrapped_keys",
        sa.Column("id", BigSerial, sa.Identity(), nullable=False),
        sa.Column("pseudonym", sa.String(43), nullable=False),
        sa.Column("data_key_version", sa.Integer(), nullable=False),
        sa.Column("chain_key_id", sa.String(64), nullable=False),
        sa.Column("chain_key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_wrapped_keys"),
        sa.ForeignKeyConstraint(
            ["pseudonym"], ["guests.pseudonym"], name="fk_wrapped_keys_pseudonym_guests"
        ),
        sa.UniqueConstraint(
            "pseudonym", "data_key_version", name="uq_wrapped_keys_pseudonym_data_key_version"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_wrapped_keys_chain_key_version_id", "wrapped_keys", ["chain_key_version", "id"]
    )

    op.create_table(
        "observations",
        sa.Column("seq", BigSerial, sa.Identity(), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("pseudonym", sa.String(43), nullable=False),
        sa.Column("property_id", sa.String(64), nullable=False),
        sa.Column("data_key_version", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_observations"),
        sa.ForeignKeyConstraint(
            ["pseudonym"], ["guests.pseudonym"], name="fk_observations_pseudonym_guests"
        ),
        sa.UniqueConstraint("id", name="uq_observations_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_observations_pseudonym_seq", "observations", ["pseudonym", "seq"])

    op.create_table(
        "identities",
        sa.Column("pseudonym", sa.String(43), nullable=False),
        sa.Column("data_key_version", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name="pk_identities"),
        sa.ForeignKeyConstraint(
            ["pseudonym"], ["guests.pseudonym"], name="fk_identities_pseudonym_guests"
        ),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", BigSerial, sa.Identity(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("pseudonym", sa.String(43), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_pseudonym_id", "audit_log", ["pseudonym", "id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    op.create_table(
        "rotations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("total_keys", sa.Integer(), nullable=False),
        sa.Column("rewrapped", sa.Integer(), nullable=False),
        sa.Column("last_key_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rotations"),
        sa.UniqueConstraint("active", name="uq_rotations_active"),
    )


def downgrade() -> None:
    for table in (
        "rotations",
        "audit_log",
        "identities",
        "observations",
        "wrapped_keys",
        "guests",
        "gateways",
    ):
        op.drop_table(table)
