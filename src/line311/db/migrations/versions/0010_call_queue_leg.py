"""calls: the queue leg of a call (detail as JSON; answer/abandon times, wait, talk indexed)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)
_INDEXES = {
    "ix_calls_queue_answered_at": ["queue_answered_at"],
    "ix_calls_abandoned_at": ["abandoned_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("queue_leg", _JSON, nullable=True))
        batch.add_column(sa.Column("queue_answered_at", _TS, nullable=True))
        batch.add_column(sa.Column("abandoned_at", _TS, nullable=True))
        batch.add_column(sa.Column("wait_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("talk_seconds", sa.Float(), nullable=True))
    for name, columns in _INDEXES.items():
        op.create_index(name, "calls", columns)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="calls")
    with op.batch_alter_table("calls") as batch:
        for column in ("talk_seconds", "wait_seconds", "abandoned_at", "queue_answered_at"):
            batch.drop_column(column)
        batch.drop_column("queue_leg")
