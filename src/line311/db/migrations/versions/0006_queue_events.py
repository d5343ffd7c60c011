"""queue_events: every queue fact (enqueued, answered, abandoned, agent state ...), for SL reports

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "queue_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(160), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("data", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_events"),
    )
    op.create_index("ix_queue_events_at", "queue_events", ["at"])
    op.create_index("ix_queue_events_call_id", "queue_events", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_queue_events_call_id", table_name="queue_events")
    op.drop_index("ix_queue_events_at", table_name="queue_events")
    op.drop_table("queue_events")
