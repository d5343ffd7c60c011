"""alerts: pushed announcements and CCR messages, their audio, audit log, phone sign-in

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(48), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("languages", _JSON, nullable=False),
        sa.Column("node", sa.String(64), nullable=True),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("texts", _JSON, nullable=False),
        sa.Column("audio", _JSON, nullable=False),
        sa.Column("ccr_text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_state_ends_at", "alerts", ["state", "ends_at"])
    op.create_table(
        "alert_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(48), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=False),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_audit"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_alert_audit_alert_id_alerts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_alert_audit_alert_id_id", "alert_audit", ["alert_id", "id"])
    op.create_table(
        "alert_audio_assets",
        sa.Column("alert_id", sa.String(48), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("rms_dbfs", sa.Float(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "language", name="pk_alert_audio_assets"),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name="fk_alert_audio_assets_alert_id_alerts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "alert_supervisors",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("phone_id", sa.String(16), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_alert_supervisors"),
        sa.UniqueConstraint("phone_id", name="uq_alert_supervisors_phone_id"),
    )
    op.create_table(
        "alert_phone_lockouts",
        sa.Column("line", sa.String(128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("line", name="pk_alert_phone_lockouts"),
    )


def downgrade() -> None:
    op.drop_table("alert_phone_lockouts")
    op.drop_table("alert_supervisors")
    op.drop_table("alert_audio_assets")
    op.drop_index("ix_alert_audit_alert_id_id", table_name="alert_audit")
    op.drop_table("alert_audit")
    op.drop_index("ix_alerts_state_ends_at", table_name="alerts")
    op.drop_table("alerts")
