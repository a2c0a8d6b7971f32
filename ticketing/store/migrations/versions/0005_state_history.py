"""The state history for the monthly reports (issue 16): agent runs with their last-alive
time, and every hard state change and maintenance window edge, keyed by device.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_alive", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_runs"),
    )
    op.create_index("ix_monitor_runs_started_at", "monitor_runs", ["started_at"])
    op.create_table(
        "state_changes",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("check", sa.String(32), nullable=False),
        sa.Column("item", sa.Text(), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_state_changes"),
        sa.ForeignKeyConstraint(["run_id"], ["monitor_runs.id"], ondelete="RESTRICT",
                                name="fk_state_changes_run_id"),
    )
    op.create_index("ix_state_changes_at", "state_changes", ["at"])
    op.create_index("ix_state_changes_run_device", "state_changes",
                    ["run_id", "device", "check", "item", "at"])


def downgrade() -> None:
    op.drop_index("ix_state_changes_run_device", table_name="state_changes")
    op.drop_index("ix_state_changes_at", table_name="state_changes")
    op.drop_table("state_changes")
    op.drop_index("ix_monitor_runs_started_at", table_name="monitor_runs")
    op.drop_table("monitor_runs")
