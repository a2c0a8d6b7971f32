"""The ticket store: tickets (materialized rows) and ticket_events (the audit trail).

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written by hand, frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

OPEN_WITH_KEY = "status = 'open' AND dedup_key <> ''"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("fault", sa.String(32), nullable=False),
        sa.Column("item", sa.Text(), nullable=False, server_default=""),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedup_key", sa.Text(), nullable=False, server_default=""),
        sa.Column("sop_version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("body", _json(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("year", "number", name="uq_tickets_year_number"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_tickets_status"),
        sa.CheckConstraint("seq >= 1", name="ck_tickets_seq"),
    )
    op.create_index(
        "uq_tickets_open_dedup",
        "tickets",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text(OPEN_WITH_KEY),
        postgresql_where=sa.text(OPEN_WITH_KEY),
    )
    op.create_index("ix_tickets_status_opened_at", "tickets", ["status", "opened_at"])
    op.create_index("ix_tickets_opened_at", "tickets", ["opened_at"])
    op.create_index("ix_tickets_dedup_key_closed_at", "tickets", ["dedup_key", "closed_at"])
    op.create_table(
        "ticket_events",
        sa.Column("ticket_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "seq", name="pk_ticket_events"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"],
            name="fk_ticket_events_ticket_id", ondelete="RESTRICT",
        ),
        sa.CheckConstraint("seq >= 1", name="ck_ticket_events_seq"),
    )


def downgrade() -> None:
    op.drop_table("ticket_events")
    op.drop_index("ix_tickets_dedup_key_closed_at", table_name="tickets")
    op.drop_index("ix_tickets_opened_at", table_name="tickets")
    op.drop_index("ix_tickets_status_opened_at", table_name="tickets")
    op.drop_index("uq_tickets_open_dedup", table_name="tickets")
    op.drop_table("tickets")
