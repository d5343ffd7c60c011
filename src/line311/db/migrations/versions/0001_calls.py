"""calls: one row per finished call

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("dialed_number", sa.String(32), nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("answered_at", _TS, nullable=True),
        sa.Column("ended_at", _TS, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("path", _JSON, nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_calls"),
    )
    op.create_index("ix_calls_started_at_call_id", "calls", ["started_at", "call_id"])
    op.create_index("ix_calls_outcome_started_at", "calls", ["outcome", "started_at"])
    op.create_index("ix_calls_queue_started_at", "calls", ["queue", "started_at"])
    op.create_index("ix_calls_agent_id_started_at", "calls", ["agent_id", "started_at"])
    op.create_index("ix_calls_caller_hash", "calls", ["caller_hash"])


def downgrade() -> None:
    op.drop_table("calls")
