"""Several agents on one database (issue 15): members with leases, singleton duties with
leases, and the writing member of each ticket event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_members",
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inventory_hash", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("node", name="pk_cluster_members"),
        sa.CheckConstraint("epoch >= 1", name="ck_cluster_members_epoch"),
    )
    op.create_table(
        "cluster_leases",
        sa.Column("duty", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("duty", name="pk_cluster_leases"),
        sa.CheckConstraint("epoch >= 1", name="ck_cluster_leases_epoch"),
    )
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(sa.Column("writer", sa.String(64), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_column("writer")
    op.drop_table("cluster_leases")
    op.drop_table("cluster_members")
