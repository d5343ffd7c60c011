"""api_keys: the CCR an agent_desktop key belongs to (agent_id)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 00:00:00

Nullable: desk keys made before this revision stay unbound, and keep working (the bridge
warns about them at start), so an upgrade does not lock a city's desks out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("agent_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("agent_id")
