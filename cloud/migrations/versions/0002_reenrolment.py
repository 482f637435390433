"""Guests erased and enrolled again: the erased profile's data-key versions stay refused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sqltypes import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding them rewrites no row on either engine.
    op.add_column("guests", sa.Column("last_erased_at", UtcDateTime(), nullable=True))
    op.add_column("guests", sa.Column("erased_key_version", sa.Integer(), nullable=True))
    # Guests erased before this revision: their keys are gone, so the versions they used
    # cannot be known; 1 is every version the edge makes today (a first enrolment).
    op.execute(
        "UPDATE guests SET last_erased_at = erased_at, erased_key_version = 1 "
        "WHERE erased_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("guests") as batch:
        batch.drop_column("erased_key_version")
        batch.drop_column("last_erased_at")
