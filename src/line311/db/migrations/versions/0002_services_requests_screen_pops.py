"""services, service_requests, screen_pops: the Open311 side and the CCR desktop

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("service_name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("agency", sa.String(32), nullable=False),
        sa.Column("group_name", sa.String(100), nullable=False),
        sa.Column("keywords", sa.String(500), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("service_notice", sa.Text(), nullable=False),
        sa.Column("expected_days", sa.Integer(), nullable=True),
        sa.Column("attributes", _JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("service_code", name="pk_services"),
    )
    op.create_table(
        "service_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sr_number", sa.String(16), nullable=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_notes", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("agency_responsible", sa.String(32), nullable=False),
        sa.Column("service_notice", sa.Text(), nullable=True),
        sa.Column("requested_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("expected_at", _TS, nullable=True),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("address_id", sa.String(64), nullable=True),
        sa.Column("zipcode", sa.String(10), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("media_url", sa.String(500), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("attributes", _JSON, nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=True),
        sa.Column("call_id", sa.String(128), nullable=True),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("first_name", sa.String(100), nullable=True),
        sa.Column("last_name", sa.String(100), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_service_requests"),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["services.service_code"],
            name="fk_service_requests_service_code_services",
        ),
        sa.UniqueConstraint("sr_number", name="uq_service_requests_sr_number"),
        sa.UniqueConstraint("token", name="uq_service_requests_token"),
    )
    op.create_index("ix_service_requests_requested_at", "service_requests", ["requested_at"])
    op.create_index(
        "ix_service_requests_service_code_requested_at",
        "service_requests",
        ["service_code", "requested_at"],
    )
    op.create_index(
        "ix_service_requests_status_requested_at", "service_requests", ["status", "requested_at"]
    )
    op.create_index(
        "ix_service_requests_caller_hash_requested_at",
        "service_requests",
        ["caller_hash", "requested_at"],
    )
    op.create_table(
        "screen_pops",
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=True),
        sa.Column("path", _JSON, nullable=False),
        sa.Column("alerts", _JSON, nullable=False),
        sa.Column("wait_seconds", sa.Float(), nullable=False),
        sa.Column("connected_at", _TS, nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("call_id", "agent_id", name="pk_screen_pops"),
    )
    op.create_index(
        "ix_screen_pops_agent_id_connected_at", "screen_pops", ["agent_id", "connected_at"]
    )


def downgrade() -> None:
    op.drop_table("screen_pops")
    op.drop_table("service_requests")
    op.drop_table("services")
