"""service_requests: composite index for Open311 searches filtering on service and status

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ix_service_requests_service_code_status_requested_at"


def upgrade() -> None:
    op.create_index(_NAME, "service_requests", ["service_code", "status", "requested_at"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="service_requests")
