"""Indexes for paged ticket lists: newest first by opening (or closing) time, then id, per
status and per agency, so a page reads its own rows and no others.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

#: name -> columns; the id ends each one, as it breaks ties in the keyset order.
INDEXES = {
    "ix_tickets_opened_at_id": ["opened_at", "id"],
    "ix_tickets_status_opened_at_id": ["status", "opened_at", "id"],
    "ix_tickets_status_closed_at_id": ["status", "closed_at", "id"],
    "ix_tickets_owner_opened_at_id": ["owner", "opened_at", "id"],
    "ix_tickets_owner_status_opened_at_id": ["owner", "status", "opened_at", "id"],
    "ix_tickets_owner_status_closed_at_id": ["owner", "status", "closed_at", "id"],
}


def upgrade() -> None:
    # the id-less ones they replace
    op.drop_index("ix_tickets_status_opened_at", table_name="tickets")
    op.drop_index("ix_tickets_opened_at", table_name="tickets")
    for name, columns in INDEXES.items():
        op.create_index(name, "tickets", columns)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="tickets")
    op.create_index("ix_tickets_opened_at", "tickets", ["opened_at"])
    op.create_index("ix_tickets_status_opened_at", "tickets", ["status", "opened_at"])
